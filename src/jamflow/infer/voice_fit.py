"""Fitted voices: low-rank adapters trained on one reference clip, so that the model clones it more closely.

    voice = fit_voice(engine, wav, "what the clip says", VoiceFitConfig())   # 40 updates: ~1 min, 2 CPU cores
    voice.save("me.voice.safetensors");  voice = load_voice("me.voice.safetensors")
    originals = apply_voice(engine.model, voice)     # the fitted update folded into the block weights
    restore_weights(engine.model, originals)         # back to the base model, bit for bit

Why: the model has heard a few synthetic voice families, and a voice outside them comes out nearer a
seen voice than the reference (docs/model_card.md, Limitations). LoRA adapters (model/lora.py) on every
linear of both DiTs' blocks are trained by the training loss (model/cfm.py: flow matching, most of the
clip masked, condition dropout) on the reference clip and its transcript alone; the base weights do not
move. At full size the update also copies the recording's noise and band limit, which costs words, so it
is applied at `strength` 0.5 unless asked otherwise (recipes/voices_model/README.md has the figures).

A voice file (safetensors) holds the adapters, the reference clip and its transcript (the voice clones
from that clip), and the fingerprint of the model it was fitted to: it is refused by any other model.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jamflow import progress
from jamflow.errors import UserError
from jamflow.fileio import atomic_path
from jamflow.model.lora import named_block_linears

FORMAT = "jamflow-voice"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
REFERENCE_KEY = "reference.wav"


@dataclass(frozen=True)
class VoiceFitConfig:
    steps: int = 40  # AdamW updates of the adapters
    rank: int = 8  # adapter rank on every block linear
    lr: float = 1e-3
    batch: int = 4  # copies of the clip per update, each with its own mask, flow time and noise
    seed: int = 0  # adapter init, masks, noise and dropout
    strength: float = 0.5  # the fitted update is applied times this (1: as fitted)
    layers: str = "."  # regex on the block linears' names whose adapters train (".": all)

    def check(self) -> "VoiceFitConfig":
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 1000):
            raise UserError(f"voice_steps: expected an integer in 1..1000, got {self.steps!r}")
        if not (isinstance(self.rank, int) and 1 <= self.rank <= 64):
            raise UserError(f"voice_rank: expected an integer in 1..64, got {self.rank!r}")
        if not (isinstance(self.batch, int) and 1 <= self.batch <= 32):
            raise UserError(f"voice_batch: expected an integer in 1..32, got {self.batch!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr <= 0.1):
            raise UserError(f"voice_lr: expected a number in (0, 0.1], got {self.lr!r}")
        check_strength(self.strength)
        try:
            re.compile(self.layers)
        except (re.error, TypeError) as e:
            raise UserError(f"voice_layers: expected a regular expression, got {self.layers!r} ({e})") from None
        return self


def check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise UserError(f"voice_strength: expected a number in (0, 1], got {strength!r}")
    return float(strength)


@dataclass
class FittedVoice:
    wav: np.ndarray  # [samples] float32 at 24 kHz: the reference clip it was fitted to, and clones from
    text: str  # the clip's transcript
    adapters: dict[str, tuple[torch.Tensor, torch.Tensor]]  # block linear -> (A [r, in], B [out, r]), fp32
    fingerprint: str  # voice_fingerprint of the model it was fitted to
    strength: float = 0.5  # how much of the update apply_voice folds in
    fit: dict = field(default_factory=dict)  # the VoiceFitConfig, the first/last losses, seconds

    def save(self, path) -> Path:
        """-> `path` (a .safetensors file), written atomically."""
        from safetensors.torch import save_file

        path = Path(path)
        if path.suffix != SUFFIX:
            raise UserError(f"output: expected a voice file name ending in {SUFFIX}, got {path.name!r}")
        tensors = {REFERENCE_KEY: torch.from_numpy(np.ascontiguousarray(self.wav, dtype=np.float32))}
        for name, (a, b) in self.adapters.items():
            tensors[f"{name}.lora_a"], tensors[f"{name}.lora_b"] = a.contiguous(), b.contiguous()
        meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "text": self.text,
                "fingerprint": self.fingerprint, "strength": repr(self.strength), "fit": json.dumps(self.fit)}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path


def load_voice(path, flag: str = "voice") -> FittedVoice:
    """A voice file written by `FittedVoice.save` (`jamflow voice`), checked."""
    from safetensors import safe_open

    path = Path(path)
    expected = f"{flag}: expected a voice file from `jamflow voice` (.safetensors)"
    if not path.is_file():
        raise UserError(f"{expected}, got missing path {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise UserError(f"{expected}, got {path.name} (format {meta.get('format')!r})")
            if meta.get("format_version") != str(FORMAT_VERSION):
                raise UserError(f"{expected} of format version {FORMAT_VERSION}, got {meta.get('format_version')!r}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for a damaged file
        raise UserError(f"{expected}, got an unreadable file {path.name} ({e})") from None
    wav = tensors.pop(REFERENCE_KEY, None)
    names = sorted({k.rsplit(".", 1)[0] for k in tensors})
    if wav is None or not names or any(f"{n}.lora_a" not in tensors or f"{n}.lora_b" not in tensors for n in names):
        raise UserError(f"{expected}, got {path.name} without its reference clip or adapter pairs")
    try:
        strength, fit = float(meta["strength"]), json.loads(meta.get("fit", "{}"))
        text, fingerprint = meta["text"], meta["fingerprint"]
    except (KeyError, ValueError) as e:
        raise UserError(f"{expected}, got {path.name} with broken metadata ({e})") from None
    adapters = {n: (tensors[f"{n}.lora_a"].float(), tensors[f"{n}.lora_b"].float()) for n in names}
    return FittedVoice(wav.float().numpy(), text, adapters, fingerprint, check_strength(strength), fit)


def voice_fingerprint(model: nn.Module) -> str:
    """The model a voice's adapters were trained against: its DiT weights rounded to bf16, so that one
    checkpoint's fp32 and bf16-compute copies agree."""
    from jamflow.model.student import dit_fingerprint

    return dit_fingerprint(model, torch.bfloat16)


