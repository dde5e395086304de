"""The golden cases: every task on a fixed seed, on the tiny test model and on the shipped model, plus
one training step of the tiny model. `record.py` stores their outputs; `test_golden.py` replays them.

A case returns {name: array}. The tiny model is the one of tests/conftest.py (jamflow.testing), so
the cases run outside pytest too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jamflow.testing import save_tiny_checkpoint, tiny_model, voiced_clip

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "jamflow" / "assets" / "examples"
SAMPLING = dict(nfe_step=4, seed=11)
LONG_TEXT = ("The first sentence is here. A second one follows it. Then a third sentence, a little longer than "
             "the others. And the fourth one closes the text.")


def load_tiny(folder: Path):
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    save_tiny_checkpoint(folder)
    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    return JAMFlow.from_pretrained(folder, device="cpu", dtype="float32", vocoder=voc, progress=False)


def load_shipped():
    from jamflow.infer.api import JAMFlow

    return JAMFlow.from_pretrained(None, device="cpu", dtype="float32", vocoder="griffinlim", progress=False)


def _out(res, wav: bool = True, motion: bool = True) -> dict:
    """The generated arrays of a Result (a modality the task was given back unchanged is left out)."""
    out = {}
    if wav and res.wav is not None:
        out["wav"] = np.asarray(res.wav, np.float32)
    if motion and res.motion is not None:
        out["motion"] = np.asarray(res.motion, np.float32)
    return out


def digest(results: dict) -> dict:
    """Flat {case/name: array} to store: motion and losses whole; a waveform as the SHA-256 of its bytes
    (exact check) and per-10 ms mean / std / peak (tolerance check), 1/80 of its size."""
    import hashlib

    flat = {}
    for case, arrays in results.items():
        for key, value in arrays.items():
            if key != "wav":
                flat[f"{case}/{key}"] = value
                continue
            sha = hashlib.sha256(np.ascontiguousarray(value).tobytes()).digest()
            flat[f"{case}/wav_sha256"] = np.frombuffer(sha, np.uint8)
            frames = value[: len(value) // 240 * 240].reshape(-1, 240)
            flat[f"{case}/wav_summary"] = np.stack([frames.mean(1), frames.std(1), np.abs(frames).max(1)], 1)
    return flat


def task_cases(jam, ref_wav: np.ndarray, ref_text: str, sentence: str) -> dict:
    """{case: {array name: array}} for tts, talk, animate, dub, edit and a long text on `jam`."""
    cases = {
        "tts": _out(jam.tts(sentence, ref_wav, ref_text, **SAMPLING)),
        "tts_no_reference": _out(jam.tts(sentence, **SAMPLING)),
        "talk": _out(jam.talk(sentence, ref_wav, ref_text, **SAMPLING)),
        "long_text": _out(jam.tts(LONG_TEXT, ref_wav, ref_text, max_chunk_s=3.0, **SAMPLING)),
        "animate": _out(jam.animate(ref_wav, **SAMPLING), wav=False),
        "animate_transcript": _out(jam.animate(ref_wav, text=ref_text, **SAMPLING), wav=False),
        "animate_windows": _out(jam.animate(np.tile(ref_wav, 3), window_s=2.0, window_overlap_s=0.4, **SAMPLING),
                                wav=False),
    }
    motion = cases["talk"]["motion"]
    cases["dub"] = _out(jam.dub(sentence, motion, ref_wav, ref_text, **SAMPLING), motion=False)
    cases["edit"] = _out(jam.edit(ref_text + " And more.", ref_wav, audio_spans=[(0.4, 0.8)], extend_s=0.8,
                                  **SAMPLING))
    return cases


def tiny_train_step() -> dict:
    """Loss and per-tensor gradient sums of one cfm_loss backward on a fixed batch of the tiny model."""
    from jamflow.model.cfm import MaskConfig, cfm_loss

    model = tiny_model().train()
    cfg = model.cfg
    g = torch.Generator().manual_seed(5)
    b, n, m = 2, 40, 11
    batch = dict(mel=torch.randn(b, n, 100, generator=g), mel_lens=torch.tensor([n, n - 8]),
                 text=torch.randint(0, 60, (b, 12), generator=g),
                 motion=torch.randn(b, m, cfg.motion_gen_dim, generator=g),
                 motion_context=torch.randn(b, m, cfg.motion_context_dim, generator=g),
                 motion_lens=torch.tensor([m, m - 2]))
    torch.manual_seed(0)  # dropout
    out = cfm_loss(model, batch, MaskConfig(), torch.Generator().manual_seed(3))
    out["loss"].backward()
    grads = [p.grad.double().sum().item() if p.grad is not None else 0.0 for p in model.parameters()]
    return {"train_step": {"loss": np.array([out["loss"].item(), out["loss_audio"].item(),
                                             out["loss_motion"].item()], np.float64),
                           "grad_sums": np.array(grads, np.float64)}}


def tiny_cases(folder: Path) -> dict:
    jam = load_tiny(folder)
    cases = task_cases(jam, voiced_clip(), "A reference sentence.", "The quick brown fox jumps.")
    cases.update(tiny_train_step())
    return cases


def shipped_cases() -> dict:
    import json

    import soundfile as sf

    voice = json.loads((EXAMPLES / "examples.json").read_text())["voices"][0]
    wav, _ = sf.read(EXAMPLES / voice["audio"], dtype="float32")
    return task_cases(load_shipped(), wav, voice["text"], "Please close the window before you leave.")
