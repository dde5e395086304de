import shutil

import numpy as np
import pytest
import soundfile as sf

from jamflow.cli import main
from jamflow.motion.io import load_motion, save_motion
from jamflow.render.video import read_video


def _motion(frames):
    m = np.zeros((frames, 70), np.float32)
    m[:, 69] = 1.3
    m[:, 3 * 20 + 1] = 0.03 * (1 + np.sin(np.arange(frames) / 3))  # lower lip goes up and down
    return m


def test_render_with_audio_and_side_by_side(tmp_path, capsys):
    save_motion(tmp_path / "a.npy", _motion(25))
    save_motion(tmp_path / "b.pkl", _motion(25) * 1.01)
    sf.write(tmp_path / "a.wav", np.zeros(24000, np.float32), 24000)
    assert main(["render", "--motion", str(tmp_path / "a.npy"), "--audio", str(tmp_path / "a.wav"),
                 "--out", str(tmp_path / "a.mp4"), "--size", "64", "--compare", str(tmp_path / "b.pkl")]) == 0
    reader = read_video(tmp_path / "a.mp4")
    assert reader.size == (64, 128) and len(list(reader)) == 25
    if shutil.which("ffprobe"):
        from jamflow.render.video import probe

        assert float(probe(tmp_path / "a.mp4")["audio"]["duration"]) == pytest.approx(1.0, abs=0.03)


def test_render_converts_and_writes_pngs(tmp_path):
    save_motion(tmp_path / "a.npy", _motion(10))
    assert main(["render", "--motion", str(tmp_path / "a.npy"), "--out", str(tmp_path / "a.pkl")]) == 0
    assert np.allclose(load_motion(tmp_path / "a.pkl")[0], _motion(10), atol=1e-6)
    assert main(["render", "--motion", str(tmp_path / "a.pkl"), "--out", str(tmp_path / "png"), "--png",
                 "--every", "3", "--size", "64"]) == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["00000.png", "00003.png", "00006.png", "00009.png"]


def test_render_writes_a_contact_sheet(tmp_path):
    from PIL import Image

    from jamflow.render.base import get_renderer

    motion = _motion(23)
    save_motion(tmp_path / "a.npy", motion)
    assert main(["render", "--motion", str(tmp_path / "a.npy"), "--out", str(tmp_path / "s.png"),
                 "--every", "2", "--size", "48"]) == 0
    sheet = np.asarray(Image.open(tmp_path / "s.png").convert("RGB"))
    assert sheet.shape == (2 * 48, 10 * 48, 3)  # frames 0, 2, ..., 22: 12 tiles, 10 to a row
    frames = list(get_renderer("avatar", size=48).frames(motion))
    tile = sheet[48:96, 48:96]  # the 12th tile: frame 22
    below_label = slice(14, 48)  # the time label is drawn in the top rows
    assert np.array_equal(tile[below_label], frames[22][below_label])
    assert not np.array_equal(tile[:14], frames[22][:14])  # "0.88 s" written on it
    assert np.all(sheet[48:, 2 * 48:] == 255)  # the rest of the last row is blank


def test_render_errors_are_one_line(tmp_path, capsys):
    assert main(["render", "--motion", str(tmp_path / "none.npy"), "--out", str(tmp_path / "x.mp4")]) == 2
    save_motion(tmp_path / "a.npy", _motion(3))
    assert main(["render", "--motion", str(tmp_path / "a.npy"), "--out", str(tmp_path / "x.gif")]) == 2
    assert main(["render", "--motion", str(tmp_path / "a.npy"), "--out", str(tmp_path / "x.mp4"),
                 "--audio", str(tmp_path / "none.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "--audio" in err
    assert not (tmp_path / "x.mp4").exists()
