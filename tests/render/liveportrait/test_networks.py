"""Forward passes of the full-size networks at reduced resolution, and the motion-head maths."""
import math

import pytest
import torch

from jamflow.motion.keypoints import compose_keypoints, rotation_matrix
from jamflow.render.liveportrait.motion_extractor import bins_to_degrees, kp_info, to_motion70
from jamflow.render.liveportrait.portrait import compose_relative
from jamflow.render.liveportrait.warping import coordinate_grid
from jamflow.render.liveportrait.weights import build_network


@pytest.fixture(scope="module")
def nets():
    return {n: build_network(n).eval() for n in "FMWGS"}


@torch.no_grad()
def test_pipeline_shapes_at_reduced_resolution(nets):
    img = torch.rand(1, 3, 128, 128)  # 256 in production; every network is fully convolutional
    vol = nets["F"](img)
    assert vol.shape == (1, 32, 16, 32, 32)
    raw = nets["M"](img)
    assert {k: tuple(v.shape) for k, v in raw.items()} == {
        "kp": (1, 63), "exp": (1, 63), "pitch": (1, 66), "yaw": (1, 66), "roll": (1, 66), "t": (1, 3), "scale": (1, 1)}
    kp = torch.rand(1, 21, 3) * 1.6 - 0.8
    out = nets["W"](vol, kp + 0.05, kp)
    assert out["out"].shape == (1, 256, 32, 32) and out["deformation"].shape == (1, 16, 32, 32, 3)
    assert out["occlusion_map"].shape == (1, 1, 32, 32)
    image = nets["G"](out["out"][..., :16, :16])  # G is cheaper to test on a smaller map
    assert image.shape == (1, 3, 128, 128)  # 8x the feature size: 512 from 64
    assert image.min() >= 0 and image.max() <= 1


def test_coordinate_grid_corners():
    g = coordinate_grid(3, 4, 5, torch.zeros(1))
    assert g.shape == (3, 4, 5, 3)
    assert g[0, 0, 0].tolist() == [-1, -1, -1] and g[-1, -1, -1].tolist() == [1, 1, 1]
    assert g[1, 0, 4].tolist() == [1, -1, 0]  # (x, y, z) order, x along width


def test_identical_keypoints_give_near_identity_deformation(nets):
    # with kp_driving == kp_source every candidate flow is the identity grid, whatever the mask says
    vol = torch.rand(1, 32, 16, 32, 32)
    kp = torch.rand(1, 21, 3) - 0.5
    with torch.no_grad():
        deformation, _ = nets["W"].dense_motion_network(vol, kp, kp)
    torch.testing.assert_close(deformation[0], coordinate_grid(16, 32, 32, vol), atol=1e-5, rtol=0)


def test_bins_to_degrees_hand_cases():
    logits = torch.full((3, 66), -1e4)
    logits[0, 0] = 0  # bin 0 -> -97.5
    logits[1, 65] = 0  # bin 65 -> 97.5
    logits[2, 32] = logits[2, 33] = 0  # half/half -> 32.5 * 3 - 97.5 = 0
    assert bins_to_degrees(logits).tolist() == pytest.approx([-97.5, 97.5, 0.0])


def test_kp_info_to_motion70_layout():
    raw = {"kp": torch.arange(63.)[None], "exp": torch.arange(63.)[None] + 100, "t": torch.tensor([[1., 2., 3.]]),
           "scale": torch.tensor([[1.5]])}
    for k in ("pitch", "yaw", "roll"):
        raw[k] = torch.full((1, 66), -1e4)
    raw["pitch"][0, 0] = raw["yaw"][0, 65] = raw["roll"][0, 30] = 0
    info = kp_info(raw)
    assert info["kp"][0, 2].tolist() == [6, 7, 8]
    m = to_motion70(info)[0]
    assert m[:63].tolist() == list(range(100, 163))
    assert m[63:66].tolist() == pytest.approx([-97.5, 97.5, -7.5])
    assert m[66:].tolist() == [1, 2, 3, 1.5]


