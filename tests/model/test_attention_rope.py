import math

import torch

from jamflow.model.attention import joint_mask
from jamflow.model.rope import RotaryEmbedding, apply_rope


def _complex_rope(x, positions, base=10000.0):
    """Reference: channel pairs (2i, 2i+1) as complex numbers times exp(i * pos * base^(-2i/d))."""
    d = x.shape[-1]
    freqs = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(len(positions), d // 2, dtype=torch.float64), positions[:, None].double() * freqs)
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(xc * rot).reshape(x.shape).float()


def test_rope_rotates_adjacent_pairs():
    x = torch.randn(2, 3, 10, 16)
    rope = RotaryEmbedding(16)
    pos = torch.arange(10).float()
    torch.testing.assert_close(apply_rope(x, rope(pos)), _complex_rope(x, pos), atol=1e-5, rtol=1e-5)


def test_rope_fractional_positions_and_relative_property():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    score = lambda pq, pk: (apply_rope(q, rope(torch.tensor([pq]))) * apply_rope(k, rope(torch.tensor([pk])))).sum()  # noqa: E731
    # depends on the offset only, also for the fractional motion positions k * 3.75
    torch.testing.assert_close(score(7.5, 3.75), score(3.75, 0.0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_complex_rope(q[0, 0], torch.tensor([3.75])), apply_rope(q, rope(torch.tensor([3.75])))[0, 0])


def test_rope_on_first_heads_only():
    x = torch.randn(1, 3, 5, 8)
    angles = RotaryEmbedding(8)(torch.arange(5).float())
    y = apply_rope(x, angles, num_heads=1)
    torch.testing.assert_close(y[:, :1], apply_rope(x[:, :1], angles))
    assert torch.equal(y[:, 1:], x[:, 1:])


def test_rotation_tables_rotate_as_rotate_pairs_bit_for_bit():
    """The cached tables (cos, sin with rotate_pairs' sign folded in) give exactly x cos + rotate_pairs(x) sin."""
    from jamflow.model.rope import rotate_pairs

    angles = RotaryEmbedding(16)(torch.arange(12) * 3.75)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(2, 3, 12, 16).to(dtype)
        cos, sin = angles.angles.cos().to(dtype), angles.angles.sin().to(dtype)
        assert torch.equal(apply_rope(x, angles), x * cos + rotate_pairs(x) * sin)
        assert torch.equal(apply_rope(x, angles), apply_rope(x, angles.angles))  # a bare angle tensor works too
    assert list(angles._tables) == [torch.float32, torch.bfloat16]  # made once per dtype


def test_inv_freq_buffer_is_saved():
    rope = RotaryEmbedding(64)
    assert "inv_freq" in rope.state_dict() and rope.inv_freq.shape == (32,)
    assert math.isclose(float(rope.inv_freq[1]), 10000 ** (-2 / 64), rel_tol=1e-6)


def test_joint_mask_window_and_padding():
    n, m, r = 40, 12, 3.75
    mask = joint_mask(None, None, n, m, r, window_mel=5.0)[0, 0]
    for i in range(n):
        for k in range(m):
            near = abs(i - k * r) <= 5.0
            assert mask[i, n + k] == near and mask[n + k, i] == near
    assert mask[:n, :n].all() and mask[n:, n:].all()
    assert joint_mask(None, None, n, m, r, window_mel=None) is None  # global, no padding: no mask at all
    valid_a = torch.ones(2, n, dtype=torch.bool)
    valid_a[1, 30:] = False
    padded = joint_mask(valid_a, None, n, m, r, window_mel=None)
    assert padded.shape == (2, 1, n + m, n + m)
    assert not padded[1, 0, :30, 30:n].any() and padded[1, 0, :, :30].all() and padded[0].all()
    assert padded[1, 0, 35, 35] and not padded[1, 0, 35, 36]  # a padded query sees itself, no other padding


def test_item_without_motion_gives_no_nan(make_model):
    """A batch item with zero valid motion frames must not produce NaN anywhere."""
    from jamflow.model.cfm import lens_to_mask

    model = make_model()
    g = torch.Generator().manual_seed(0)
    b, n, m = 2, 40, 11
    va, vm = model(torch.randn(b, n, 100, generator=g), torch.randn(b, n, 100, generator=g),
                   torch.randint(0, 50, (b, 10), generator=g), torch.rand(b, generator=g),
                   torch.randn(b, m, 18, generator=g), torch.randn(b, m, 18, generator=g), torch.randn(b, m, 22, generator=g),
                   audio_mask=lens_to_mask(torch.tensor([40, 30]), n), motion_mask=lens_to_mask(torch.tensor([11, 0]), m))
    assert torch.isfinite(va).all() and torch.isfinite(vm).all()
