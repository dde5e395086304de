"""The models inside the package: present, within the size budget, loaded by default, and usable.

Quality is measured by `jamflow eval` (docs/model_card.md), not here; these tests check that a fresh
install can run the README's main job with what the package ships.
"""
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from jamflow.infer import api
from jamflow.timeline import MOTION_FPS

MODEL = api.DEFAULT_MODEL_DIR


@pytest.mark.parametrize("folder", [api.DEFAULT_MODEL_DIR, api.LIPS_MODEL_DIR])
def test_shipped_model_files_are_fp16_safetensors_within_budget(folder):
    weights, config = folder / "model.safetensors", folder / "config.json"
    assert weights.is_file() and config.is_file()
    assert weights.stat().st_size <= 60 * 2 ** 20
    cfg = json.loads(config.read_text())
    assert cfg["config"]["tokenizer"] == "phoneme" and cfg["config"]["motion"] is not None
    assert len(cfg["motion_stats"]["mean"]) == 70
    with safe_open(str(weights), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert "F16" in dtypes and dtypes <= {"F16", "F32"}


def test_the_default_model_generates_the_whole_face_over_the_lips_models_speech_side():
    """The default folder stores its motion stream only; its Audio-DiT and duration predictor are the lips
    model's tensors, and the student the package ships is the lips model's."""
    from jamflow.model.jam import JAMModel
    from jamflow.model.student import dit_fingerprint, read_student

    face, lips = JAMModel.from_pretrained(MODEL), JAMModel.from_pretrained(api.LIPS_MODEL_DIR)
    assert face.cfg.spec.name == "full" and lips.cfg.spec.name == "lips"
    assert len(face.cfg.spec.generate) > 60 and len(lips.cfg.spec.generate) == 18
    stored = json.loads((MODEL / "config.json").read_text())["base"]
    assert (MODEL / stored["folder"]).resolve() == api.LIPS_MODEL_DIR.resolve()
    a, b = face.state_dict(), lips.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b if not k.startswith("motion."))
    assert face.cfg.audio == lips.cfg.audio
    assert read_student(api.DEFAULT_STUDENT_DIR).teacher_fingerprint == dit_fingerprint(lips)


@pytest.fixture(scope="module")
def jam():
    torch.set_num_threads(1)
    return api.JAMFlow.from_pretrained(device="cpu", vocoder="griffinlim")


def test_default_load_is_the_small_preset_in_fp32(jam):
    """The fp16 files load as fp32; only the DiTs' linears take the compute dtype (bf16 where the CPU has it)."""
    n = sum(p.numel() for p in jam.model.parameters())
    assert 25e6 < n < 31e6  # small: 27.9 M + the duration predictor's 0.8 M
    dtypes = {name: p.dtype for name, p in jam.model.named_parameters()}
    assert all(d == torch.float32 for name, d in dtypes.items() if name.startswith("duration_predictor."))
    assert set(dtypes.values()) <= {torch.float32, jam.dtype}


def test_shipped_model_lays_text_out_by_its_duration_predictor(jam):
    predictor = jam.model.duration_predictor
    assert predictor is not None and jam.model.cfg.audio.text_durations is not None
    ids = jam.tokenizer.encode("The cat sat on the mat.")
    frames = predictor.frames(ids)
    assert frames.shape == (len(ids),) and 20 < frames.sum() < 150  # ~1.2 s of speech at 93.75 frames/s


@pytest.mark.parametrize("voice", ["slt", "librivox"])
def test_shipped_phone_aligner_finds_the_speech_in_the_shipped_examples(jam, voice):
    """animate lays its transcript out where the audio speaks it: the aligner's silences fall where the
    example is quiet, a festival voice the model knows and a real reader it never heard alike."""
    from jamflow.audio.io import load_audio
    from jamflow.audio.mel import mel_spectrogram

    example = next(v for v in json.loads((api.ASSETS_DIR / "examples" / "examples.json").read_text())["voices"]
                   if v["name"] == voice)
    wav = load_audio(str(api.ASSETS_DIR / "examples" / example["audio"]))
    mel = mel_spectrogram(torch.as_tensor(wav)[None])[0].T.numpy()  # [n, 100]
    d = jam.model.phone_aligner.align(jam.tokenizer.encode(example["text"]), mel)
    assert d is not None and d.sum() == len(mel)
    loudness = mel.mean(1)
    speech = loudness[d[0]: len(mel) - d[-1]]
    for silence in (loudness[: d[0]], loudness[len(mel) - d[-1]:]):
        assert len(silence) == 0 or silence.mean() < speech.mean() - 1.0  # quieter than the speech by > 4 dB
    assert (len(mel) - d[0] - d[-1]) / len(mel) > 0.8


