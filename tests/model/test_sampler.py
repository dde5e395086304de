import pytest
import torch
import torch.nn.functional as F

from jamflow.errors import UserError
from jamflow.model.jam import JAMModel
from jamflow.model.sampler import EPSS, make_time_grid, sample


def _problem(cfg, b=2, n=40, m=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(b, n, 100, generator=g)
    motion = torch.randn(b, m, cfg.motion_gen_dim, generator=g)
    mel_known = torch.zeros(b, n, dtype=torch.bool)
    mel_known[:, :12] = True  # reference prefix
    motion_known = torch.zeros(b, m, dtype=torch.bool)
    motion_known[:, :3] = True
    return dict(text=torch.randint(0, 60, (b, 15), generator=g), mel_cond=mel, mel_known=mel_known,
                motion_cond=motion, motion_known=motion_known,
                motion_context=torch.randn(b, m, cfg.motion_context_dim, generator=g))


def test_time_grids():
    t = make_time_grid(8, None)
    torch.testing.assert_close(t, torch.linspace(0, 1, 9))
    sway = make_time_grid(8, -1.0)
    torch.testing.assert_close(sway, 1 - torch.cos(torch.pi / 2 * torch.linspace(0, 1, 9)))  # s = -1 closed form
    assert sway[0] == 0 and abs(sway[-1] - 1) < 1e-6
    torch.testing.assert_close(make_time_grid(16, None), torch.tensor(EPSS[16]) / 32)
    assert len(make_time_grid(16, None, use_epss=False)) == 17
    with pytest.raises(UserError):
        make_time_grid(0)


def test_seeded_and_known_frames_exact(make_model):
    model = make_model()
    p = _problem(model.cfg)
    mel1, mo1 = sample(model, **p, nfe_step=3, seed=7)
    mel2, mo2 = sample(model, **p, nfe_step=3, seed=7)
    mel3, _ = sample(model, **p, nfe_step=3, seed=8)
    assert torch.equal(mel1, mel2) and torch.equal(mo1, mo2)
    assert (mel1 - mel3).abs().max() > 1e-3
    assert torch.equal(mel1[:, :12], p["mel_cond"][:, :12]) and torch.equal(mo1[:, :3], p["motion_cond"][:, :3])
    assert mel1.shape == (2, 40, 100) and mo1.shape == (2, 11, 18)


def test_batch_equals_single_items(make_model):
    """Per-item seeded noise + padding invariance: an item comes out the same alone or padded in a batch."""
    model = make_model().double()
    p = {k: v.double() if v.is_floating_point() else v for k, v in _problem(model.cfg).items()}
    p["text"][1, 8:] = -1
    mel, mo = sample(model, **p, mel_lens=torch.tensor([40, 30]), motion_lens=torch.tensor([11, 8]), nfe_step=2, seed=3)
    one = {k: v[1:] for k, v in p.items()}
    one.update(text=one["text"][:, :8], mel_cond=one["mel_cond"][:, :30], mel_known=one["mel_known"][:, :30],
               motion_cond=one["motion_cond"][:, :8], motion_known=one["motion_known"][:, :8],
               motion_context=one["motion_context"][:, :8])
    mel1, mo1 = sample(model, **one, nfe_step=2, seed=3)
    torch.testing.assert_close(mel[1, :30], mel1[0], atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(mo[1, :8], mo1[0], atol=1e-8, rtol=1e-8)
    assert mel[1, 30:].abs().max() == 0 and mo[1, 8:].abs().max() == 0


def test_packed_cfg_equals_separate_calls(make_model):
    """One Euler step with packed CFG == the same step from two separate model calls."""
    model = make_model().double()
    p = {k: v.double() if v.is_floating_point() else v for k, v in _problem(model.cfg).items()}
    grid = torch.tensor([0.0, 0.4])
    mel, mo = sample(model, **p, time_grid=grid, cfg_strength=2.0, seed=1)
    from jamflow.model.problem import initial_noise

    b, n, m = 2, 40, 11
    ya = initial_noise(torch.tensor([n, n]), n, 100, 1).double()
    ym = initial_noise(torch.tensor([m, m]), m, 18, 1, generator_offset=1).double()
    ca = p["mel_cond"] * p["mel_known"][..., None]
    cm = p["motion_cond"] * p["motion_known"][..., None]
    t = torch.zeros(b, dtype=torch.float64)
    with torch.no_grad():
        vc = model(ya, ca, p["text"], t, ym, cm, p["motion_context"])
        vu = model(ya, ca, p["text"], t, ym, cm, p["motion_context"], drop_audio_cond=True, drop_text=True,
                   drop_motion_cond=True)
    va = vc[0] + 2.0 * (vc[0] - vu[0])
    vm = vc[1] + 2.0 * (vc[1] - vu[1])
    dt = float(grid[1])  # the grid is float32: 0.4000000059604645
    exp_a = torch.where(p["mel_known"][..., None], p["mel_cond"], ya + dt * va)
    exp_m = torch.where(p["motion_known"][..., None], p["motion_cond"], ym + dt * vm)
    torch.testing.assert_close(mel, exp_a, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(mo, exp_m, atol=1e-9, rtol=1e-9)
    assert (vc[0] - vu[0]).abs().max() > 1e-3  # guidance really changes the step
    mel0, mo0 = sample(model, **p, time_grid=grid, cfg_strength=2.0, cfg_strength_motion=0.0, seed=1)
    torch.testing.assert_close(mel0, exp_a, atol=1e-9, rtol=1e-9)  # audio still guided
    torch.testing.assert_close(mo0, torch.where(p["motion_known"][..., None], p["motion_cond"], ym + dt * vc[1]),
                               atol=1e-9, rtol=1e-9)


def test_cfg_until_guides_only_early_calls(make_model, monkeypatch):
    """cfg_until: calls at t >= cfg_until run the conditional batch alone; 0 is no guidance, 1 is F5's."""
    model = make_model().double()
    p = {k: v.double() if v.is_floating_point() else v for k, v in _problem(model.cfg).items()}
    grid = torch.tensor([0.0, 0.3, 0.6, 1.0])
    full, _ = sample(model, **p, time_grid=grid, cfg_strength=2.0, seed=1)
    torch.testing.assert_close(sample(model, **p, time_grid=grid, cfg_strength=2.0, cfg_until=1.0, seed=1)[0], full,
                               atol=0, rtol=0)
    never, never_mo = sample(model, **p, time_grid=grid, cfg_strength=2.0, cfg_until=0.0, seed=1)
    plain, plain_mo = sample(model, **p, time_grid=grid, cfg_strength=0.0, seed=1)
    torch.testing.assert_close(never, plain, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(never_mo, plain_mo, atol=1e-12, rtol=1e-12)
    seen = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: seen.append((float(k["time"][0]), len(k["time"])))
                        or forward(*a, **k))
    part, _ = sample(model, **p, time_grid=grid, cfg_strength=2.0, cfg_until=0.5, seed=1)
    assert seen == [(0.0, 4), (pytest.approx(0.3), 4), (pytest.approx(0.6), 2)]  # batch 2: 2b guided, b alone
    assert (part - full).abs().max() > 1e-6 and (part - plain).abs().max() > 1e-6
    seen.clear()
    sample(model, **p, time_grid=torch.tensor([0.0, 0.8]), cfg_strength=2.0, cfg_until=0.3, method="midpoint", seed=1)
    assert seen == [(0.0, 4), (pytest.approx(0.4), 2)]  # the midpoint call has its own time


def test_midpoint_and_audio_only(make_model):
    model = make_model()
    p = _problem(model.cfg)
    mel_e, _ = sample(model, **p, nfe_step=2, seed=0, method="euler")
    mel_m, _ = sample(model, **p, nfe_step=2, seed=0, method="midpoint")
    assert (mel_e - mel_m).abs().max() > 1e-4
    mel_a, mo_a = sample(model, p["text"], p["mel_cond"], p["mel_known"], nfe_step=2, seed=0)
    assert mo_a is None and mel_a.shape == (2, 40, 100)


@pytest.mark.parametrize("overrides, method, cfg", [
    ({}, "midpoint", 2.0),  # windowed joint mask, padded items, packed CFG
    (dict(joint_window_s=None), "euler", 0.0),  # global joint attention, no null branch
])
def test_masks_rope_and_text_built_once_and_bit_identical_to_per_step(make_model, monkeypatch, overrides, method,
                                                                       cfg):
    model = make_model(**overrides)
    p = _problem(model.cfg)
    p["text"][1, 8:] = -1
    kw = dict(mel_lens=torch.tensor([40, 30]), motion_lens=torch.tensor([11, 8]), nfe_step=3, method=method,
              cfg_strength=cfg, seed=5)
    build, calls = model.prepare, []
    monkeypatch.setattr(model, "prepare", lambda *a: calls.append(a) or build(*a))
    encode, encoded = model.audio.text_embed.forward, []
    monkeypatch.setattr(model.audio.text_embed, "forward", lambda *a, **k: encoded.append(1) or encode(*a, **k))
    mel, mo = sample(model, **p, **kw)
    assert len(calls) == 1 and len(encoded) == 1  # once per sample(), not once per model call (3 steps x 2 midpoint)
    mel_a, _ = sample(model, p["text"], p["mel_cond"], p["mel_known"], nfe_step=2, seed=0)  # audio only
    assert len(calls) == 2
    # the reference: every model call ignores the layout and text features and rebuilds them itself
    monkeypatch.setattr(model, "forward",
                        lambda *a, layout=None, text_features=None, **k: JAMModel.forward(model, *a, **k))
    mel_ref, mo_ref = sample(model, **p, **kw)
    assert len(calls) > 2 + 3 and len(encoded) > 2 + 3  # the per-call builds really happened
    assert torch.equal(mel, mel_ref) and torch.equal(mo, mo_ref)
    assert torch.equal(mel_a, sample(model, p["text"], p["mel_cond"], p["mel_known"], nfe_step=2, seed=0)[0])


def test_joint_mask_as_additive_float_attends_like_the_boolean_one(make_model):
    """Layout.joint_mask_for: the window mask converted once per dtype gives SDPA's boolean-mask result."""
    model = make_model()
    layout = model.prepare(2, 40, 11, torch.tensor([[True] * 40, [True] * 30 + [False] * 10]),
                           torch.tensor([[True] * 11, [True] * 8 + [False] * 3]))
    assert layout.mask_j.dtype == torch.bool and not layout.mask_j.all()
    q, k, v = (torch.randn(2, 6, 51, 16, generator=torch.Generator().manual_seed(i)) for i in range(3))
    additive = layout.joint_mask_for(torch.float32)
    assert additive.dtype == torch.float32 and layout.joint_mask_for(torch.float32) is additive
    assert layout.joint_mask_for(torch.bfloat16).dtype == torch.bfloat16
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=additive),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=layout.mask_j), atol=1e-6, rtol=1e-6)
    assert model.prepare(1, 40, None).joint_mask_for(torch.float32) is None  # audio only: no joint mask


