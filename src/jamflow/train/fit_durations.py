"""Fit the phoneme duration predictor and store it in an inference checkpoint (`jamflow fit-durations`).

    jamflow fit-durations --cache corpus/cache_phoneme --checkpoint export --out export

The predictor (jamflow.model.duration_predictor) learns the durations `jamflow align` wrote for the
cache's train split; it reads only token ids and a voice vector, never the DiT, so it is fitted after
the DiT has been trained and exported. 5% of the train clips (by a hash of the id) are kept aside to
pick the epoch and to report how well it lays text out, next to the mean-duration table it replaces.
Each clip's voice comes from *another* clip of its speaker, as a prompt does at inference.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from jamflow.errors import UserError
from jamflow.timeline import MEL_FPS

P_NO_VOICE = 0.15  # share of training clips shown without a voice (inference without a prompt)
MS_PER_FRAME = 1000 / MEL_FPS  # one mel frame


def load_examples(cache_dir: Path) -> list[dict]:
    """Train-split clips with aligned durations: ids [nt], token frames [nt], speaker, voice [200]."""
    from jamflow.data.batching import load_cache_index
    from jamflow.model.duration_predictor import voice_features

    _, lines = load_cache_index(cache_dir)
    dur_path = cache_dir / "durations.npz"
    if not dur_path.is_file():
        raise UserError(f"--cache: expected {dur_path} (run `jamflow align --cache {cache_dir}` first)")
    durations = np.load(dur_path)
    examples = []
    for line in tqdm(sorted(lines, key=lambda l: l["id"]), desc="fit-durations: load", unit="clip"):
        if line.get("split", "train") != "train" or line["id"] not in durations:
            continue
        with np.load(cache_dir / line["file"]) as f:
            text, mel = f["text"].astype(np.int64), f["mel"]
        d = durations[line["id"]].astype(np.int64)
        if len(d) != len(text) + 2 or len(text) == 0:
            continue
        examples.append(dict(id=line["id"], speaker=line.get("speaker", ""), ids=text, frames=d[1:-1],
                             voice=voice_features(torch.from_numpy(mel)).numpy()))
    if len(examples) < 2:
        raise UserError(f"--cache: expected at least 2 aligned train clips in {cache_dir}, got {len(examples)}")
    return examples


def is_validation(clip_id: str) -> bool:
    return zlib.crc32(clip_id.encode()) % 20 == 0


def other_voice(ex: dict, by_speaker: dict[str, list[dict]], rank: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """The voice vector of a random other clip of ex's speaker (its own when it is alone).
    rank: each clip's position in its speaker's list, so that the others need not be listed per draw."""
    group = by_speaker[ex["speaker"]]
    k = int(rng.integers(max(1, len(group) - 1)))  # an index among the other clips
    if len(group) == 1:
        return ex["voice"]
    return group[k + (k >= rank[ex["id"]])]["voice"]


def make_batch(examples: list[dict], voices: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> text [b, nt] (-1 pad), target log(1 + frames) [b, nt], voice [b, 200]."""
    nt = max(len(e["ids"]) for e in examples)
    text = torch.full((len(examples), nt), -1, dtype=torch.long)
    target = torch.zeros(len(examples), nt)
    for i, e in enumerate(examples):
        text[i, : len(e["ids"])] = torch.from_numpy(e["ids"])
        target[i, : len(e["ids"])] = torch.log1p(torch.from_numpy(e["frames"]).float())
    return text, target, torch.from_numpy(np.stack(voices)).float()