def fit_voice(engine, wav: np.ndarray, text: str, cfg: VoiceFitConfig = VoiceFitConfig(),
              show_progress: bool = True) -> FittedVoice:
    """Adapters fitted to the reference `wav` [s] at 24 kHz and its transcript on `engine`'s model (which
    is left as it was) -> the voice, at `cfg.strength`."""
    from jamflow.model.lora import LoRALinear, add_lora, unwrap_lora

    cfg.check()
    if engine.int8:
        raise UserError("dtype: expected float weights to fit a voice, got int8; drop --dtype int8")
    if getattr(engine.model, "student", None) is not None:
        raise UserError("fast: expected the full model to fit a voice, got a few-step student; drop --fast")
    model, started = engine.model, time.perf_counter()
    batch, heard = reference_batch(engine, wav, text, cfg.batch)
    if str(text).strip().lower() == "auto":  # transcribed once, here, not at every use
        text = heard
    fingerprint = voice_fingerprint(model)
    trainable = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in trainable:
        p.requires_grad_(False)
    cuda = [engine.device.index or 0] if engine.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):  # seeded A init and dropout; the caller's random state is kept
            torch.manual_seed(cfg.seed)
            add_lora(model, cfg.rank)
            layers = [(name, m) for name, m in named_block_linears(model)
                      if isinstance(m, LoRALinear) and re.search(cfg.layers, name)]
            if not layers:
                raise UserError(f"voice_layers: expected a pattern matching some block linear, got {cfg.layers!r}")
            losses = _train(engine, [m for _, m in layers], batch, cfg, show_progress)
        # an adapter whose B is still 0 never trained (the motion stream: the clip has no motion) and is dropped
        adapters = {name: (m.lora_a.detach().float().cpu().clone(), (m.lora_b.detach() * m.scale).float().cpu().clone())
                    for name, m in layers if m.lora_b.detach().abs().max() > 0}
    finally:
        unwrap_lora(model)
        for p, flag in trainable:
            p.requires_grad_(flag)
        model.eval()
    fit = {**asdict(cfg), "loss_first": float(np.mean(losses[:5])), "loss_last": float(np.mean(losses[-5:])),
           "seconds": round(time.perf_counter() - started, 1)}
    return FittedVoice(np.asarray(wav, dtype=np.float32), text, adapters, fingerprint, cfg.strength, fit)


