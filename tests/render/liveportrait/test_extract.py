import os
import pickle
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from jamflow.cli import main
from jamflow.errors import UserError
from jamflow.motion.io import load_motion
from jamflow.render.liveportrait.extract import exact_fps, extract_video, output_length, resample, write_outputs

from lp_helpers import SkinDetector, draw_face, tiny_nets, write_checkpoints, write_video

SPEED = 60.0  # px per second the synthetic face moves right


def test_exact_fps():
    assert exact_fps(29.97) == Fraction(30000, 1001)
    assert exact_fps(23.976) == Fraction(24000, 1001)
    assert exact_fps(59.94) == Fraction(60000, 1001)
    assert exact_fps(30.0) == 30 and exact_fps(25.0) == 25 and exact_fps(12.5) == Fraction(25, 2)


def test_resample_has_no_drift():
    fps = Fraction(30000, 1001)
    n = 30 * 60 * 30  # half an hour at 29.97
    out = resample(np.arange(n, dtype=np.float64)[:, None], fps)
    assert len(out) == output_length(n, fps) == round(n * 25 * 1001 / 30000)
    k = np.arange(len(out))
    # output frame k is taken at input position k * 29.97 / 25, exactly, to the end
    np.testing.assert_allclose(out[:, 0], np.minimum(k * 30000 / 1001 / 25, n - 1), atol=1e-6)


def _moving_face_video(path, n, fps, audio=True):
    rate = float(Fraction(fps))
    frames = [draw_face(160, 224, 70 + SPEED * i / rate, 80, 32, mouth=(i % 5) / 5) for i in range(n)]
    write_video(path, frames, fps, audio_seconds=n / rate + 0.2 if audio else None)


@pytest.mark.parametrize("fps,n,expected", [("30", 36, 30), ("30000/1001", 48, 40)])
def test_extraction_end_to_end(tmp_path, fps, n, expected):
    video = tmp_path / "clip.mp4"
    _moving_face_video(video, n, fps)
    ex = extract_video(str(video), tiny_nets(), SkinDetector(), batch_size=4)
    assert ex.frames_in == n and ex.fps_in == Fraction(fps)
    assert ex.motion.shape == (expected, 70) and ex.motion.dtype == np.float32
    assert ex.kp.shape == (expected, 21, 3)
    assert np.isfinite(ex.motion).all()
    # the tracked face centre at output frame k is where the face was at time k / 25 s
    t = np.arange(expected) / 25
    np.testing.assert_allclose(ex.crop_params[2:-2, 0], 70 + SPEED * t[2:-2], atol=1.5)

    from jamflow.render.liveportrait.extract import video_audio
    paths = write_outputs(tmp_path / "out", "clip", ex, video_audio(str(video)))
    assert np.array_equal(np.load(paths["motion"]), ex.motion)
    wav, sr = sf.read(paths["audio"])
    assert sr == 24000 and len(wav) == expected * 960 and np.abs(wav).max() > 0.05
    with open(paths["template"], "rb") as f:
        tpl = pickle.load(f)
    assert tpl["n_frames"] == expected and tpl["output_fps"] == 25 and len(tpl["motion"]) == expected
    f0 = tpl["motion"][0]
    assert {k: v.shape for k, v in f0.items() if k in ("scale", "R", "exp", "t", "kp", "x_s")} == {
        "scale": (1, 1), "R": (1, 3, 3), "exp": (1, 21, 3), "t": (1, 3), "kp": (1, 21, 3), "x_s": (1, 21, 3)}
    np.testing.assert_allclose(f0["R"][0] @ f0["R"][0].T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(f0["kp"][0], ex.kp.mean(0), atol=1e-6)
    motion, fps_back = load_motion(paths["template"])
    np.testing.assert_allclose(motion, ex.motion, atol=1e-3)
    assert open(paths["preview"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_no_face_fails_clearly(tmp_path):
    video = tmp_path / "empty.mp4"
    write_video(video, [np.full((64, 64, 3), 90, np.uint8)] * 8, "25")
    with pytest.raises(UserError, match="trackable face"):
        extract_video(str(video), tiny_nets(), SkinDetector())


def test_cli_with_official_layout_weights(tmp_path, capsys):
    """Full-size M from a random checkpoint, the real (Haar) detector on a photo moved around."""
    cv2 = pytest.importorskip("cv2", reason="opencv-python-headless provides the Haar face detector")
    mpl = pytest.importorskip("matplotlib", reason="the test photo ships with matplotlib")
    img = cv2.cvtColor(cv2.imread(os.path.join(os.path.dirname(mpl.__file__), "mpl-data", "sample_data",
                                               "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)[:512, :512]
    frames = [np.roll(img, 2 * i, axis=1) for i in range(6)]
    video = tmp_path / "hopper.mp4"
    write_video(video, frames, "30000/1001", audio_seconds=0.3)
    weights = tmp_path / "pretrained_weights"
    write_checkpoints(weights, nets="M")
    out = tmp_path / "out"
    assert main(["extract-motion", str(video), "--weights", str(weights), "--out", str(out), "--device", "cpu"]) == 0
    motion = np.load(out / "hopper.npy")
    assert motion.shape == (5, 70)  # 6 frames at 29.97 fps = 0.2002 s = 5 frames at 25 fps
    assert (out / "hopper.wav").exists() and (out / "hopper.pkl").exists()
    # bad inputs: missing weights, missing video
    assert main(["extract-motion", str(video), "--weights", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert main(["extract-motion", str(tmp_path / "nope.mp4"), "--weights", str(weights)]) == 2
    assert "expected" in capsys.readouterr().err
