import pytest
import torch

from jamflow.errors import UserError
from jamflow.model.cfm import MaskConfig, cfm_loss, sample_dropout, sample_masks

R = 3.75


def _only(task, **kw):
    probs = {f"p_{t}": 0.0 for t in ("joint", "audio_to_motion", "motion_to_audio", "independent", "text_only")}
    probs[f"p_{task}"] = 1.0
    return MaskConfig(**probs, **kw)


def _draw(task, b=64, n=150, m=40, seed=0):
    mel_lens = torch.randint(60, n + 1, (b,), generator=torch.Generator().manual_seed(seed))
    motion_lens = (mel_lens.float() / R).floor().long()
    a, mo, tasks = sample_masks(mel_lens, motion_lens, n, m, _only(task), R, torch.Generator().manual_seed(seed))
    return mel_lens, motion_lens, a, mo, tasks


def _is_one_span(row):
    idx = row.nonzero().flatten()
    return len(idx) > 0 and (idx[-1] - idx[0] + 1) == len(idx)


def test_joint_task_is_time_aligned():
    mel_lens, motion_lens, a, mo, _ = _draw("joint")
    for i in range(a.shape[0]):
        assert _is_one_span(a[i])
        frac = a[i].sum().item() / mel_lens[i].item()
        assert 0.69 <= frac <= 1.0
        s, e = a[i].nonzero().min().item(), a[i].nonzero().max().item() + 1
        for k in range(int(motion_lens[i])):
            assert mo[i, k] == (s <= k * R < e)  # motion unknown exactly where its instant is
        assert not a[i, mel_lens[i]:].any() and not mo[i, motion_lens[i]:].any()


def test_single_stream_tasks():
    mel_lens, motion_lens, a, mo, _ = _draw("audio_to_motion")
    assert not a.any() and all(_is_one_span(mo[i]) for i in range(len(mo)))
    mel_lens, motion_lens, a, mo, _ = _draw("motion_to_audio")
    assert not mo.any() and all(_is_one_span(a[i]) for i in range(len(a)))
    mel_lens, motion_lens, a, mo, _ = _draw("text_only")
    assert torch.equal(a.sum(1), mel_lens) and torch.equal(mo.sum(1), motion_lens)
    mel_lens, motion_lens, a, mo, _ = _draw("independent")
    aligned = [(mo[i].nonzero().min() * R).item() for i in range(len(mo))]
    starts = [a[i].nonzero().min().item() for i in range(len(a))]
    assert sum(abs(x - y) > R for x, y in zip(aligned, starts)) > 10  # spans drawn separately