def test_a_layout_for_other_lengths_is_refused(make_model):
    model = make_model()
    p = _problem(model.cfg)
    x, t = torch.randn(2, 40, 100), torch.zeros(2)
    with pytest.raises(UserError, match="layout"):
        model(x, x, p["text"], t, p["motion_cond"], layout=model.prepare(2, 40, 12))
    with pytest.raises(UserError, match="layout"):
        model(x, x, p["text"], t, layout=model.prepare(2, 40, 11))  # audio only, layout with motion
    with pytest.raises(UserError, match="text_features: expected \\[2, 40, text_dim\\]"):
        model(x, x, p["text"], t, text_features=torch.zeros(2, 39, model.cfg.audio.text_dim))


def test_flow_reaches_data_with_exact_velocity():
    """A model that returns the exact straight-line velocity takes Euler from the noise to the data."""
    target = torch.randn(1, 20, 100)

    class Oracle(torch.nn.Module):
        motion = None

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def prepare(self, *args):  # JAMModel's interface: nothing to precompute here
            return None

        def text_features(self, *args):
            return None

        def guided_velocity(self, problem, t, audio_x, motion_x):  # what sample() asks of a model at each step
            return (target - audio_x) / max(1 - t, 1e-6), None

    mel, _ = sample(Oracle(), torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 20, 100),
                    torch.zeros(1, 20, dtype=torch.bool), nfe_step=5, cfg_strength=0.0, seed=0)
    torch.testing.assert_close(mel, target, atol=1e-4, rtol=1e-4)


def test_bad_inputs(make_model):
    model = make_model()
    p = _problem(model.cfg)
    with pytest.raises(UserError, match="method"):
        sample(model, **p, method="rk4")
    with pytest.raises(UserError, match="mel_known"):
        sample(model, **dict(p, mel_known=p["mel_known"][:, :5]))
    with pytest.raises(UserError, match="mel_lens"):
        sample(model, **p, mel_lens=torch.tensor([41, 40]))
