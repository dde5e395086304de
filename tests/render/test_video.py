import os
import shutil

import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.render.video import probe, read_audio_from_video, read_video, write_mp4

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


def _frames(n, h=48, w=64):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, :, 0] = 40 + 5 * i  # red ramps up over time
        f[: h // 2, :, 2] = 200  # blue top half
        yield f


@needs_ffprobe
def test_mp4_has_right_frame_count_codec_and_audio_length(tmp_path):
    seconds = 1.52  # 38 frames at 25 fps
    t = np.arange(int(24000 * seconds)) / 24000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    path = write_mp4(tmp_path / "a.mp4", _frames(38), fps=25, audio=audio)
    info = probe(path)
    v, a = info["video"], info["audio"]
    assert v["codec_name"] == "h264" and v["pix_fmt"] == "yuv420p" and int(v["nb_read_frames"]) == 38
    assert v["r_frame_rate"] == "25/1"
    assert a["codec_name"] == "aac" and int(a["sample_rate"]) == 24000
    assert float(a["duration"]) == pytest.approx(seconds, abs=0.03)
    back = read_audio_from_video(path)
    assert abs(len(back) - len(audio)) < 24000 * 0.03
    n = min(len(back), len(audio)) - 2000
    corr = np.corrcoef(back[1000:n], audio[1000:n])[0, 1]
    assert corr > 0.95  # the same tone, in time


def test_read_video_streams_frames_and_fps(tmp_path):
    path = write_mp4(tmp_path / "v.mp4", _frames(20), fps=25)
    reader = read_video(path)
    assert reader.fps == 25 and reader.size == (48, 64)
    frames = list(reader)
    assert len(frames) == 20 and frames[0].dtype == np.uint8 and frames[0].shape == (48, 64, 3)
    red = [f[..., 0].mean() for f in frames]
    assert np.all(np.diff(red) > 0) and abs(red[0] - 40) < 6  # order and colour survive coding
    assert frames[5][:24, :, 2].mean() > 150 and frames[5][24:, :, 2].mean() < 60
    with pytest.raises(UserError, match="audio stream"):
        read_audio_from_video(path)


def test_side_by_side_and_odd_sizes(tmp_path):
    left = list(_frames(5, 47, 33))
    right = [np.full((40, 20, 3), 255, np.uint8) for _ in range(5)]
    path = write_mp4(tmp_path / "s.mp4", left, side_by_side=right)
    reader = read_video(path)
    assert reader.size == (48, 54)  # 47 x (33 + 20), padded to even
    frame = next(iter(reader))
    assert frame[:, 40:50].mean() > 200 and frame[:, :30, 2].mean() < 150


def test_failure_leaves_nothing_behind(tmp_path):
    def broken():
        yield from _frames(3)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        write_mp4(tmp_path / "x.mp4", broken(), audio=np.zeros(24000, np.float32))
    assert os.listdir(tmp_path) == []
    with pytest.raises(UserError, match="uint8"):
        write_mp4(tmp_path / "x.mp4", [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(UserError, match="size"):
        write_mp4(tmp_path / "x.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)])
    with pytest.raises(UserError, match="at least one frame"):
        write_mp4(tmp_path / "x.mp4", [])
    with pytest.raises(UserError, match=".mp4"):
        write_mp4(tmp_path / "x.avi", _frames(2))
    assert os.listdir(tmp_path) == []
    with pytest.raises(UserError, match="video"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(UserError, match="readable video"):
        read_video(tmp_path / "junk.mp4")
