import numpy as np
import pytest
import torch

from jamflow.errors import UserError
from jamflow.motion.keypoints import compose_keypoints, rotation_matrix
from jamflow.motion.spec import LIP_KEYPOINTS, get_spec


def test_lips_spec_picks_lip_exp_channels():
    spec = get_spec("lips")
    assert spec.gen_dim == 18 and spec.context_dim == 22  # eyes (15) + pitch/yaw/roll, t, scale (7)
    assert len(spec.passthrough) == 70 - 18 - 22
    assert set(range(63, 70)) <= set(spec.context)
    assert spec.generate[:3] == (3 * LIP_KEYPOINTS[0], 3 * LIP_KEYPOINTS[0] + 1, 3 * LIP_KEYPOINTS[0] + 2)


@pytest.mark.parametrize("name", ["full", {"name": "all-context", "generate": [18, 19, 20]}])
def test_split_merge_round_trip(name):
    spec = get_spec(name)
    x = np.random.default_rng(0).standard_normal((5, 70)).astype(np.float32)
    gen, ctx = spec.split(x)
    assert np.array_equal(spec.merge(gen, ctx), x)
    xt = torch.from_numpy(x)
    assert torch.equal(spec.merge(*spec.split(xt)), xt)


def test_spec_dict_round_trip_keeps_explicit_context():
    spec = get_spec("lips")
    again = get_spec(spec.to_dict())
    assert again == spec and again.context == spec.context
    legacy = get_spec({"name": "old", "generate": list(spec.generate)})  # no "context": all the rest
    assert legacy.context_dim == 52 and legacy.passthrough == ()
    with pytest.raises(UserError, match="disjoint"):
        get_spec({"name": "bad", "generate": [0, 1], "context": [1, 2]})


def test_lips_split_merge_zeroes_passthrough():
    spec = get_spec("lips")
    x = np.random.default_rng(1).standard_normal((4, 70)).astype(np.float32)
    back = spec.merge(*spec.split(x))
    seen = list(spec.generate) + list(spec.context)
    assert np.array_equal(back[:, seen], x[:, seen])
    assert not back[:, list(spec.passthrough)].any()


def test_wrong_channel_count_is_a_user_error():
    with pytest.raises(UserError, match="70 channels"):
        get_spec("lips").split(np.zeros((3, 63)))
    with pytest.raises(UserError, match="motion spec"):
        get_spec("mouth")


def test_rotation_matches_hand_computed_yaw():
    # yaw 90 deg about y: Ry = [[0,0,1],[0,1,0],[-1,0,0]], returned transposed for row vectors
    R = rotation_matrix(torch.tensor([0.0]), torch.tensor([90.0]), torch.tensor([0.0]))[0]
    expected = torch.tensor([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])
    assert torch.allclose(R, expected, atol=1e-6)
    # a row vector along x rotates to -z under (Ry)^T applied on the right: x @ R
    assert torch.allclose(torch.tensor([1.0, 0, 0]) @ R, torch.tensor([0.0, 0, -1]), atol=1e-6)


def test_compose_keypoints_hand_case():
    kp = torch.zeros(21, 3)
    kp[0] = torch.tensor([1.0, 2.0, 3.0])
    motion = torch.zeros(70)
    motion[0:3] = torch.tensor([0.5, 0.0, 0.0])  # exp of keypoint 0
    motion[63:66] = torch.tensor([0.0, 0.0, 90.0])  # roll 90: (x, y) -> (-y, x) in row form
    motion[66:69] = torch.tensor([10.0, 20.0, 30.0])  # t_z must be ignored
    motion[69] = 2.0
    x = compose_keypoints(kp, motion)[0, 0]
    rotated = torch.tensor([1.0, 2.0, 3.0]) @ rotation_matrix(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([90.0]))[0]
    expected = 2.0 * (rotated + torch.tensor([0.5, 0, 0])) + torch.tensor([10.0, 20.0, 0.0])
    assert torch.allclose(x, expected, atol=1e-5)
    assert torch.allclose(rotated, torch.tensor([-2.0, 1.0, 3.0]), atol=1e-5)
