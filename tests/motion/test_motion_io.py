import os
import pickle

import numpy as np
import pytest
import torch

from jamflow.errors import UserError
from jamflow.motion.io import angles_from_rotation, check_motion, convert_motion, load_motion, motion_to_template, save_motion
from jamflow.motion.keypoints import compose_keypoints, rotation_matrix
from jamflow.motion.visemes import CANONICAL_KEYPOINTS


def _motion(frames=17, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.02, (frames, 70)).astype(np.float32)
    m[:, 63:66] = rng.uniform(-30, 30, (frames, 3))
    m[:, 69] = rng.uniform(1.1, 1.5, frames)
    return m


def _elementary_rotation(axis: int, degrees: float) -> np.ndarray:
    """Column-vector rotation about one axis, float64 (an independent reference)."""
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    i, j = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m if axis != 1 else m.T  # about y the sine signs flip (right-handed)


def test_template_R_is_keypoints_rotation_and_inverts():
    m = _motion()
    R = np.concatenate([f["R"] for f in motion_to_template(m)["motion"]])
    ref = rotation_matrix(*torch.from_numpy(m[:, 63:66]).unbind(-1)).numpy()
    assert R.dtype == np.float32 and np.array_equal(R, ref)  # one implementation: motion.keypoints
    p, y, r = m[:, 63:66].astype(np.float64).T
    closed = np.stack([(_elementary_rotation(2, r[i]) @ _elementary_rotation(1, y[i]) @ _elementary_rotation(0, p[i])).T
                       for i in range(len(m))])
    assert np.abs(R - closed).max() < 1e-6  # (Rz(roll) Ry(yaw) Rx(pitch))^T
    assert np.abs(np.stack(angles_from_rotation(R), 1) - m[:, 63:66]).max() < 1e-4


def test_pkl_roundtrip_is_lossless_and_has_liveportrait_layout(tmp_path):
    m = _motion()
    save_motion(tmp_path / "m.pkl", m, fps=30)
    back, fps = load_motion(tmp_path / "m.pkl")
    assert fps == 30 and np.array_equal(back, m)
    with open(tmp_path / "m.pkl", "rb") as f:
        t = pickle.load(f)
    assert t["n_frames"] == 17 and t["output_fps"] == 30 and len(t["motion"]) == 17
    shapes = {k: v.shape for k, v in t["motion"][0].items()}
    assert shapes["scale"] == (1, 1) and shapes["R"] == (1, 3, 3) and shapes["exp"] == (1, 21, 3)
    assert shapes["t"] == (1, 3) and shapes["kp"] == (1, 21, 3) and shapes["x_s"] == (1, 21, 3)
    assert all(v.dtype == np.float32 for v in t["motion"][0].values())
    assert t["c_eyes_lst"][0].shape == (1, 2) and t["c_lip_lst"][0].shape == (1, 1)
    x_s = np.concatenate([f["x_s"] for f in t["motion"]])
    ref = compose_keypoints(torch.from_numpy(CANONICAL_KEYPOINTS), torch.from_numpy(m)).numpy()
    assert np.abs(x_s - ref).max() < 1e-5


def test_template_without_angles_uses_R_and_old_key_names(tmp_path):
    m = _motion()
    t = motion_to_template(m)
    for f in t["motion"]:
        f["R_d"] = f.pop("R")
        for k in ("pitch", "yaw", "roll"):
            del f[k]
    with open(tmp_path / "old.pkl", "wb") as f:
        pickle.dump(t, f, protocol=2)  # old protocol: bytes arrive through _codecs.encode
    back, _ = load_motion(tmp_path / "old.pkl")
    assert np.abs(back[:, 63:66] - m[:, 63:66]).max() < 1e-3
    assert np.array_equal(back[:, :63], m[:, :63]) and np.array_equal(back[:, 66:], m[:, 66:])


def test_npy_roundtrip_and_conversion(tmp_path):
    m = _motion()
    save_motion(tmp_path / "m.npy", m)
    assert np.array_equal(load_motion(tmp_path / "m.npy")[0], m)
    convert_motion(tmp_path / "m.npy", tmp_path / "m.pkl")
    convert_motion(tmp_path / "m.pkl", tmp_path / "again.npy")
    assert np.array_equal(np.load(tmp_path / "again.npy"), m)
    with pytest.raises(UserError, match="fps"):
        save_motion(tmp_path / "x.npy", m, fps=30)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    t = motion_to_template(_motion(2))
    t["motion"][0]["exp"] = _Evil(marker)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(t, f)
    with pytest.raises(UserError, match="refused"):
        load_motion(tmp_path / "evil.pkl")
    assert not marker.exists()


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _dump(p, [1, 2, 3]), "template dict"),
    (lambda p: _dump(p, {"n_frames": 0, "motion": []}), "non-empty"),
    (lambda p: _dump(p, {"motion": [{"exp": np.zeros((1, 20, 3))}]}), "shape"),
    (lambda p: _dump(p, {"motion": [{"exp": np.zeros((1, 21, 3)), "t": np.zeros((1, 3)), "scale": np.ones((1, 1))}]}), "'R'"),
    (lambda p: _dump(p, dict(motion_to_template(_motion(3)), n_frames=5)), "n_frames"),
    (lambda p: p.write_bytes(pickle.dumps(motion_to_template(_motion(3)))[:200]), "readable pickle"),
])
def test_malformed_pkl_gives_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.pkl"
    make(path)
    with pytest.raises(UserError, match=message):
        load_motion(path)


@pytest.mark.parametrize("array, message", [
    (np.zeros((10, 63), np.float32), r"\[frames, 70\]"),
    (np.zeros((0, 70), np.float32), "at least one frame"),
    (np.full((3, 70), np.nan, np.float32), "finite"),
    (np.zeros((3, 70), np.int64), "floating"),
])
def test_malformed_npy_gives_clear_errors(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(UserError, match=message):
        load_motion(tmp_path / "bad.npy")


def test_check_motion_returns_a_new_float32_array():
    m = _motion(3)
    checked = check_motion(m)
    assert checked is not m and checked.dtype == np.float32 and np.array_equal(checked, m)
    checked[0, 0] = 99.0
    assert m[0, 0] != 99.0


def test_object_npy_and_wrong_suffix_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="npy"):
        load_motion(tmp_path / "obj.npy")
    (tmp_path / "m.txt").write_text("1 2 3")
    with pytest.raises(UserError, match=".npy or .pkl"):
        load_motion(tmp_path / "m.txt")
    with pytest.raises(UserError, match=".npy or .pkl"):
        save_motion(tmp_path / "m.csv", _motion(2))
