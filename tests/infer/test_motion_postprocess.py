"""Motion post-processing: head smoothing touches only a generated head, and streams equal the whole."""
import numpy as np
import pytest

from jamflow.infer.motion_codec import TURNING_HEAD, MotionCodec
from jamflow.infer.stream import StreamingPostprocess
from jamflow.motion.smoothing import gaussian_smooth
from jamflow.motion.spec import EXP, POSE, get_spec

PITCH, YAW = POSE.start, POSE.start + 1


def noisy_motion(frames=80, seed=0):
    return np.random.default_rng(seed).standard_normal((frames, 70)).astype(np.float32)


def test_head_smoothing_smooths_a_generated_heads_turns_and_leaves_nods_and_mouth():
    codec = MotionCodec.create(get_spec("full"), None)
    motion = noisy_motion()
    out = codec.postprocess(motion, 0.0, 1.0, 1.0, head_sigma=1.0)
    head = list(TURNING_HEAD)
    assert YAW in head and PITCH not in head and len(head) == 5
    np.testing.assert_array_equal(out[:, EXP], motion[:, EXP])
    np.testing.assert_array_equal(out[:, PITCH], motion[:, PITCH])
    np.testing.assert_allclose(out[:, head], gaussian_smooth(motion[:, head], 1.0), atol=1e-6)
    assert np.abs(np.diff(out[:, YAW])).mean() < 0.7 * np.abs(np.diff(motion[:, YAW])).mean()


def test_head_smoothing_leaves_a_head_the_spec_does_not_generate_and_holds_nothing_back():
    codec = MotionCodec.create(get_spec("lips"), None)
    motion = noisy_motion()
    np.testing.assert_array_equal(codec.postprocess(motion, 0.0, 1.0, 1.0, head_sigma=2.0), motion)
    post = StreamingPostprocess(codec, 0.0, 1.0, 1.0, head_sigma=2.0)
    assert len(post.add(motion[:10])) == 10  # a stream of the shipped spec emits every frame at once


@pytest.mark.parametrize("sigma, head_sigma", [(0.0, 1.0), (1.5, 1.0), (0.7, 0.0)])
def test_streamed_postprocess_equals_the_whole(sigma, head_sigma):
    codec = MotionCodec.create(get_spec("full"), None)
    motion = noisy_motion(97, seed=1)
    whole = codec.postprocess(motion, sigma, 1.3, 0.8, head_sigma)
    post = StreamingPostprocess(codec, sigma, 1.3, 0.8, head_sigma)
    pieces = [post.add(motion[a:a + n]) for a, n in ((0, 3), (3, 20), (23, 1), (24, 40), (64, 33))]
    streamed = np.concatenate(pieces + [post.finish()])
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