def _motion(exp=None, pitch=0.0, yaw=0.0, roll=0.0, t=(0, 0, 0), scale=1.0):
    m = torch.zeros(70)
    if exp is not None:
        m[:63] = exp
    m[63:66] = torch.tensor([pitch, yaw, roll])
    m[66:69] = torch.tensor(t, dtype=torch.float32)
    m[69] = scale
    return m


def test_composition_hand_cases():
    kp = torch.zeros(21, 3)
    kp[0] = torch.tensor([1.0, 0, 0])
    kp[1] = torch.tensor([0, 1.0, 0])
    # yaw 90: R = Ry^T, so the row vector (1, 0, 0) @ Ry^T = (Ry (1,0,0)^T)^T = (0, 0, -1)
    x = compose_keypoints(kp, _motion(yaw=90)[None])[0]
    torch.testing.assert_close(x[0], torch.tensor([0.0, 0, -1]), atol=1e-6, rtol=0)
    # roll 90 takes x to y; pitch 90 takes y to z
    torch.testing.assert_close(compose_keypoints(kp, _motion(roll=90)[None])[0, 0], torch.tensor([0.0, 1, 0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(compose_keypoints(kp, _motion(pitch=90)[None])[0, 1], torch.tensor([0.0, 0, 1]), atol=1e-6, rtol=0)
    # scale applies to kp + exp, t_x and t_y add afterwards, t_z is ignored
    exp = torch.zeros(63)
    exp[0:3] = torch.tensor([0.5, 0.25, 0])
    x = compose_keypoints(kp, _motion(exp=exp, t=(0.1, -0.2, 5.0), scale=2.0)[None])[0]
    torch.testing.assert_close(x[0], torch.tensor([3.1, 0.3, 0.0]))


def test_relative_driving_hand_cases():
    kp = torch.randn(21, 3) * 0.3
    src = _motion(exp=torch.randn(63) * 0.02, pitch=5, yaw=-10, roll=3, t=(0.02, -0.01, 0.3), scale=1.2)
    ref = _motion(exp=torch.randn(63) * 0.02, pitch=-4, yaw=8, roll=0, t=(0.1, 0.05, 0), scale=0.9)
    # the reference frame itself reproduces the source's own keypoints (t_z dropped)
    x = compose_relative(kp, src, ref[None], ref, lips_absolute=False)[0]
    torch.testing.assert_close(x, compose_keypoints(kp, src[None])[0], atol=1e-5, rtol=0)
    # a driving frame that adds yaw +90 and doubles the scale relative to the reference
    drv = ref.clone()
    drv[64] += 90
    drv[69] *= 2
    drv[66] += 0.3
    x = compose_relative(kp, _motion(scale=1.0), drv[None], ref, lips_absolute=False)[0]
    # source pose is identity, so R = R_drv R_ref^T, and the translation moves by the driving delta only
    r_rel = rotation_matrix(drv[63:64], drv[64:65], drv[65:66]) @ rotation_matrix(ref[63:64], ref[64:65], ref[65:66]).transpose(1, 2)
    torch.testing.assert_close(x, 2 * (kp @ r_rel[0]) + torch.tensor([0.3, 0, 0]), atol=1e-5, rtol=0)
    # with the reference pose at zero, the relative rotation is exactly +90 yaw: (1, 0, 0) -> (0, 0, -1)
    ref0 = _motion(scale=1.0)
    drv0 = _motion(yaw=90, scale=1.0)
    x = compose_relative(torch.eye(3).repeat(7, 1), _motion(scale=1.0), drv0[None], ref0, lips_absolute=False)[0]
    torch.testing.assert_close(x[0], torch.tensor([0.0, 0, -1]), atol=1e-6, rtol=0)
    # generated lips are taken as absolute mouth shapes
    lip_exp = torch.zeros(63)
    lip_exp[3 * 6: 3 * 6 + 3] = torch.tensor([0.0, 0.3, 0.0])  # keypoint 6 is a lip keypoint
    drv = ref.clone()
    drv[:63] = lip_exp
    x_abs = compose_relative(kp, src, drv[None], ref, lips_absolute=True)[0]
    x_src = compose_relative(kp, src, ref[None], ref, lips_absolute=False)[0]
    s = src[69]
    assert math.isclose(float(x_abs[6, 1] - x_src[6, 1]), float(s * (0.3 - src[19])), abs_tol=1e-5)
