import os

import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.render.liveportrait.crop import (CropConfig, crop_face, crop_matrix, crop_params, detect_crop_params,
                                              face_from_box, feather_mask, paste_back, smooth_params, warp_affine)

from lp_helpers import SkinDetector, draw_face


def test_crop_geometry_follows_liveportrait():
    face = face_from_box(100, 50, 200, 150)  # 100 px box, no roll
    p = crop_params(face, CropConfig(scale=2.0, vy_ratio=-0.1))
    # side = extent (100) * scale; centre = box centre moved up by 0.1 * side
    assert p[2] == pytest.approx(200)
    assert p[:2] == pytest.approx([150, 100 - 20])
    assert p[3] == pytest.approx(0)
    m = crop_matrix(p, 512)
    # the crop centre maps to the middle of the crop, the side spans it
    assert (m @ [150, 80, 1])[:2] == pytest.approx([256, 256])
    assert (m @ [250, 80, 1])[0] == pytest.approx(512)


def test_rolled_face_gives_rolled_crop():
    face = face_from_box(100, 50, 200, 150)
    c = np.array([150.0, 100.0])
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])  # rotate the whole face by +90 degrees about its centre
    face.points = (face.points - c) @ rot.T + c
    face.eyes = (face.eyes - c) @ rot.T + c
    face.mouth = (face.mouth - c) @ rot.T + c
    p = crop_params(face, CropConfig(scale=2.0, vy_ratio=0.0))
    assert abs(abs(p[3]) - np.pi / 2) < 1e-6
    # eye centre -> mouth direction becomes "down" in the crop
    m = crop_matrix(p, 512)
    eye, mouth = (m @ [*face.eyes.mean(0), 1])[:2], (m @ [*face.mouth, 1])[:2]
    assert mouth[1] > eye[1] and abs(mouth[0] - eye[0]) < 1e-6


def test_warp_integer_shift_is_exact():
    img = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    m = np.array([[1.0, 0, -7], [0, 1, -3], [0, 0, 1]])
    out = warp_affine(img, m, (20, 10))
    assert np.array_equal(out, img[3:13, 7:27])


def test_crop_then_paste_back_is_identity():
    yy, xx = np.mgrid[0:300, 0:400]
    img = np.stack([xx * 0.5, yy * 0.7, (xx + yy) * 0.3 % 255], -1).astype(np.uint8)  # smooth
    face = face_from_box(150, 90, 230, 170)
    params = crop_params(face, CropConfig())
    params[3] = 0.3  # and a roll, so both warps resample
    crop, o2c = crop_face(img, params, 256)
    mask = feather_mask(256)
    out = paste_back(crop, o2c, img, mask)
    err = np.abs(out.astype(int) - img.astype(int)).max(-1)
    inside = warp_affine(mask, np.linalg.inv(o2c), (400, 300)) > 0
    assert inside.sum() > 5000
    assert err[inside].mean() < 1.0 and err[inside].max() <= 6
    assert np.array_equal(out[~inside], img[~inside])  # outside the mask nothing changes


def test_feather_mask_shape():
    m = feather_mask(128)
    assert m[64, 64] == 1 and m[0, 0] == 0 and m[64, 0] == 0
    assert np.all(np.diff(m[64, :64]) >= 0)  # rises monotonically towards the centre


def test_smoothing_fills_gaps_and_reduces_jitter():
    rng = np.random.default_rng(1)
    t = np.arange(60)
    true = np.stack([100 + t, 80 + 0 * t, 200 + 0 * t, 0 * t], 1).astype(float)
    noisy = true + rng.normal(0, 2, true.shape) * [1, 1, 1, 0]
    valid = np.ones(60, bool)
    valid[20:25] = False
    noisy[20:25] = 0
    out = smooth_params(noisy, valid)
    assert np.abs(out[20:25, 0] - true[20:25, 0]).max() < 4  # gap filled from neighbours
    assert np.std(out[5:-5] - true[5:-5], 0)[0] < 0.7 * np.std(noisy[valid] - true[valid], 0)[0]
    with pytest.raises(UserError, match="no face"):
        smooth_params(noisy, np.zeros(60, bool))


def test_synthetic_face_detection_and_no_face():
    img = draw_face(240, 320, 170, 120, 50)
    p = detect_crop_params(img, SkinDetector())
    assert abs(p[0] - 170) < 3 and p[2] > 100
    with pytest.raises(UserError, match="no.*face|face.*none"):
        detect_crop_params(np.zeros((100, 100, 3), np.uint8), SkinDetector())


def test_haar_detector_finds_a_real_face():
    cv2 = pytest.importorskip("cv2", reason="opencv-python-headless provides the Haar face detector")
    mpl = pytest.importorskip("matplotlib", reason="the test photo ships with matplotlib")
    from jamflow.render.liveportrait.crop import HaarFaceDetector

    path = os.path.join(os.path.dirname(mpl.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    faces = HaarFaceDetector().detect(img)
    assert len(faces) == 1
    x0, y0 = faces[0].points.min(0)
    x1, y1 = faces[0].points.max(0)
    # her face spans about x 150-380, y 100-340 in this 512x600 photo
    assert 120 < x0 < 200 and 330 < x1 < 420 and 70 < y0 < 150 and 300 < y1 < 380
    assert HaarFaceDetector().detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_tracking_stays_with_the_same_person():
    from jamflow.render.liveportrait.extract import track_faces

    class TwoFaces:
        """A small face that stays at x=60, and a bigger one that only appears from frame 3 at x=300."""

        def __init__(self):
            self.i = 0

        def detect(self, rgb):
            self.i += 1
            faces = [face_from_box(40, 40, 80, 80)]
            if self.i > 3:
                faces.append(face_from_box(250, 40, 350, 140))
            return faces

    params = track_faces([np.zeros((200, 400, 3), np.uint8)] * 8, TwoFaces(), CropConfig())
    assert np.allclose(params[:, 0], 60, atol=1e-6)  # never jumps to the larger newcomer