def masked_mse(pred: torch.Tensor, target: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    keep = (text >= 0).float()
    return ((pred - target) ** 2 * keep).sum() / keep.sum()


def start_error_ms(weights: np.ndarray, truth: np.ndarray) -> float:
    """Mean |token start error| when `weights` are spread over the true total (what inference does)."""
    from jamflow.model.durations import spread

    laid = spread(np.maximum(weights, 1e-6), int(truth.sum()))
    return float(np.abs(np.cumsum(laid) - np.cumsum(truth))[:-1].mean() * MS_PER_FRAME) if len(truth) > 1 else 0.0


def evaluate(model, examples: list[dict], voices: list[np.ndarray], table: np.ndarray) -> dict:
    model.eval()
    errs, table_errs, losses = [], [], []
    with torch.no_grad():
        for k in range(0, len(examples), 64):
            batch = examples[k: k + 64]
            text, target, voice = make_batch(batch, voices[k: k + 64])
            pred = model(text, voice)
            losses.append(float(masked_mse(pred, target, text)) * len(batch))
            for i, e in enumerate(batch):
                frames = np.expm1(pred[i, : len(e["ids"])].numpy().astype(np.float64))
                errs.append(start_error_ms(frames, e["frames"]))
                table_errs.append(start_error_ms(table[e["ids"]], e["frames"]))
    return {"loss": sum(losses) / len(examples), "start_ms": float(np.mean(errs)),
            "table_start_ms": float(np.mean(table_errs))}


def fit(examples: list[dict], cfg, vocab: int, table: np.ndarray, epochs: int = 40, batch_size: int = 32,
        lr: float = 2e-3, seed: int = 0, progress: bool = True):
    """examples (load_examples) -> (fitted DurationPredictor in eval mode, validation figures of its
    best epoch). table [vocab]: the mean frames per token id, the baseline the figures compare with."""
    from jamflow.model.duration_predictor import DurationPredictor

    if int(max(e["ids"].max() for e in examples)) >= vocab:
        raise UserError(f"--cache: expected token ids below the model's vocabulary {vocab} (same tokenizer)")
    val = [e for e in examples if is_validation(e["id"])] or examples[-1:]  # a tiny set: its last clip
    val_ids = {e["id"] for e in val}
    train = [e for e in examples if e["id"] not in val_ids]
    by_speaker: dict[str, list[dict]] = {}
    for e in examples:
        by_speaker.setdefault(e["speaker"], []).append(e)
    rank = {e["id"]: i for group in by_speaker.values() for i, e in enumerate(group)}
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = DurationPredictor(cfg, vocab)
    if cfg.voice:
        all_voices = torch.from_numpy(np.stack([e["voice"] for e in train])).float()
        model.voice_mean.copy_(all_voices.mean(0))
        model.voice_std.copy_(all_voices.std(0).clamp(min=1e-3))
    val_voices = [other_voice(e, by_speaker, rank, np.random.default_rng(zlib.crc32(e["id"].encode()))) for e in val]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(train) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    best, best_state = None, None
    bar = tqdm(range(epochs), desc="fit-durations", unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        order = rng.permutation(len(train))
        for k in range(0, len(order), batch_size):
            batch = [train[i] for i in order[k: k + batch_size]]
            voices = [other_voice(e, by_speaker, rank, rng) if rng.random() >= P_NO_VOICE else np.full_like(e["voice"], np.nan)
                      for e in batch]
            text, target, voice = make_batch(batch, voices)
            loss = masked_mse(model(text, voice), target, text)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        figures = evaluate(model, val, val_voices, table)
        bar.set_postfix(val_loss=f"{figures['loss']:.4f}", start_ms=f"{figures['start_ms']:.1f}")
        if best is None or figures["loss"] < best["loss"]:
            best = figures
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    best.update(train_clips=len(train), val_clips=len(val))
    return model.eval(), best


def stored_dtype(path: Path) -> torch.dtype:
    """The dtype the checkpoint stores its floating-point parameters in (fp32 / fp16 / bf16)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            t = f.get_slice(key)
            dtype = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}.get(t.get_dtype())
            if dtype is not None and "inv_freq" not in key:
                return dtype
    return torch.float32


def attach(model, checkpoint, out, predictor, aligner=None) -> Path:
    """Write `model` (loaded from the inference checkpoint folder `checkpoint`) + the predictor (+ the
    cache's phone aligner, when given) to `out`, atomically. The predictor's parameters take the
    checkpoint's storage dtype; `out` may be `checkpoint`."""
    from jamflow.audio.phone_align import ALIGNER_NAME
    from jamflow.model.jam import CONFIG_NAME, WEIGHTS_NAME
    from jamflow.train.checkpoints import save_inference_folder

    checkpoint = Path(checkpoint)
    model.cfg.duration_predictor = predictor.cfg
    model.duration_predictor = predictor
    if aligner is not None:
        model.phone_aligner = aligner
    # vocab files and anything else that travels with the weights; the predictor's voice statistics
    # are buffers and stay fp32; the aligner is written by save_pretrained
    extra = [f for f in checkpoint.iterdir() if f.is_file() and f.name not in (WEIGHTS_NAME, CONFIG_NAME, ALIGNER_NAME)]
    return save_inference_folder(model, out, stored_dtype(checkpoint / WEIGHTS_NAME), extra)


def cache_aligner(cache: Path, vocab: int):
    """The phone aligner `jamflow align` left in the cache (None for a cache aligned before it kept one)."""
    from jamflow.audio.phone_align import ALIGNER_NAME, PhoneAligner

    if not (cache / ALIGNER_NAME).is_file():
        return None
    aligner = PhoneAligner.load(cache / ALIGNER_NAME)
    if aligner.vocab_size > vocab:
        raise UserError(f"--cache: expected an aligner for the model's {vocab} tokens, got {aligner.vocab_size}")
    return aligner


def fit_into_checkpoint(cache: Path, checkpoint: Path, out, cfg, epochs: int = 40, batch_size: int = 32,
                        lr: float = 2e-3, seed: int = 0) -> tuple[Path, int, dict]:
    """Fit a duration predictor on `cache` for the model in `checkpoint` and write both to `out`.
    -> (out folder, predictor parameters, figures of the held-out layout error)."""
    from jamflow.model.jam import JAMModel

    model = JAMModel.from_pretrained(checkpoint)
    table = model.cfg.audio.text_durations
    if table is None:
        raise UserError(f"checkpoint: expected a model that lays text out by durations (audio.text_durations), "
                        f"got none in {checkpoint}")
    vocab = model.cfg.audio.text_num_embeds
    per = np.asarray(table["frames_per_token"], dtype=np.float64)
    per = np.concatenate([per, np.full(max(0, vocab - len(per)), per.mean())])
    aligner = cache_aligner(cache, vocab)  # checked before the fit, which takes minutes
    predictor, figures = fit(load_examples(cache), cfg, vocab, per, epochs, batch_size, lr, seed)
    out = attach(model, checkpoint, out, predictor, aligner)
    return out, sum(p.numel() for p in predictor.parameters()), figures
