"""Property-style fuzz of the file loaders: random truncations, byte flips and insertions of valid files
give either a valid result or a one-line UserError, never another exception. Seeded, 200 mutations."""
import json
import numpy as np
import pytest
import soundfile as sf

from jamflow.errors import UserError
from jamflow.limits import Limits

LIMITS = Limits()


def mutate(data: bytes, rng) -> bytes:
    kind = rng.integers(3)
    if kind == 0 or len(data) < 4:  # truncated (a killed copy, a full disk)
        return data[: int(rng.integers(0, max(1, len(data))))]
    buf = bytearray(data)
    if kind == 1:  # flipped bytes (a bad disk, a bad transfer)
        for _ in range(int(rng.integers(1, 9))):
            buf[int(rng.integers(len(buf)))] = int(rng.integers(256))
        return bytes(buf)
    at = int(rng.integers(len(buf)))  # inserted junk
    return bytes(buf[:at]) + rng.bytes(int(rng.integers(1, 16))) + bytes(buf[at:])


def load_motion_npy(path):
    from jamflow import validate
    from jamflow.motion.io import load_motion

    validate.motion_frames(path, "motion", LIMITS)
    return load_motion(path)


def load_motion_pkl(path):
    from jamflow.motion.io import load_motion

    return load_motion(path)


def load_wav(path):
    from jamflow import validate
    from jamflow.audio.io import load_audio

    validate.audio_file(path, "audio", LIMITS, 30, "max_audio_s")
    return load_audio(path, name="audio")


def load_jobs(path):
    from jamflow.infer.batch import read_jobs

    return read_jobs(path)


def load_toml(path):
    from jamflow.infer.settings import load_config_file, make_settings

    data = load_config_file(path)
    return make_settings(None, **{k: v for k, v in data.items()})


def load_png(path):
    from jamflow import validate

    return validate.image_file(path, "source", LIMITS)


def load_checkpoint(path):
    from jamflow.model.jam import JAMModel

    return JAMModel.from_pretrained(path.parent)


def _cases(root, tiny_ckpt):
    from PIL import Image

    from jamflow.motion.io import save_motion

    rng = np.random.default_rng(0)
    motion = (0.02 * rng.standard_normal((30, 70))).astype(np.float32)
    motion[:, 69] = 1.5
    save_motion(root / "m.npy", motion)
    save_motion(root / "m.pkl", motion)
    sf.write(root / "a.wav", (0.1 * rng.standard_normal(4800)).astype(np.float32), 24000, subtype="FLOAT")
    (root / "jobs.jsonl").write_text("\n".join(json.dumps(j) for j in [
        {"gen_text": "Hello there.", "output": "a", "nfe_step": 4},
        {"task": "tts", "gen_text": "Second job.", "speed": 1.1}]) + "\n")
    (root / "c.toml").write_text('nfe_step = 16\nspeed = 0.9\ncfg_strength = 2.0\node_method = "midpoint"\n')

    Image.new("RGB", (64, 48), (200, 100, 50)).save(root / "p.png")
    return {
        "motion.npy": ((root / "m.npy").read_bytes(), "m.npy", load_motion_npy),
        "motion.pkl": ((root / "m.pkl").read_bytes(), "m.pkl", load_motion_pkl),
        "audio.wav": ((root / "a.wav").read_bytes(), "a.wav", load_wav),
        "jobs.jsonl": ((root / "jobs.jsonl").read_bytes(), "jobs.jsonl", load_jobs),
        "config.toml": ((root / "c.toml").read_bytes(), "c.toml", load_toml),
        "image.png": ((root / "p.png").read_bytes(), "p.png", load_png),
        "config.json": ((tiny_ckpt / "config.json").read_bytes(), "config.json", load_checkpoint),
        "model.safetensors": ((tiny_ckpt / "model.safetensors").read_bytes(), "model.safetensors", load_checkpoint),
    }


MUTATIONS = {"motion.npy": 30, "motion.pkl": 30, "audio.wav": 30, "jobs.jsonl": 25, "config.toml": 25,
             "image.png": 20, "config.json": 25, "model.safetensors": 15}  # 200 in all


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_damaged_files_give_a_clean_error_or_a_valid_result(tmp_path, tiny_ckpt, name):
    import shutil

    cases = _cases(tmp_path, tiny_ckpt)
    valid, filename, loader = cases[name]
    work = tmp_path / "work"
    work.mkdir()
    for other in ("config.json", "model.safetensors"):  # the checkpoint loaders read both files
        shutil.copy(tiny_ckpt / other, work / other)
    rng = np.random.default_rng(list(MUTATIONS).index(name))
    outcomes = {"ok": 0, "error": 0}
    for _ in range(MUTATIONS[name]):
        path = work / filename
        path.write_bytes(mutate(valid, rng))
        try:
            loader(path)
            outcomes["ok"] += 1
        except UserError as e:
            assert "\n" not in str(e).strip() and str(e), repr(e)
            outcomes["error"] += 1
    assert outcomes["error"] > 0  # the mutations did reach the checks