def _train(engine, layers: list, batch: dict, cfg: VoiceFitConfig, show_progress: bool) -> list[float]:
    """`cfg.steps` AdamW updates of the adapters of `layers` by the training loss on `batch` -> the losses."""
    from jamflow.dtypes import autocast
    from jamflow.model.cfm import MaskConfig, cfm_loss

    params = [p for layer in layers for p in (layer.lora_a, layer.lora_b)]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(cfg.seed)  # cfm_loss draws masks, times and noise on the CPU
    batch = {k: v.to(engine.device) for k, v in batch.items()}
    steps = range(cfg.steps)
    if show_progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="fitting voice", unit="update")
    engine.model.train()  # dropout, as in training
    losses = []
    for step in steps:
        with autocast(engine.device, engine.dtype):
            loss = cfm_loss(engine.model, batch, MaskConfig(), generator=generator)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()
        losses.append(loss.item())
        if show_progress:
            steps.set_postfix(loss=f"{losses[-1]:.3f}")
        progress.report("voice fit", step + 1, cfg.steps)
    return losses


def reference_batch(engine, wav: np.ndarray, text: str, copies: int) -> tuple[dict, str]:
    """The reference clip as the training loader gives a clip (trimmed, loudness-normalised, its text laid
    out where the clip speaks it by the model's phone aligner), `copies` times -> (batch, the transcript as
    the model reads it)."""
    from jamflow.infer.layout.tokens import aligned_durations
    from jamflow.infer.prompt import reference_prompt
    from jamflow.model.durations import text_index_for

    model = engine.model
    prompt = reference_prompt(engine, wav, text, None)
    mel = prompt.mel.float()  # [n, 100]
    n, ids = mel.shape[0], list(engine.tokenizer.encode(prompt.text))
    batch = {"mel": mel[None].repeat(copies, 1, 1), "mel_lens": torch.full((copies,), n),  # [b, n, 100], [b]
             "text": torch.tensor(ids)[None].repeat(copies, 1)}  # [b, nt]
    table = model.cfg.audio.text_durations
    if table is not None:  # a model that lays text out by durations: where the clip speaks each token
        durations = aligned_durations(model, ids, mel)  # None without an aligner: the table's layout
        index = text_index_for(table, [(ids, n, True, True, durations, None)], n)
        batch["text_index"] = index[None].repeat(copies, 1)  # [b, n]
    return batch, prompt.text


def apply_voice(model: nn.Module, voice: FittedVoice, strength: float | None = None,
                check: bool = True) -> dict[str, torch.Tensor]:
    """Fold `strength` (default: the voice's) x B A into each adapted block linear's weight, in place ->
    the weights it replaced, for `restore_weights`. `check`: the model's fingerprint first (~1 s on a
    CPU; a server checks its voices once, at start-up)."""
    strength = check_strength(voice.strength if strength is None else strength)
    found = voice_fingerprint(model) if check else voice.fingerprint
    if found != voice.fingerprint:
        raise UserError(f"voice: expected the model it was fitted to (fingerprint {voice.fingerprint[:12]}), got "
                        f"a different one ({found[:12]}); fit the voice again with this model")
    linears = dict(named_block_linears(model))
    missing = sorted(set(voice.adapters) - set(linears))
    if missing:
        raise UserError(f"voice: expected adapters for this model's block linears, got unknown {missing[:3]}")
    originals = {}
    with torch.no_grad():
        for name, (a, b) in voice.adapters.items():
            weight = linears[name].weight
            originals[name] = weight.detach().clone()
            update = (b.to(weight.device) @ a.to(weight.device)) * strength  # [out, in]
            weight.copy_((weight.float() + update).to(weight.dtype))
    return originals


def restore_weights(model: nn.Module, originals: dict[str, torch.Tensor]) -> None:
    """Undo `apply_voice`: the weights it replaced, put back."""
    linears = dict(named_block_linears(model))
    with torch.no_grad():
        for name, weight in originals.items():
            linears[name].weight.copy_(weight)