def test_shipped_model_talks(jam):
    res = jam.talk("Hi there.", nfe_step=2, seed=0)
    assert res.wav.ndim == 1 and np.isfinite(res.wav).all() and 0.3 < res.duration < 4
    assert res.motion.shape[1] == 70 and np.isfinite(res.motion).all()
    assert abs(len(res.motion) / MOTION_FPS - res.duration) < 0.1
    assert np.abs(res.wav).max() > 1e-3  # not silence


def test_shipped_model_moves_the_head_with_no_reference_motion(jam):
    """Generated, not face life's: with face life off the lips model would hold the head still."""
    res = jam.talk("Well, hello there, my friend.", nfe_step=4, seed=0, face_life=0)
    pitch_yaw_roll = res.motion[:, 63:66]  # degrees
    assert pitch_yaw_roll.std(0).max() > 0.2


def test_package_assets_stay_within_100_mb():
    assets = MODEL.parent
    total = sum(f.stat().st_size for f in assets.rglob("*") if f.is_file())
    assert total <= 100 * 10 ** 6, total / 1e6


def test_shipped_student_fits_the_shipped_model_and_samples_in_four_calls():
    from jamflow.model.student import read_student

    spec = read_student(api.DEFAULT_STUDENT_DIR)
    assert spec.steps == 4 and spec.cfg_strength == 2.0
    assert (api.DEFAULT_STUDENT_DIR / "adapter.safetensors").stat().st_size <= 8 * 2 ** 20
    fast = api.JAMFlow.from_pretrained(device="cpu", vocoder="griffinlim", student="shipped", progress=False)
    calls = []
    hook = fast.model.register_forward_hook(lambda mod, args, kwargs, out: calls.append(kwargs["audio_x"].shape[0]),
                                            with_kwargs=True)
    res = fast.talk("Hi there.", seed=0)
    hook.remove()
    assert calls == [1] * 4
    assert np.isfinite(res.wav).all() and np.abs(res.wav).max() > 1e-3 and res.motion.shape[1] == 70


def striped_frames(mel: torch.Tensor) -> int:
    """Frames whose upper bands alternate from bin to bin: the stationary buzz of text positions the
    model never trained on (natural speech is smooth across the upper mel bands)."""
    upper = mel[0, 50:].float().numpy()
    return int((np.abs(np.diff(upper, n=2, axis=0)).mean(0) > 2.0).sum())


def test_long_text_stays_speech_past_the_trained_text_positions():
    """One call over ~290 tokens: the shipped model trained on <= 77, and without its position window
    tokens ~166-172 of this text became a buzz (at seeds 0, 1 and 2, in fp32 with AVX2 or AVX-512)."""
    from jamflow.eval.bench_stream import reference, text_of
    from jamflow.infer.settings import make_settings

    fast = api.JAMFlow.from_pretrained(device="cpu", dtype="fp32", vocoder="griffinlim", student="shipped",
                                       progress=False)
    assert fast.model.cfg.audio.text_pos_window == 77
    mels = []
    decode = fast.engine.vocoder.decode
    fast.engine.vocoder.decode = lambda mel: (mels.append(mel), decode(mel))[1]
    path, text, seconds = reference("librivox")
    settings = make_settings(seed=0, max_chunk_s=30, first_chunk_s=0)
    for window in (77, 0):
        fast.model.audio.text_embed.pos_window = window
        fast.tts(text_of(15, len(text) / seconds), str(path), text, settings=settings)
    windowed, unwindowed = (striped_frames(m) for m in mels)
    assert windowed == 0 and unwindowed > 20, (windowed, unwindowed)
