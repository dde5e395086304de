"""Inference with a model that lays its text out by durations: the sampler gets a text index built
from the model's mean-duration table, part by part (reference, then the new text)."""
import numpy as np
import pytest
import torch

from jamflow.config import get_preset
from jamflow.infer.jobs import build
from jamflow.infer.layout import encode_with_durations
from jamflow.model.jam import JAMModel


@pytest.fixture(scope="module")
def duration_jam(tmp_path_factory):
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    table = {"frames_per_token": list(np.linspace(2, 8, 256)), "lead_frames": 10.0, "trail_frames": 12.0}
    torch.manual_seed(0)
    model = JAMModel(get_preset("tiny", audio=dict(text_num_embeds=256, text_durations=table)))
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0 and p.dim() >= 1:
                p.normal_(0, 0.02)
    folder = tmp_path_factory.mktemp("ckpt") / "durations"
    model.save_pretrained(folder, motion_stats={"mean": [0.0] * 69 + [1.5], "std": [0.02] * 70})
    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    return JAMFlow.from_pretrained(folder, device="cpu", vocoder=voc, progress=False)


def test_prompt_and_new_text_each_get_their_own_frames(duration_jam):
    tok = duration_jam.tokenizer
    job = build("A reference. Then new words.", 100, prompt=("A reference.", 40))
    text, index = encode_with_durations(duration_jam.model, tok, [job], job.mel_len, duration_jam.model.cfg.audio.text_durations)
    n_ref = len(tok.encode("A reference."))
    assert text.shape[1] == n_ref + len(tok.encode("Then new words."))
    ref_frames = 150  # mel frames of 40 motion frames
    in_ref, after = index[0, :ref_frames], index[0, ref_frames:]
    assert in_ref.max() == n_ref - 1 and in_ref[0] == -1  # the reference starts after a lead silence
    assert after[0] == n_ref and after.max() == text.shape[1] - 1  # the new text speaks at once
    with pytest.raises(ValueError):
        build("Other words entirely.", 100, prompt=("A reference.", 40))


def test_tasks_run_and_the_sampler_sees_the_index(duration_jam, ref_wav, monkeypatch):
    import jamflow.infer.sampling as sampler

    seen = []
    original = sampler.sample

    def spy(*args, **kw):
        seen.append(kw.get("text_index"))
        return original(*args, **kw)

    monkeypatch.setattr(sampler, "sample", spy)
    wav, path = ref_wav
    out = duration_jam.talk("Hello there, friend.", path, "A reference sentence.", nfe_step=2, seed=1)
    assert out.motion is not None and len(out.wav) > 0
    duration_jam.tts("Just speech.", nfe_step=2, seed=1)
    assert len(seen) == 2 and all(s is not None and s.dim() == 2 for s in seen)
    assert (seen[1][0] >= 0).sum() > 0


def test_a_duration_predictor_lays_each_part_out_in_the_voice_of_the_known_audio(duration_jam, monkeypatch):
    from jamflow.config import DurationConfig
    from jamflow.model.duration_predictor import DurationPredictor

    tok = duration_jam.tokenizer
    predictor = DurationPredictor(DurationConfig(dim=8, conv_layers=1), 256)
    calls = []

    def frames(ids, voice=None):  # the new text's third token is long, every other one short
        calls.append((list(ids), voice))
        out = np.ones(len(ids))
        if len(ids) > 10:
            out[2] = 30.0
        return out

    monkeypatch.setattr(predictor, "frames", frames)
    monkeypatch.setattr(duration_jam.model, "duration_predictor", predictor)
    ref_mel = torch.randn(150, 100)
    job = build("A reference. Then new words.", 100, mel=ref_mel, audio_known=torch.ones(150, dtype=torch.bool),
                   prompt=("A reference.", 40))
    table = duration_jam.model.cfg.audio.text_durations
    text, index = encode_with_durations(duration_jam.model, tok, [job], job.mel_len, table)
    n_ref = len(tok.encode("A reference."))
    assert [c[0] for c in calls] == [tok.encode("A reference."), tok.encode("Then new words.")]
    assert all(c[1] is not None and c[1].shape == (200,) for c in calls)  # the prompt's voice
    new = index[0, 150:]
    counts = torch.bincount(new[new >= 0] - n_ref, minlength=text.shape[1] - n_ref)
    assert counts[2] == counts.max() and counts[2] > 5 * counts[0]
    # without known audio there is no voice; without a predictor the table decides
    calls.clear()
    bare = build("Then new words.", 60)
    encode_with_durations(duration_jam.model, tok, [bare], bare.mel_len, table)
    assert calls and calls[0][1] is None
    monkeypatch.setattr(duration_jam.model, "duration_predictor", None)
    _, plain = encode_with_durations(duration_jam.model, tok, [job], job.mel_len, table)
    assert not torch.equal(plain, index)


