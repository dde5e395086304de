import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.render.base import get_renderer
from jamflow.render.liveportrait.crop import SOURCE_CROP, crop_matrix, detect_crop_params, feather_mask, warp_affine
from jamflow.render.liveportrait.portrait import prepare_sources

from lp_helpers import SkinDetector, draw_face, tiny_nets, write_checkpoints


@pytest.fixture(scope="module")
def nets():
    return tiny_nets(with_fwg=True)


def _motion(nets, source, t):
    """Motion around the source's own motion, mouth keypoints opening over time."""
    from jamflow.render.liveportrait.crop import crop_face

    crop, o2c = crop_face(source, detect_crop_params(source, SkinDetector(), SOURCE_CROP))
    own = prepare_sources(nets, crop[None], [o2c])[0].motion.numpy()
    m = np.repeat(own[None], t, 0)
    m[:, 3 * 19 + 1] += np.linspace(0, 0.05, t)
    return m


def test_registered_and_i2v_pastes_into_source(nets):
    source = draw_face(200, 260, 130, 100, 25)
    r = get_renderer("liveportrait", nets=nets, source=source, detector=SkinDetector(), batch_size=2)
    assert r.size == (200, 260)
    frames = list(r.frames(_motion(nets, source, 3)))
    assert len(frames) == 3 and all(f.shape == (200, 260, 3) and f.dtype == np.uint8 for f in frames)
    # outside the feathered crop the portrait is untouched; inside it is re-rendered
    params = detect_crop_params(source, SkinDetector(), SOURCE_CROP)
    alpha = warp_affine(feather_mask(128), np.linalg.inv(crop_matrix(params, 128)), (260, 200))  # tiny G: 128 px
    assert 1000 < (alpha == 0).sum() < 200 * 260 - 1000
    assert np.array_equal(frames[0][alpha == 0], source[alpha == 0])
    assert np.abs(frames[0][alpha > 0.99].astype(int) - source[alpha > 0.99]).mean() > 1


def test_crop_output_without_paste_back(nets):
    source = draw_face(200, 260, 130, 100, 40)
    r = get_renderer("liveportrait", nets=nets, detector=SkinDetector(), pasteback=False)
    frames = list(r.frames(_motion(nets, source, 2), source=source))
    assert r.size == (512, 512) and frames[0].shape == (128, 128, 3)  # G renders 2x its input (64 here)


def test_v2v_follows_the_source_video_and_loops(nets):
    video = np.stack([draw_face(160, 200, 90 + 4 * i, 80, 32) for i in range(3)])
    r = get_renderer("liveportrait", nets=nets, source=video, detector=SkinDetector(), batch_size=2)
    frames = list(r.frames(_motion(nets, video[0], 5)))
    assert len(frames) == 5 and frames[4].shape == (160, 200, 3)
    # frame i is pasted into source frame i (looping): the background far from the face is that frame's
    assert np.array_equal(frames[3][:, :5], video[0][:, :5]) and np.array_equal(frames[1][:, :5], video[1][:, :5])


def test_bad_inputs(nets, tmp_path):
    with pytest.raises(UserError, match="weights"):
        get_renderer("liveportrait", weights=None)
    with pytest.raises(UserError, match="face"):
        get_renderer("liveportrait", nets=nets, source=np.zeros((64, 64, 3), np.uint8), detector=SkinDetector())
    r = get_renderer("liveportrait", nets=nets, detector=SkinDetector())
    with pytest.raises(UserError, match="source"):
        next(r.frames(np.zeros((2, 70), np.float32)))
    with pytest.raises(UserError, match="motion"):
        next(r.frames(np.zeros((2, 63), np.float32), source=draw_face(100, 100, 50, 50, 20)))
    with pytest.raises(UserError, match="source"):
        r.set_source(str(tmp_path / "missing.png"))


def test_weights_folder_from_environment(tmp_path, monkeypatch):
    write_checkpoints(tmp_path, nets="FM")  # W, G missing: the error names the folder the variable gave
    monkeypatch.setenv("JAMFLOW_LIVEPORTRAIT_WEIGHTS", str(tmp_path))
    with pytest.raises(UserError, match=str(tmp_path) + ".*warping_module"):
        get_renderer("liveportrait", device="cpu")
