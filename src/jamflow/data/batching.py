"""Training data over the `jamflow prepare` cache: dataset, frame-budget batch sampler, collate.

Time alignment (jamflow.timeline). Motion frame k and mel frame 3.75 k are the same instant. A clip of
m motion frames spans mel_frames_for(m) = floor(3.75 m + 1/2) mel frames (round half up; Python's round()
would round 7.5 up to 8 but 22.5 down to 22). Long clips are cropped to start on the crop grid
(CROP_GRID = 4 motion frames): motion frame 4j is exactly mel frame 15j, so the crop introduces no
rounding at the start, and a crop of L motion frames keeps exactly mel_frames_for(L) mel frames - the
same rule as a whole clip. A cropped clip loses its transcript (no word timings to cut it with): it
trains as an untranscribed clip, which the text-dropout task already covers.

Batches. Clips are sorted by mel length and packed greedily while the *padded* batch
(count x longest) stays within max_frames and count within max_samples. The list of batches is
fixed; each epoch shuffles its order with (seed, epoch). With world_size processes and gradient
accumulation A, the epoch is cut to a multiple of world_size x A batches, and process r takes
batches r, r + world_size, ... - so one update consumes the same batches whatever the split into
processes and micro-batches, and a run resumes mid-epoch from (epoch, batches done).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from jamflow.data.prepare import read_index
from jamflow.errors import UserError
from jamflow.motion.spec import get_spec
from jamflow.timeline import CROP_GRID, mel_frames_for, motion_frames_for


def load_cache_index(cache_dir: str | Path) -> tuple[dict, list[dict]]:
    """-> (cache.json settings, prepared clip lines). Fails if a shard has not finished."""
    cache_dir = Path(cache_dir)
    meta_path = cache_dir / "cache.json"
    if not meta_path.is_file():
        raise UserError(f"data.cache: expected a folder written by `jamflow prepare`, got {str(cache_dir)!r}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        int(meta["num_clips"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"data.cache: expected a valid cache.json in {cache_dir}, got {type(e).__name__}: {e} "
                        f"(run `jamflow prepare` again into an empty folder)") from None
    lines: dict[str, dict] = {}
    for path in sorted(cache_dir.glob("index-*-of-*.jsonl")):
        lines.update(read_index(path))
    if len(lines) < meta["num_clips"]:
        raise UserError(f"data.cache: expected all {meta['num_clips']} clips prepared, got {len(lines)}; "
                        f"run `jamflow prepare` again (every shard) to finish {cache_dir}")
    return meta, [line for line in lines.values() if "skipped" not in line]


class CachedDataset(torch.utils.data.Dataset):
    """Clips of one split. Item key: (index, epoch) - the epoch seeds the crop offset."""

    def __init__(self, cache_dir, split: str = "train", max_frames: int | None = None, crop_frames: int = 0,
                 seed: int = 0, motion_spec=None, index: tuple[dict, list[dict]] | None = None,
                 durations: dict | None = None):
        """index: what load_cache_index(cache_dir) returned, when the caller has already read it.
        durations: clip id -> [nt + 2] aligned frames (load_durations); items then carry them."""
        self.root = Path(cache_dir)
        self.meta, lines = index if index is not None else load_cache_index(self.root)
        self.spec = get_spec(motion_spec if motion_spec is not None else self.meta["motion_spec"])
        self.crop_frames = int(crop_frames)
        self.seed = int(seed)
        self.durations = durations
        split_lines = [line for line in lines if split in ("all", line.get("split", "train"))]
        limit = self.crop_frames or max_frames
        self.dropped = 0
        if not self.crop_frames and max_frames is not None:
            kept = [line for line in split_lines if line["mel_frames"] <= max_frames]
            self.dropped = len(split_lines) - len(kept)
            split_lines = kept
        self.items = sorted(split_lines, key=lambda line: line["id"])  # order independent of shard layout
        if not self.items:
            raise UserError(f"data.split: expected clips of split {split!r} within {limit} mel frames in "
                            f"{self.root}, got none")
        # length each item will have after cropping: what the sampler packs by
        self.lengths = [self._cropped_length(line) for line in self.items]

    def _cropped_length(self, line: dict) -> int:
        n = line["mel_frames"]
        if not self.crop_frames or n <= self.crop_frames:
            return n
        if line["motion_frames"]:
            return mel_frames_for(min(line["motion_frames"], motion_frames_for(self.crop_frames)))
        return self.crop_frames

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        line = self.items[index]
        try:
            with np.load(self.root / line["file"], allow_pickle=False) as f:
                mel = f["mel"]  # [n, 100]
                text = f["text"]
                motion = f["motion"] if "motion" in f.files else None  # [m, 70] normalised
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise UserError(f"data.cache: expected a readable item {line['file']} in {self.root}, got "
                            f"{type(e).__name__}: {str(e)[:100]} (delete it and its index line, then run "
                            f"`jamflow prepare` again)") from None
        if self.crop_frames and len(mel) > self.crop_frames:
            rng = np.random.default_rng([self.seed, epoch, index])
            if motion is not None:
                keep = motion_frames_for(self.crop_frames)
                k0 = CROP_GRID * int(rng.integers(0, (len(motion) - keep) // CROP_GRID + 1))  # on the crop grid
                motion = motion[k0:k0 + keep]
                start = mel_frames_for(k0)  # exact: k0 is on the grid
                mel = mel[start:start + mel_frames_for(keep)]
            else:
                start = int(rng.integers(0, len(mel) - self.crop_frames + 1))
                mel = mel[start:start + self.crop_frames]
            text = text[:0]
        item = {"mel": torch.from_numpy(np.ascontiguousarray(mel)), "text": torch.from_numpy(text.astype(np.int64))}
        if self.durations is not None and len(text) and line["id"] in self.durations:
            item["durations"] = self.durations[line["id"]]
        if motion is not None:
            gen, ctx = self.spec.split(motion)
            item["motion"] = torch.from_numpy(np.ascontiguousarray(gen))  # [m, dg]
            item["motion_context"] = torch.from_numpy(np.ascontiguousarray(ctx))  # [m, dc]
        return item


def load_durations(cache_dir) -> tuple[dict, dict]:
    """-> (clip id -> durations [nt + 2], the duration table) written by `jamflow align`."""
    cache_dir = Path(cache_dir)
    paths = cache_dir / "durations.npz", cache_dir / "duration_stats.json"
    if not all(p.is_file() for p in paths):
        raise UserError(f"data.durations: expected {paths[0].name} and {paths[1].name} in {cache_dir}; "
                        f"run `jamflow align --cache {cache_dir}` first")
    with np.load(paths[0]) as f:
        durations = {k: f[k].astype(np.int64) for k in f.files}
    stats = json.loads(paths[1].read_text())
    table = {k: stats[k] for k in ("frames_per_token", "lead_frames", "trail_frames")}
    return durations, table


def pack_batches(lengths: list[int], max_frames: int, max_samples: int) -> list[list[int]]:
    """Sort by length, then fill each batch while count x longest <= max_frames and count <= max_samples."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches, current = [], []
    for i in order:
        if lengths[i] > max_frames:
            continue
        if current and ((len(current) + 1) * lengths[i] > max_frames or len(current) >= max_samples):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class FrameBudgetBatchSampler(torch.utils.data.Sampler):
    """Yields lists of (index, epoch) for this process, from (epoch, start) on."""

    def __init__(self, lengths: list[int], max_frames: int, max_samples: int, seed: int = 0, shuffle: bool = True,
                 world_size: int = 1, rank: int = 0, group: int = 1):
        self.batches = pack_batches(lengths, max_frames, max_samples)
        self.seed, self.shuffle = int(seed), shuffle
        self.world_size, self.rank = int(world_size), int(rank)
        self.group = int(group) * self.world_size  # batches one update consumes over all processes
        self.per_epoch = len(self.batches) // self.group * self.group
        if self.per_epoch == 0:
            raise UserError(f"data: expected at least {self.group} batches per epoch ({world_size} processes x "
                            f"{group} accumulation steps), got {len(self.batches)}; add data or lower "
                            f"data.max_frames / data.max_samples")
        self.epoch, self.start = 0, 0

    @property
    def batches_per_rank(self) -> int:
        return self.per_epoch // self.world_size

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """`start`: batches of this epoch already consumed by this process (resume mid-epoch)."""
        self.epoch, self.start = int(epoch), int(start)

    def epoch_order(self, epoch: int) -> list[list[int]]:
        order = list(range(len(self.batches)))
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.batches)).tolist()
        return [self.batches[i] for i in order[: self.per_epoch]]

    def __iter__(self):
        mine = self.epoch_order(self.epoch)[self.rank::self.world_size]
        for batch in mine[self.start:]:
            yield [(i, self.epoch) for i in batch]

    def __len__(self) -> int:
        return self.batches_per_rank - self.start


