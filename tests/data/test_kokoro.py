"""Kokoro's English voices for the corpus: names, blends, style vectors, the model check, the installer,
and (where the corpus extra is installed) real speech with phone timings."""
import io
import shutil
import tarfile

import numpy as np
import pytest

from jamflow.data import kokoro
from jamflow.data.speech_engines import Voice
from jamflow.errors import UserError

ROWS, DIM = kokoro.STYLE_ROWS, kokoro.STYLE_DIM


def _fake_voices(root, names, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        out[name] = rng.standard_normal((ROWS, DIM)).astype("<f4")
        out[name].tofile(root / f"{name}.bin")
    return out


def test_blends_are_a_fixed_list_of_training_voices():
    names = kokoro.blends()
    assert names == kokoro.blends() and len(set(names)) == len(names) == kokoro.NUM_BLENDS
    for name in names:
        parts = kokoro.parse_voice(name)
        assert len(parts) == 2 and parts[0][0] != parts[1][0]
        assert abs(sum(w for _, w in parts) - 1) < 1e-9 and all(0.25 <= w <= 0.75 for _, w in parts)
        assert not {v for v, _ in parts} & set(kokoro.HELDOUT)
    assert kokoro.parse_voice("am_adam") == [("am_adam", 1.0)]
    for bad in ("am_nobody", "af_bella+am_adam@1.5", "af_bella+am_adam", "af_bella+xx_yy@0.3"):
        with pytest.raises(UserError, match="voice"):
            kokoro.parse_voice(bad)


def test_style_is_the_row_for_the_length_mixed_by_weight(tmp_path):
    vecs = _fake_voices(tmp_path, ["af_bella", "am_adam"])
    np.testing.assert_array_equal(kokoro.style("af_bella", 7, tmp_path), vecs["af_bella"][7][None])
    mixed = kokoro.style("af_bella+am_adam@0.30", 12, tmp_path)
    assert mixed.shape == (1, DIM) and mixed.dtype == np.float32
    np.testing.assert_allclose(mixed[0], 0.7 * vecs["af_bella"][12] + 0.3 * vecs["am_adam"][12], rtol=1e-6)
    np.testing.assert_array_equal(kokoro.style("am_adam", 10_000, tmp_path), vecs["am_adam"][ROWS - 1][None])
    with pytest.raises(UserError, match="install-voices"):
        kokoro.style("bf_emma", 5, tmp_path)
    (tmp_path / "bf_emma.bin").write_bytes(b"\0" * 16)
    with pytest.raises(UserError, match="float32 values"):
        kokoro.style("bf_emma", 5, tmp_path)


def test_the_joined_model_must_be_kokoros_own(tmp_path):
    parts = []
    for i in range(4):
        parts.append(tmp_path / f"part{i}.bin")
        parts[-1].write_bytes(bytes([i]) * 10)
    with pytest.raises(UserError, match="sha256"):
        kokoro.model_bytes(parts)


def _archive(tmp_path, names, size=ROWS * DIM * 4):
    path = tmp_path / "kokoro-0.9.4.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            data = bytes([i % 251]) * size
            info = tarfile.TarInfo(f"kokoro-0.9.4/kokoro.js/voices/{name}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_install_voices_unpacks_the_english_ones(tmp_path):
    archive = _archive(tmp_path, [*kokoro.VOICES, "jf_alpha"])
    dest = kokoro.install_voices(tmp_path / "voices", archive)
    assert sorted(p.stem for p in dest.iterdir()) == sorted(kokoro.VOICES)
    assert (dest / "am_adam.bin").read_bytes() == bytes([kokoro.VOICES.index("am_adam")]) * (ROWS * DIM * 4)
    with pytest.raises(UserError, match="missing af_alloy"):
        kokoro.install_voices(tmp_path / "v2", _archive(tmp_path, kokoro.VOICES[1:]))
    with pytest.raises(UserError, match="bytes"):
        kokoro.install_voices(tmp_path / "v3", _archive(tmp_path, kokoro.VOICES, size=100))
    assert not (tmp_path / "v3").exists() or not any((tmp_path / "v3").iterdir())


@pytest.mark.skipif(not kokoro.available(), reason="Kokoro's model wheels or voices not installed")
def test_kokoro_speaks_each_voice_and_blend_deterministically():
    a = kokoro.kokoro_speech("The cat sat on the mat.", "am_adam")
    assert a.dtype == np.float32 and 1.0 < len(a) / 24000 < 3.5 and np.abs(a).max() > 0.05
    np.testing.assert_array_equal(a, kokoro.kokoro_speech("The cat sat on the mat.", "am_adam"))
    slow = kokoro.kokoro_speech("The cat sat on the mat.", "am_adam", speed=0.8)
    assert len(slow) > 1.15 * len(a)
    b = kokoro.kokoro_speech("The cat sat on the mat.", "af_bella")
    mix = kokoro.kokoro_speech("The cat sat on the mat.", "am_adam+af_bella@0.50")
    assert not np.array_equal(mix[:len(a)], a[:len(mix)]) and not np.array_equal(mix[:len(b)], b[:len(mix)])


@pytest.mark.skipif(not kokoro.available() or shutil.which("festival") is None,
                    reason="Kokoro or festival not installed")
def test_batch_times_the_phones_on_kokoro_audio():
    out = kokoro.kokoro_batch([("Two blue fish swam in the tank.", Voice("kokoro", "bf_emma", rate=1.1))])
    phones, wav = out[0].phones, out[0].wav
    assert phones[0][1] == 0.0 and abs(phones[-1][2] - len(wav) / 24000) < 1e-4
    spoken = [p for p in phones if p[0] != "sil"]
    assert len(spoken) >= 12
    inside = np.concatenate([wav[int(s * 24000):int(e * 24000)] for _, s, e in spoken])
    assert np.sqrt(np.mean(inside ** 2)) > 2 * np.sqrt(np.mean(wav[:int(phones[0][2] * 24000)] ** 2) + 1e-12)
    with pytest.raises(UserError, match="kokoro"):
        kokoro.kokoro_batch([("Hi.", Voice("festival", "slt_hts"))])