def test_task_mixture_follows_probabilities():
    mel_lens = torch.full((4000,), 100)
    cfg = MaskConfig()
    _, _, tasks = sample_masks(mel_lens, mel_lens // 4, 100, 25, cfg, R, torch.Generator().manual_seed(0))
    freq = torch.bincount(tasks, minlength=5).float() / len(tasks)
    assert torch.allclose(freq, cfg.task_probs().float(), atol=0.03)


def test_audio_only_batch():
    a, mo, tasks = sample_masks(torch.tensor([80, 50]), None, 80, 0, MaskConfig(), R, torch.Generator().manual_seed(1))
    assert mo is None and a.shape == (2, 80) and not a[1, 50:].any()


def test_dropout_rates():
    cfg = MaskConfig(p_drop_all=0.2, p_drop_audio_cond=0.3, p_drop_motion_cond=0.1, p_drop_text=0.0)
    d = sample_dropout(20000, cfg, torch.Generator().manual_seed(0))
    assert abs(d["drop_text"].float().mean() - 0.2) < 0.02  # only via "all"
    assert abs(d["drop_audio_cond"].float().mean() - (1 - 0.8 * 0.7)) < 0.02
    assert abs(d["drop_motion_cond"].float().mean() - (1 - 0.8 * 0.9)) < 0.02
    assert (d["drop_audio_cond"] | ~d["drop_text"]).all()  # text never dropped alone here


def test_bad_probabilities():
    with pytest.raises(UserError):
        MaskConfig(p_joint=0, p_audio_to_motion=0, p_motion_to_audio=0, p_independent=0, p_text_only=0).task_probs()


def _batch(cfg, b=2, n=40, m=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(mel=torch.randn(b, n, 100, generator=g), mel_lens=torch.tensor([n, n - 8]),
                text=torch.randint(0, 60, (b, 12), generator=g),
                motion=torch.randn(b, m, cfg.motion_gen_dim, generator=g),
                motion_context=torch.randn(b, m, cfg.motion_context_dim, generator=g), motion_lens=torch.tensor([m, m - 2]))


def test_loss_reproducible_with_generator(make_model):
    model = make_model()
    batch = _batch(model.cfg)
    out = cfm_loss(model, batch, MaskConfig(), torch.Generator().manual_seed(3))
    again = cfm_loss(model, batch, MaskConfig(), torch.Generator().manual_seed(3))
    other = cfm_loss(model, batch, MaskConfig(), torch.Generator().manual_seed(4))
    assert torch.equal(out["loss"], again["loss"]) and not torch.equal(out["loss"], other["loss"])
    assert out["loss"].requires_grad and out["loss_audio"].item() > 0


def test_loss_matches_hand_computation(make_model):
    model = make_model()
    batch = _batch(model.cfg)
    cfg = _only("independent", p_drop_all=0.0, p_drop_audio_cond=0.0, p_drop_motion_cond=0.0)
    out = cfm_loss(model, batch, cfg, torch.Generator().manual_seed(5))
    # replay the same draws: masks/task/dropout, then t, then noise (the documented draw order)
    g = torch.Generator().manual_seed(5)
    a_unk, m_unk, _ = sample_masks(batch["mel_lens"], batch["motion_lens"], 40, 11, cfg, R, g)
    sample_dropout(2, cfg, g)
    t = torch.rand(2, generator=g)
    na, nm = torch.randn(batch["mel"].shape, generator=g), torch.randn(batch["motion"].shape, generator=g)
    xa = (1 - t[:, None, None]) * na + t[:, None, None] * batch["mel"]
    xm = (1 - t[:, None, None]) * nm + t[:, None, None] * batch["motion"]
    va, vm = model(xa, batch["mel"] * ~a_unk[..., None], batch["text"], t, xm, batch["motion"] * ~m_unk[..., None],
                   batch["motion_context"], audio_mask=torch.arange(40)[None] < batch["mel_lens"][:, None],
                   motion_mask=torch.arange(11)[None] < batch["motion_lens"][:, None])
    la = ((va - (batch["mel"] - na)) ** 2)[a_unk].mean()
    lm = ((vm - (batch["motion"] - nm)) ** 2)[m_unk].mean()
    torch.testing.assert_close(out["loss_audio"], la.detach())
    torch.testing.assert_close(out["loss_motion"], lm.detach())
    torch.testing.assert_close(out["loss"].detach(), (la + lm).detach())


def test_overfit_fixed_batch(make_model):
    """A tiny model drives the loss down on one fixed batch (same draws every step)."""
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    torch.manual_seed(0)
    model = JAMModel(get_preset("tiny")).train()
    batch = _batch(model.cfg, n=32, m=9)
    cfg = MaskConfig(p_drop_all=0.0, p_drop_audio_cond=0.0, p_drop_motion_cond=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(250):
        out = cfm_loss(model, batch, cfg, torch.Generator().manual_seed(0))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append((out["loss_audio"].item(), out["loss_motion"].item()))
    first, last = losses[0], losses[-1]
    assert last[0] < 0.3 * first[0] and last[1] < 0.3 * first[1], (first, last)


def test_audio_only_model_and_batch(make_model):
    model = make_model(motion=None)
    batch = {k: v for k, v in _batch(model.cfg if model.cfg.motion else make_model().cfg).items() if not k.startswith("motion")}
    out = cfm_loss(model, batch, MaskConfig(), torch.Generator().manual_seed(0))
    assert out["motion_unknown"] is None and out["loss_motion"].item() == 0 and out["loss"].item() > 0


def test_pose_loss_weight_weighs_only_the_head_pose_channels(make_model):
    from jamflow.model.cfm import motion_channel_weights
    from jamflow.motion.spec import POSE, get_spec

    full = get_spec("full")
    w = motion_channel_weights(full, 8.0)
    pose = torch.tensor([i in range(POSE.start, POSE.stop) for i in full.generate])
    torch.testing.assert_close(w.mean(), torch.tensor(1.0))
    torch.testing.assert_close(w[pose] / w[~pose].max(), torch.full((3,), 8.0))
    assert motion_channel_weights(full, 1.0) is None and motion_channel_weights(get_spec("lips"), 8.0) is None

    model = make_model(motion_spec="full")
    batch = _batch(model.cfg)
    cfg = _only("audio_to_motion", p_drop_all=0.0, p_drop_audio_cond=0.0, p_drop_motion_cond=0.0)
    plain = cfm_loss(model, batch, cfg, torch.Generator().manual_seed(5))
    weighted = cfm_loss(model, batch, MaskConfig(**{**vars(cfg), "pose_loss_weight": 8.0}), torch.Generator().manual_seed(5))
    torch.testing.assert_close(weighted["loss_audio"], plain["loss_audio"])
    # the same draws, so the per-channel errors are equal and only their weighting differs
    g = torch.Generator().manual_seed(5)
    _, m_unk, _ = sample_masks(batch["mel_lens"], batch["motion_lens"], 40, 11, cfg, R, g)
    assert m_unk.any()
    assert not torch.isclose(weighted["loss_motion"], plain["loss_motion"])
