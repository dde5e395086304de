import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.eval import motion_metrics as mm


def random_motion(frames=40, seed=0):
    rng = np.random.default_rng(seed)
    m = np.cumsum(rng.normal(0, 0.002, (frames, 70)), axis=0)
    m[:, 63:66] = np.cumsum(rng.normal(0, 0.2, (frames, 3)), axis=0)  # pose in degrees, smooth
    m[:, 69] = 1.3
    return m


def test_identical_motion_has_zero_errors():
    m = random_motion()
    assert mm.lip_vertex_error(m, m) == 0.0
    assert mm.face_mean_error(m, m) == pytest.approx(0.0, abs=1e-7)


def test_lve_is_max_over_lip_keypoints_mean_over_frames():
    gt = np.zeros((4, 70))
    pred = gt.copy()
    pred[:2, 3 * 20 + 1] = 0.03  # lower inner lip off by 0.03 in two of four frames
    pred[:, 3 * 17 + 0] = 0.01   # another lip keypoint off by 0.01 everywhere
    pred[:, 3 * 8 + 2] = 0.5     # forehead (not a lip keypoint) never counts
    assert mm.lip_vertex_error(pred, gt) == pytest.approx((0.03 + 0.03 + 0.01 + 0.01) / 4)


def test_face_error_counts_head_pose_but_lve_does_not():
    gt = random_motion()
    turned = gt.copy()
    turned[:, 64] += 10.0  # yaw 10 degrees
    assert mm.lip_vertex_error(turned, gt) == 0.0
    assert mm.face_mean_error(turned, gt) > 0.01


def test_jitter_is_zero_for_still_and_larger_for_noisy_motion():
    still = np.tile(random_motion(1), (30, 1))
    assert mm.jitter(still)["velocity"] == pytest.approx(0.0, abs=1e-6)
    smooth = random_motion(60)
    noisy = smooth + np.random.default_rng(1).normal(0, 0.01, smooth.shape) * (np.arange(70) < 63)
    assert mm.jitter(noisy)["jerk"] > 5 * mm.jitter(smooth)["jerk"]


def test_frechet_distance_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 2))
    b = rng.normal(0, 1, (20000, 2)) + np.array([3.0, 0.0])
    # same covariance, means 3 apart: distance = 9
    assert mm.frechet_distance(a, b) == pytest.approx(9.0, rel=0.05)
    assert mm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    clips = [random_motion(seed=s) for s in range(4)]
    assert mm.frechet_motion_distance(clips, clips, channels=range(63)) == pytest.approx(0.0, abs=1e-4)


def test_diversity_zero_for_copies_and_positive_otherwise():
    m = random_motion()
    assert mm.sample_diversity([m, m, m]) == 0.0
    assert mm.sample_diversity([m, random_motion(seed=1)]) > 0.0
    with pytest.raises(UserError):
        mm.sample_diversity([m])


def test_shape_errors_are_user_errors():
    with pytest.raises(UserError, match="pred"):
        mm.lip_vertex_error(np.zeros((5, 18)), np.zeros((5, 70)))


# ---------------------------------------------------------------- face life


def _blinking(frames: int, blink_frames: list[int]) -> np.ndarray:
    from jamflow.motion.keypoints import K, exp_index

    m = np.zeros((frames, 70))
    m[:, 69] = 1.3
    for f in blink_frames:
        for up in ("lid_upper_left", "lid_upper_right"):
            m[f: f + 3, exp_index(K[up], 1)] = 0.046  # lid down over the eye for 3 frames
    return m


def test_blink_count_counts_each_closure_once():
    from jamflow.eval.motion_metrics import blink_count

    assert blink_count(_blinking(250, [])) == 0
    assert blink_count(_blinking(250, [0, 40, 120, 200])) == 4
    assert blink_count(_blinking(250, [40, 41])) == 1  # one longer closure, not two


def test_head_pose_std_is_degrees_averaged_over_axes():
    from jamflow.eval.motion_metrics import head_pose_std

    m = np.zeros((100, 70))
    m[::2, 63], m[1::2, 63] = 3.0, -3.0  # pitch std 3, yaw and roll still
    assert head_pose_std(m) == pytest.approx(1.0)


def test_head_speech_correlation_sees_a_head_that_moves_with_the_voice():
    from jamflow.eval.motion_metrics import head_speech_correlation

    rng = np.random.default_rng(0)
    frames = 250
    loud = (np.sin(np.arange(frames) / 25 * 2 * np.pi * 0.7) > 0).astype(float)  # 0.7 Hz phrases
    wav = (np.repeat(loud, 960) * 0.1 * rng.standard_normal(frames * 960)).astype(np.float32)
    m = np.zeros((frames, 70))
    m[:, 64] = np.cumsum(np.convolve(loud, np.ones(5) / 5, mode="same")) * 0.2  # turns while speaking
    coupled = head_speech_correlation(m, wav)
    shifted = head_speech_correlation(m, np.roll(wav, 960 * 18))  # the voice of another moment
    assert coupled > 0.8 and shifted < 0.3
    assert np.isnan(head_speech_correlation(np.zeros((frames, 70)), wav))  # a still head: undefined
