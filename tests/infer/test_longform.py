import numpy as np
import pytest

from jamflow.infer.layout import chunk_char_budget
from jamflow.infer.longform import Piece, Stitcher, concat_pieces, join_overlap, plan_windows, smooth_seams
from jamflow.motion.smoothing import gaussian_smooth

SPM = 960  # samples per motion frame


@pytest.mark.parametrize("total,window,overlap", [(10, 20, 4), (100, 20, 4), (101, 24, 8), (57, 16, 0)])
def test_windows_cover_everything_with_the_asked_overlap(total, window, overlap):
    spans = plan_windows(total, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == total
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert b0 - a1 == overlap  # each window starts `overlap` frames before the previous ends
        assert b1 > b0
    assert all(b - a <= window for a, b in spans)


def test_join_overlap_crossfades_linearly_and_keeps_length():
    a, b = np.ones(10, np.float32), np.zeros(8, np.float32)
    out = join_overlap(a, b, 4)
    assert len(out) == 10 + 8 - 4
    assert np.all(out[:6] == 1) and np.all(out[10:] == 0)
    mid = out[6:10]
    assert np.all(np.diff(mid) < 0) and 0 < mid.min() and mid.max() < 1  # a monotone fade, no click


def _piece(value: float, frames: int) -> Piece:
    return Piece(np.full(frames * SPM, value, np.float32), np.full((frames, 70), value, np.float32))


def test_stitcher_streams_and_joins_without_losing_frames():
    st = Stitcher(hold=4)
    out = [st.add(_piece(1, 20), 0)]
    assert out[0] is not None and out[0].frames == 16  # everything but the held tail is final at once
    out.append(st.add(_piece(2, 30), 4))  # first 4 frames of the new piece re-render the held tail
    out.append(st.add(_piece(3, 10), 4))
    out.append(st.finish())
    joined = concat_pieces(out)
    assert joined.frames == 20 + 30 + 10 - 4 - 4
    assert len(joined.wav) == joined.frames * SPM and len(joined.motion) == joined.frames
    assert st.seams == [20, 46]
    # each value's own region survives untouched; only the overlaps are mixtures
    m = joined.motion[:, 0]
    assert np.all(m[:16] == 1) and np.all(m[20:42] == 2) and np.all(m[46:] == 3)
    assert np.all((m[16:20] > 1) & (m[16:20] < 2))


def test_gaussian_smooth_keeps_constants_and_lowers_noise():
    rng = np.random.default_rng(0)
    const = np.full((50, 3), 2.5, np.float32)
    assert np.allclose(gaussian_smooth(const, 2.0), const)
    noise = rng.normal(size=(200, 2)).astype(np.float32)
    assert gaussian_smooth(noise, 2.0).std() < 0.6 * noise.std()


def test_gaussian_smooth_kernel_reaches_three_sigma_and_keeps_ramps():
    impulse = np.zeros((41, 1))
    impulse[20] = 1.0
    response = gaussian_smooth(impulse, 1.5)[:, 0]  # the kernel: radius ceil(3 * 1.5) = 5
    assert response.sum() == pytest.approx(1.0) and np.allclose(response, response[::-1])
    assert response[15] > 0 and response[25] > 0 and not response[:15].any() and not response[26:].any()
    ramp = np.arange(30, dtype=np.float64)[:, None]
    assert np.allclose(gaussian_smooth(ramp, 1.5)[5:-5], ramp[5:-5])  # symmetric: no lag


def test_smooth_seams_softens_only_near_the_seam():
    x = np.concatenate([np.zeros((40, 2)), np.ones((40, 2))]).astype(np.float32)
    y = smooth_seams(x, [40], radius=6)
    assert np.abs(np.diff(y[:, 0])).max() < 0.5 * np.abs(np.diff(x[:, 0])).max()
    assert np.array_equal(y[:30], x[:30]) and np.array_equal(y[50:], x[50:])


def test_chunk_budget_follows_the_reference_rate():
    slow = chunk_char_budget("a" * 50, ref_frames=250, max_chunk_s=10, speed=1.0)  # 5 chars/s
    fast = chunk_char_budget("a" * 200, ref_frames=250, max_chunk_s=10, speed=1.0)  # 20 chars/s
    assert fast == 4 * slow
    assert chunk_char_budget("", 0, 10, 1.0) == 150  # no reference: ~15 chars/s
