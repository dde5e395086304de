import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.motion.visemes import K
from jamflow.render.avatar import AvatarRenderer, AvatarStyle
from jamflow.render.base import available_renderers, get_renderer, register_renderer

SIZE = 256


def _neutral(frames=1):
    m = np.zeros((frames, 70), np.float32)
    m[:, 69] = 1.3
    return m


def _set(m, keypoint, axis, value):
    m[:, 3 * K[keypoint] + axis] += value
    return m


def _render(m, size=SIZE):
    return np.stack(list(get_renderer("avatar", size=size).frames(m)))


def test_registry_and_frame_format():
    assert "avatar" in available_renderers()
    frames = _render(_neutral(3))
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert get_renderer("avatar", size=64).size == (64, 64)
    with pytest.raises(UserError, match="renderer"):
        get_renderer("no-such-renderer")
    with pytest.raises(UserError, match="size"):
        get_renderer("avatar", size=8)
    with pytest.raises(UserError, match="motion"):
        next(get_renderer("avatar").frames(np.zeros((2, 63), np.float32)))

    class Flat:
        size = (4, 4)

        def frames(self, motion, source=None):
            for _ in motion:
                yield np.zeros((4, 4, 3), np.uint8)

    register_renderer("flat-test", lambda **kw: Flat())
    assert len(list(get_renderer("flat-test").frames(_neutral(2)))) == 2


def _dark_mouth_pixels(frame):
    mouth = AvatarStyle().mouth
    return int((np.abs(frame.astype(int) - mouth).sum(-1) < 12).sum())


def test_lips_visibly_open_and_round():
    closed = _render(_neutral())[0]
    opened = _render(_set(_set(_neutral(), "lower_lip_inner", 1, 0.045), "upper_lip_inner", 1, -0.015))[0]
    assert _dark_mouth_pixels(opened) > 0.002 * SIZE * SIZE
    assert _dark_mouth_pixels(closed) < 0.1 * _dark_mouth_pixels(opened)
    narrow = _set(_set(_neutral(), "mouth_corner_left", 0, 0.03), "mouth_corner_right", 0, -0.03)
    lips = np.array(AvatarStyle().lips)
    lip_cols = lambda f: np.nonzero((np.abs(f.astype(int) - lips).sum(-1) < 40).any(0))[0]
    wide_cols, narrow_cols = lip_cols(closed), lip_cols(_render(narrow)[0])
    assert narrow_cols.max() - narrow_cols.min() < wide_cols.max() - wide_cols.min() - 0.02 * SIZE


def _eye_white_pixels(frame):
    return int((frame.astype(int).min(-1) > 235).sum())


def test_eyes_blink():
    open_eyes = _render(_neutral())[0]
    shut = _neutral()
    for lid in ("lid_upper_left", "lid_upper_right"):
        _set(shut, lid, 1, 0.046)
    assert _eye_white_pixels(open_eyes) > 0.001 * SIZE * SIZE
    assert _eye_white_pixels(_render(shut)[0]) < 0.1 * _eye_white_pixels(open_eyes)


def _centroid_x(frame, colour):
    ys, xs = np.nonzero(np.abs(frame.astype(int) - np.array(colour)).sum(-1) < 30)
    return xs.mean()


def test_head_turns_and_moves_with_pose():
    base = _neutral()
    turned = _neutral()
    turned[:, 64] = 25  # yaw
    shifted = _neutral()
    shifted[:, 66] = 0.1  # t_x
    iris = AvatarStyle().iris
    x0, x1, x2 = (_centroid_x(_render(m)[0], iris) for m in (base, turned, shifted))
    assert x1 - x0 > 0.02 * SIZE  # yaw swings the eyes (in front of the rotation axis) sideways
    assert x2 - x0 == pytest.approx(0.1 * 0.55 * SIZE, rel=0.2)
    rolled = _neutral()
    rolled[:, 65] = 20
    assert np.abs(_render(rolled)[0].astype(int) - _render(base)[0]).mean() > 3


def test_edges_are_antialiased():
    frame = _render(_neutral(), size=256)[0]
    row = frame[100].astype(int)  # crosses the face outline
    steps = np.abs(np.diff(row, axis=0)).sum(-1)
    edges = np.nonzero(steps > 20)[0]
    assert len(edges) > 0
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert len(colours) > 200  # blended edge pixels, not a handful of flat fills
    aliased = np.stack(list(AvatarRenderer(size=256, supersample=1).frames(_neutral())))[0]
    assert len({tuple(c) for c in aliased.reshape(-1, 3)}) < len(colours)


def test_style_per_call_does_not_stick():
    r = get_renderer("avatar", size=64)
    plain = next(r.frames(_neutral()))
    green = next(r.frames(_neutral(), source=AvatarStyle(background=((0, 200, 0), (0, 200, 0)))))
    assert tuple(green[0, 0]) == (0, 200, 0) and tuple(plain[0, 0]) != (0, 200, 0)
    assert np.array_equal(next(r.frames(_neutral())), plain)


def test_renderers_share_one_read_only_background_that_drawing_never_changes():
    a, b = AvatarRenderer(64), AvatarRenderer(64)
    assert a._background is b._background and not a._background.flags.writeable
    before = a._background.copy()
    first = next(a.frames(_set(_neutral(), "lower_lip_inner", 1, 0.045)))
    assert np.array_equal(a._background, before)
    assert np.array_equal(next(b.frames(_set(_neutral(), "lower_lip_inner", 1, 0.045))), first)


def test_degenerate_scale_from_an_untrained_model_still_draws():
    motion = np.zeros((3, 70), np.float32)
    motion[:, 69] = [1.3, 0.0, -0.5]  # scale 0 and negative: what a barely trained model may emit
    frames = list(AvatarRenderer(size=64).frames(motion))
    assert len(frames) == 3 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("width", [1.5, 3.0, 6.0])
def test_a_stroke_is_as_wide_as_asked_and_a_path_that_turns_back_is_not_cancelled(width):
    from jamflow.render.avatar import _Pen

    img = np.zeros((60, 140, 3), np.uint8)
    _Pen(img).line(np.array([[10.0, 20.3], [130.0, 20.3]]), (255, 255, 255), width)
    covered = (img[:, 30:110, 0] > 0).sum(0)  # pixels per column, away from the ends
    assert np.all(np.abs(covered - width) <= 1.0)
    # the lip line's shape: out along one edge and back along the other, overlapping itself; OpenCV's
    # even-odd fill would leave the overlap empty if the path were one outline
    img[:] = 0
    _Pen(img).line(np.array([[10.0, 40.0], [70.0, 40.5], [130.0, 40.0], [70.0, 41.0], [10.0, 40.0]]),
                   (255, 255, 255), width)
    assert (img[:, 30:110, 0] > 0).sum(0).min() >= max(1, width - 1)


def test_supersampled_frames_are_block_means_of_the_canvas(monkeypatch):
    import cv2

    motion = np.repeat(_neutral(), 2, axis=0)
    motion[1, 63:66] = [20, -35, 25]  # a strong turn, nod and roll
    renderer = AvatarRenderer(size=97, supersample=3)  # odd size: the canvas is not a power of two
    canvases = []
    real_resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda img, *a, **k: canvases.append(img.copy()) or real_resize(img, *a, **k))
    frames = list(renderer.frames(motion))
    for frame, canvas in zip(frames, canvases):
        assert canvas.shape == (291, 291, 3)
        blocks = canvas.reshape(97, 3, 97, 3, 3).astype(float).mean((1, 3))
        assert np.abs(frame - blocks).max() <= 1.0  # rounding only