class _PlantedAligner:
    """A phone aligner that 'hears' a fixed plan: each token 3 frames, the rest split into silences."""

    def __init__(self):
        self.calls = []

    def align(self, ids, mel):
        self.calls.append((list(ids), len(mel)))
        d = np.full(len(ids) + 2, 3, dtype=np.int64)
        d[0] = 5
        d[-1] = len(mel) - d[:-1].sum()
        return d if d[-1] >= 0 else None


def test_aligned_durations_skip_a_windows_zero_padding(duration_jam, monkeypatch):
    aligner = _PlantedAligner()
    monkeypatch.setattr(duration_jam.model, "phone_aligner", aligner)
    mel = torch.randn(150, 100)
    mel[120:] = np.log(1e-5)  # the zero samples that pad the last window
    from jamflow.infer.layout import aligned_durations

    d = aligned_durations(duration_jam.model, [40, 41, 42], mel)
    assert aligner.calls == [([40, 41, 42], 120)]
    assert d.sum() == 150 and d[-1] == 120 - 5 - 9 + 30
    monkeypatch.setattr(duration_jam.model, "phone_aligner", None)
    assert aligned_durations(duration_jam.model, [40, 41, 42], mel) is None


def test_animate_lays_its_transcript_out_where_the_aligner_hears_it_or_uses_the_audio_alone(
        duration_jam, ref_wav, monkeypatch):
    """A voice prompt keeps the predicted layout; animate's transcript takes the aligner's, and where
    the aligner cannot place it the window is animated from the audio alone, not from a guessed layout."""
    import jamflow.infer.engine as engine_module
    from jamflow.model.durations import index_from_durations

    tok, table = duration_jam.tokenizer, duration_jam.model.cfg.audio.text_durations
    aligner = _PlantedAligner()
    monkeypatch.setattr(duration_jam.model, "phone_aligner", aligner)
    prompt = build("A reference. Then new words.", 100, mel=torch.randn(150, 100),
                   audio_known=torch.ones(150, dtype=torch.bool), prompt=("A reference.", 40))
    encode_with_durations(duration_jam.model, tok, [prompt], prompt.mel_len, table)
    assert aligner.calls == []

    jobs = []
    original = engine_module.Engine.sample

    def spy(self, batch, *args, **kw):
        jobs.extend(batch)
        return original(self, batch, *args, **kw)

    monkeypatch.setattr(engine_module.Engine, "sample", spy)
    wav, _ = ref_wav
    duration_jam.animate(wav, text="Then new words.", nfe_step=2, seed=1)
    (job,), ids = jobs, tok.encode("Then new words.")
    assert job.text == "Then new words." and aligner.calls and aligner.calls[-1][0] == ids
    _, index = encode_with_durations(duration_jam.model, tok, [job], job.mel_len, table)
    assert torch.equal(index[0], index_from_durations(job.last_durations, job.mel_len))
    assert job.last_durations[0] == 5 and (job.last_durations[1:-1] == 3).all()
    jobs.clear()
    duration_jam.animate(wav, text=" ".join(["many more words"] * 40), nfe_step=2, seed=1)
    assert jobs[0].text == "" and jobs[0].last_durations is None  # too many phones for the audio
