"""Inference with a model that lays its text out by durations: the sampler gets a text index built
from the model's mean-duration table, part by part (reference, then the new text)."""
import numpy as np
import pytest
import torch

from jamflow.config import get_preset
from jamflow.infer.tasks import encode_with_durations, make_job
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
    job = make_job("A reference. Then new words.", 100, prompt=("A reference.", 40))
    text, index = encode_with_durations(tok, [job], job.mel_len, duration_jam.model.cfg.audio.text_durations)
    n_ref = len(tok.encode("A reference."))
    assert text.shape[1] == n_ref + len(tok.encode("Then new words."))
    ref_frames = 150  # mel frames of 40 motion frames
    in_ref, after = index[0, :ref_frames], index[0, ref_frames:]
    assert in_ref.max() == n_ref - 1 and in_ref[0] == -1  # the reference starts after a lead silence
    assert after[0] == n_ref and after.max() == text.shape[1] - 1  # the new text speaks at once
    with pytest.raises(ValueError):
        make_job("Other words entirely.", 100, prompt=("A reference.", 40))


def test_tasks_run_and_the_sampler_sees_the_index(duration_jam, ref_wav, monkeypatch):
    import jamflow.model.sampler as sampler

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
