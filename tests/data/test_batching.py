import numpy as np
import pytest
import torch

from jamflow.data.batching import CachedDataset, FrameBudgetBatchSampler, collate, pack_batches
from jamflow.errors import UserError
from jamflow.motion.spec import get_spec
from jamflow.timeline import mel_frames_for, motion_frames_for


def test_mel_frames_rounds_half_up():
    # 3.75 m by hand: 1 -> 3.75, 2 -> 7.5, 4 -> 15, 6 -> 22.5, 10 -> 37.5, 25 -> 93.75
    assert [mel_frames_for(m) for m in (0, 1, 2, 4, 6, 10, 25)] == [0, 4, 8, 15, 23, 38, 94]
    for n in range(0, 400):
        m = motion_frames_for(n)
        assert mel_frames_for(m) <= n < mel_frames_for(m + 1)


def test_crop_keeps_mel_and_motion_aligned(cache):
    full = CachedDataset(cache, split="all")
    crop = CachedDataset(cache, split="all", crop_frames=60, seed=1)
    long = [i for i, line in enumerate(full.items) if line["mel_frames"] > 100]
    assert long, "corpus should have clips longer than the crop"
    starts = set()
    for i in long:
        for epoch in range(3):
            a, c = full[i], crop[(i, epoch)]
            keep = motion_frames_for(60)
            assert c["motion"].shape[0] == keep and c["mel"].shape[0] == mel_frames_for(keep) <= 60
            # locate the crop in the full clip: motion must start on a multiple of 4 and the mel
            # crop must start at exactly 15/4 of it
            k0 = next(k for k in range(a["motion"].shape[0] - keep + 1)
                      if torch.equal(a["motion"][k:k + keep], c["motion"]))
            assert k0 % 4 == 0
            s = 15 * k0 // 4
            assert torch.equal(a["mel"][s:s + c["mel"].shape[0]], c["mel"])
            assert c["text"].numel() == 0  # transcript cannot be cut without timings
            starts.add(k0)
    assert len(starts) > 1, "crop offsets should vary with the epoch / clip"
    assert crop[(long[0], 2)]["mel"].equal(crop[(long[0], 2)]["mel"])  # same key, same crop


def test_pack_batches_respects_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 400, size=200).tolist() + [5000]
    batches = pack_batches(lengths, max_frames=1200, max_samples=6)
    seen = sorted(i for b in batches for i in b)
    assert seen == list(range(200))  # everything once, the over-long clip dropped
    for b in batches:
        assert len(b) <= 6 and len(b) * max(lengths[i] for i in b) <= 1200
    # sorted packing keeps padding small
    pad = sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)
    assert pad < 0.1 * sum(lengths[:200])


def test_sampler_epochs_resume_and_ranks():
    lengths = list(range(10, 310, 3))  # 100 clips
    s = FrameBudgetBatchSampler(lengths, 600, 4, seed=5)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert [i for b in e0 for i, _ in b] != [i for b in e1 for i, _ in b]
    assert sorted(i for b in e0 for i, _ in b) == sorted(i for b in e1 for i, _ in b)
    assert all(ep == 1 for b in e1 for _, ep in b)
    # resume mid-epoch: the remaining batches, in order
    s.set_epoch(1, start=7)
    assert list(s) == e1[7:] and len(s) == len(e1) - 7
    # same seed, same order; other seed, other order
    t = FrameBudgetBatchSampler(lengths, 600, 4, seed=5)
    t.set_epoch(1)
    assert list(t) == e1
    # two ranks interleave the one-process order (epoch cut to a multiple of world x accum)
    r0 = FrameBudgetBatchSampler(lengths, 600, 4, seed=5, world_size=2, rank=0, group=3)
    r1 = FrameBudgetBatchSampler(lengths, 600, 4, seed=5, world_size=2, rank=1, group=3)
    one = FrameBudgetBatchSampler(lengths, 600, 4, seed=5, group=6)
    for x in (r0, r1, one):
        x.set_epoch(4)
    a, b, c = list(r0), list(r1), list(one)
    assert len(c) % 6 == 0 and len(a) == len(b) == len(c) // 2
    assert [x for pair in zip(a, b) for x in pair] == c


def test_sampler_needs_enough_batches():
    with pytest.raises(UserError, match="batches per epoch"):
        FrameBudgetBatchSampler([100, 100], 150, 1, world_size=4)


def test_collate_pads_both_streams(cache):
    ds = CachedDataset(cache)
    items = [ds[0], ds[3], ds[5]]
    batch = collate(items)
    b = len(items)
    n = max(it["mel"].shape[0] for it in items)
    m = max(it["motion"].shape[0] for it in items)
    assert batch["mel"].shape == (b, n, 100) and batch["motion"].shape == (b, m, 18)
    assert batch["motion_context"].shape == (b, m, get_spec("lips").context_dim)
    for i, it in enumerate(items):
        ln, lm, lt = it["mel"].shape[0], it["motion"].shape[0], it["text"].shape[0]
        assert batch["mel_lens"][i] == ln and batch["motion_lens"][i] == lm
        assert torch.equal(batch["mel"][i, :ln], it["mel"]) and (batch["mel"][i, ln:] == 0).all()
        assert torch.equal(batch["text"][i, :lt], it["text"]) and (batch["text"][i, lt:] == -1).all()
        assert (batch["motion"][i, lm:] == 0).all()
        assert ln == mel_frames_for(lm)  # every prepared clip is time-aligned
    audio_only = collate([{k: v for k, v in it.items() if not k.startswith("motion")} for it in items])
    assert set(audio_only) == {"mel", "mel_lens", "text"}
