"""Mouth aperture from the lip keypoints (motion/mouth.py)."""
import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.motion.mouth import mouth_aperture


def test_aperture_grows_when_lower_lip_drops():
    m = np.zeros((3, 70))
    m[1, 3 * 20 + 1] = 0.03  # lower inner lip moves down (y points down)
    m[2, 3 * 19 + 1] = 0.03  # upper inner lip moves down: mouth closes
    a = mouth_aperture(m)
    assert a[1] > a[0] > a[2]


def test_bad_motion_shape_is_a_user_error():
    with pytest.raises(UserError, match="motion"):
        mouth_aperture(np.zeros((10, 18)))
