"""Fixtures for the bad-input tests: a spy on model loading and sampling, and files that are wrong in one way each."""
import json
import os
import struct
import zlib

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def spy(monkeypatch):
    """Records whether the model was loaded / the sampler called while a command ran."""
    import jamflow.infer.engine as engine
    from jamflow.model.jam import JAMModel

    calls = {"load": 0, "sample": 0}
    real_load, real_generate = JAMModel.from_pretrained.__func__, engine.generate

    def load(cls, *a, **k):
        calls["load"] += 1
        return real_load(cls, *a, **k)

    def generate(*a, **k):
        calls["sample"] += 1
        return real_generate(*a, **k)

    monkeypatch.setattr(JAMModel, "from_pretrained", classmethod(load))
    monkeypatch.setattr(engine, "generate", generate)
    return calls


def png_header(path, width: int, height: int) -> str:
    """A PNG whose header claims width x height (its pixel data is a few bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return str(path)


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, tiny_ckpt, ref_wav):
    root = tmp_path_factory.mktemp("bad")
    f = {"ref": str(ref_wav[1]), "root": str(root)}

    def ckpt(name, mutate):
        d = root / name
        d.mkdir()
        for n in ("config.json", "model.safetensors"):
            (d / n).write_bytes((tiny_ckpt / n).read_bytes())
        mutate(d)
        f[name] = str(d)

    weights = (tiny_ckpt / "model.safetensors").read_bytes()
    meta = json.loads((tiny_ckpt / "config.json").read_text())
    ckpt("ckpt_trunc", lambda d: (d / "model.safetensors").write_bytes(weights[: len(weights) // 2]))
    ckpt("ckpt_badjson", lambda d: (d / "config.json").write_text("{not json"))
    ckpt("ckpt_extra", lambda d: (d / "config.json").write_text(json.dumps({**meta, "bogus": 1})))
    (root / "latin1.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))
    f["latin1"] = str(root / "latin1.txt")
    (root / "latin1.toml").write_bytes(b"speed = 1.0 # \xff\n")
    f["latin1_toml"] = str(root / "latin1.toml")
    with sf.SoundFile(root / "long.flac", "w", 24000, 1, format="FLAC") as s:
        s.write(np.zeros(24000 * 40, np.float32))  # 40 s: over the 30 s reference limit, a few kB on disk
    f["long"] = str(root / "long.flac")
    (root / "notaudio.wav").write_text("I am text, not sound.\n" * 20)
    f["notaudio"] = str(root / "notaudio.wav")
    mean = np.asarray(meta["motion_stats"]["mean"], np.float32)
    np.save(root / "motion.npy", np.tile(mean, (40, 1)))
    f["motion"] = str(root / "motion.npy")
    np.save(root / "huge.npy", np.full((40, 70), 1e30, np.float32))
    f["huge"] = str(root / "huge.npy")
    (root / "trunc.npy").write_bytes((root / "motion.npy").read_bytes()[:200])
    f["trunc"] = str(root / "trunc.npy")
    f["bomb"] = png_header(root / "bomb.png", 16000, 16000)
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    f["corrupt_mp4"] = str(root / "corrupt.mp4")
    (root / "afile").write_text("x")
    f["afile"] = str(root / "afile")
    for name, output in (("dotdot", "../../escaped"), ("absolute", str(root / "escaped_abs"))):
        (root / f"jobs_{name}.jsonl").write_text(json.dumps({"gen_text": "Hi there.", "output": output}) + "\n")
        f[f"jobs_{name}"] = str(root / f"jobs_{name}.jsonl")
    (root / "jobs_chinese.jsonl").write_text(json.dumps({"gen_text": "\u4f60\u597d\u4e16\u754c\u3002"}) + "\n")
    f["jobs_chinese"] = str(root / "jobs_chinese.jsonl")
    sf.write(root / "silent.wav", np.zeros(24000, np.float32), 24000)
    f["silent"] = str(root / "silent.wav")
    os.chmod(root, 0o755)
    return f