def collate(items: list[dict]) -> dict:
    """Right-pad both streams. mel [b,n,100] (0), mel_lens [b], text [b,nt] (-1), text_index [b,n] when
    items carry durations,
    motion [b,m,dg] / motion_context [b,m,dc] (0) and motion_lens [b] when any clip has motion."""
    b = len(items)
    mel_lens = torch.tensor([it["mel"].shape[0] for it in items])
    mel = items[0]["mel"].new_zeros(b, int(mel_lens.max()), items[0]["mel"].shape[1])
    text_lens = [it["text"].shape[0] for it in items]
    text = torch.full((b, max(1, max(text_lens))), -1, dtype=torch.long)
    for i, it in enumerate(items):
        mel[i, : mel_lens[i]] = it["mel"]
        text[i, : text_lens[i]] = it["text"]
    batch = {"mel": mel, "mel_lens": mel_lens, "text": text}
    if any("durations" in it for it in items):
        # text laid out by aligned durations; a clip without them (none found) is spread evenly
        from jamflow.model.durations import even_index, index_from_durations

        n = mel.shape[1]
        index = torch.full((b, n), -1, dtype=torch.long)
        for i, it in enumerate(items):
            if "durations" in it:
                index[i] = index_from_durations(it["durations"], n)
            elif text_lens[i]:
                index[i, : mel_lens[i]] = even_index(text_lens[i], int(mel_lens[i]))
        batch["text_index"] = index
    with_motion = [it for it in items if "motion" in it]
    if with_motion:
        ref = with_motion[0]
        motion_lens = torch.tensor([it["motion"].shape[0] if "motion" in it else 0 for it in items])
        m = int(motion_lens.max())
        motion = ref["motion"].new_zeros(b, m, ref["motion"].shape[1])
        context = ref["motion_context"].new_zeros(b, m, ref["motion_context"].shape[1])
        for i, it in enumerate(items):
            if "motion" in it:
                motion[i, : motion_lens[i]] = it["motion"]
                context[i, : motion_lens[i]] = it["motion_context"]
        batch.update(motion=motion, motion_context=context, motion_lens=motion_lens)
    return batch
