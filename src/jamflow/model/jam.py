"""JAMModel: Audio-DiT + Motion-DiT meeting in selected joint-attention layers (MM-DiT).

Layers run in the order the pairing allows: unpaired layers are per-stream self-attention, a pair
[a, j] runs audio layer a and motion layer j as one joint attention over [audio; motion] with
time-aligned RoPE and a cross-modal window mask. Without motion input the audio stream runs alone
and is exactly the F5 DiT.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from jamflow.config import JAMConfig
from jamflow.errors import UserError
from jamflow.fileio import atomic_path, write_json_atomic
from jamflow.model.attention import AttentionBackend, attention_backend, padding_mask
from jamflow.model.audio_dit import AudioDiT
from jamflow.model.checkpoint_files import (  # noqa: F401 - check_safetensors: re-exported for the loaders
    BASE_KEY, CONFIG_NAME, WEIGHTS_NAME, base_folder, check_safetensors, read_aligner, read_weights)
from jamflow.model.motion_dit import MotionDiT
from jamflow.model.problem import SamplingProblem
from jamflow.model.rope import Rotation


@dataclass
class Layout:
    """Masks and RoPE angles of one forward pass; they depend only on lengths and masks (JAMModel.prepare)."""

    lengths: tuple[int, int | None]  # (n, m); m None = audio only
    audio_mask: torch.Tensor | None  # [b, n] bool, None = all valid
    motion_mask: torch.Tensor | None  # [b, m] bool, None = all valid
    rope_a: Rotation  # angles [n, dim_head]
    rope_m: Rotation | None  # angles [m, dim_head]
    mask_a: torch.Tensor | None  # key padding [b, 1, 1, n]
    mask_m: torch.Tensor | None  # key padding [b, 1, 1, m]
    mask_j: object  # [b or 1, 1, n+m, n+m] bool, a FlexAttention BlockMask, or None
    _additive: dict = field(default_factory=dict, repr=False)

    def joint_mask_for(self, dtype: torch.dtype):
        """mask_j as an additive mask (0 / -inf) in the attention dtype, made once per dtype: given a
        boolean mask, SDPA on CPU converts it at every call (about 3% of a sampling step here)."""
        if not isinstance(self.mask_j, torch.Tensor) or self.mask_j.dtype != torch.bool:
            return self.mask_j
        if dtype not in self._additive:
            zero = torch.zeros((), dtype=dtype, device=self.mask_j.device)
            self._additive[dtype] = torch.where(self.mask_j, zero, float("-inf"))
        return self._additive[dtype]


class JAMModel(nn.Module):
    """attention: how the joint layers attend, "sdpa" (default) or "flex" (attention.AttentionBackend).
    It is not a config field because every backend gives the same results."""

    def __init__(self, cfg: JAMConfig, attention: str | AttentionBackend = "sdpa"):
        super().__init__()
        self.cfg = cfg
        self.attention = attention_backend(attention)
        self.audio = AudioDiT(cfg.audio)
        self.motion = None
        if cfg.motion is not None:
            self.motion = MotionDiT(cfg.motion, cfg.motion_gen_dim, cfg.motion_context_dim, cfg.mel_per_motion)
        self.duration_predictor = None
        if cfg.duration_predictor is not None:
            from jamflow.model.duration_predictor import DurationPredictor

            self.duration_predictor = DurationPredictor(cfg.duration_predictor, cfg.audio.text_num_embeds, cfg.audio.mel_dim)
        self.schedule = layer_schedule(cfg.audio.depth, cfg.motion.depth if cfg.motion else 0, cfg.joint_layers)
        self.motion_stats: dict | None = None  # {"mean": [...], "std": [...]} travels with the checkpoint
        self.phone_aligner = None  # audio.phone_align.PhoneAligner: lays a given audio's transcript out

    @property
    def window_mel(self) -> float | None:
        """Half-width of the cross-modal window in mel frames."""
        w = self.cfg.joint_window_s
        return None if w is None else w * self.cfg.mel_fps

    def forward(
        self,
        audio_x: torch.Tensor,  # [b, n, 100]
        audio_cond: torch.Tensor,  # [b, n, 100]
        text: torch.Tensor,  # [b, nt] int, -1 pad
        time: torch.Tensor,  # [b] (or scalar)
        motion_x: torch.Tensor | None = None,  # [b, m, dg]
        motion_cond: torch.Tensor | None = None,  # [b, m, dg]
        motion_context: torch.Tensor | None = None,  # [b, m, dc]
        audio_mask: torch.Tensor | None = None,  # [b, n] bool, True = valid
        motion_mask: torch.Tensor | None = None,  # [b, m] bool
        drop_audio_cond=False,  # bool or bool [b]
        drop_text=False,
        drop_motion_cond=False,
        layout: Layout | None = None,
        text_index: torch.Tensor | None = None,  # [b, n] token position per mel frame, -1 none
        text_features: torch.Tensor | None = None,  # [b, n, text_dim] from text_features(), None = compute
    ):
        """-> (v_audio [b, n, 100], v_motion [b, m, dg] or None).

        layout: `prepare(...)` of these same masks and lengths, so that a caller running many steps
        (the sampler) builds the masks and RoPE angles once; built here when None. text_features: the
        same for the text encoder (it sees neither x nor time), as F5-TTS caches it at inference.
        """
        with_motion = motion_x is not None
        self._check_shapes(audio_x, audio_cond, text, motion_x, motion_cond, motion_context)
        if with_motion and motion_cond is None:
            motion_cond = torch.zeros_like(motion_x)
        b, n = audio_x.shape[:2]
        m = motion_x.shape[1] if with_motion else None
        if layout is None:
            layout = self.prepare(b, n, m, audio_mask, motion_mask, audio_x.device)
        elif layout.lengths != (n, m):
            raise UserError(f"layout: expected one prepared for (n, m) = {(n, m)}, got {layout.lengths}")
        rope_a, rope_m, mask_a, mask_m = layout.rope_a, layout.rope_m, layout.mask_a, layout.mask_m

        if text_features is not None and text_features.shape[:2] != (b, n):
            raise UserError(f"text_features: expected [{b}, {n}, text_dim], got {list(text_features.shape)}")
        ha, ta, _ = self.audio.embed(audio_x, audio_cond, text, time, layout.audio_mask, drop_audio_cond, drop_text,
                                     rope=rope_a, text_index=text_index, text_h=text_features)
        if with_motion:
            hm, tm = self.motion.embed(motion_x, motion_cond, motion_context, time, layout.motion_mask, drop_motion_cond)

        for kind, a, j in self.schedule:
            if kind == "audio" or (kind == "joint" and not with_motion):
                ha = self.audio.blocks[a](ha, ta, rope_a, mask_a)
            elif kind == "motion":
                if with_motion:
                    hm = self.motion.blocks[j](hm, tm, rope_m, mask_m)
            else:
                ha, hm = self._joint(self.audio.blocks[a], self.motion.blocks[j], ha, hm, ta, tm, layout)

        v_audio = self.audio.final(ha, ta)
        v_motion = self.motion.final(hm, tm) if with_motion else None
        return v_audio, v_motion

    def prepare(self, batch: int, n: int, m: int | None, audio_mask=None, motion_mask=None, device=None) -> Layout:
        """What forward derives from lengths and masks alone: masks [b, n] / [b, m] bool (None = all
        valid), m = None for audio only. Reusable for every call with the same masks."""
        device = self.audio.rope.inv_freq.device if device is None else device
        audio_mask = _drop_if_full(audio_mask)
        motion_mask = _drop_if_full(motion_mask) if m is not None else None
        rope_a = self.audio.rope(torch.arange(n, device=device))
        rope_m = mask_j = None
        if m is not None:
            rope_m = self.motion.rope(self.motion.positions(m, device))
            mask_j = self.attention.joint_mask(audio_mask, motion_mask, batch, n, m, self.cfg.mel_per_motion,
                                               self.window_mel, device)
        return Layout((n, m), audio_mask, motion_mask, rope_a, rope_m, padding_mask(audio_mask),
                      padding_mask(motion_mask), mask_j)

    def text_features(self, text, layout: Layout, drop_text=False, text_index=None) -> torch.Tensor:
        """text [b, nt] -> the text encoder's frame features [b, n, text_dim] for forward(text_features=)."""
        return self.audio.text_embed(text, layout.lengths[0], drop_text=drop_text, valid=layout.audio_mask,
                                     text_index=text_index)

    def guided_velocity(self, problem: SamplingProblem, t: float, audio_x: torch.Tensor,
                        motion_x: torch.Tensor | None):
        """Velocity at flow time t with classifier-free guidance -> (v_audio [b, n, 100], v_motion [b, m, dg] or None).

        audio_x [b, n, 100], motion_x [b, m, dg] or None: the current state of the unknown frames.
        Per stream v = v_cond + (v_cond - v_null) * strength, where the null branch drops the text, audio
        and motion conditions; both branches run packed in one batch of 2b (problem.inputs). Calls at
        t >= problem.cfg_until run the conditional batch alone (problem.alone), at half the cost.
        """
        if problem.alone is not None and t >= problem.cfg_until:
            time = torch.full((problem.batch,), float(t), device=problem.device)
            return self(audio_x=audio_x, time=time, motion_x=motion_x, **problem.alone)
        time = torch.full((problem.packed_batch,), float(t), device=problem.device)
        va, vm = self(audio_x=problem.pack(audio_x), time=time, motion_x=problem.pack(motion_x), **problem.inputs)
        if not problem.guided:
            return va, vm
        va_c, va_u = va.chunk(2)
        va = va_c + (va_c - va_u) * problem.cfg_audio
        if vm is not None:
            vm_c, vm_u = vm.chunk(2)
            vm = vm_c + (vm_c - vm_u) * problem.cfg_motion
        return va, vm

    def _check_shapes(self, audio_x, audio_cond, text, motion_x, motion_cond, motion_context) -> None:
        mel = self.cfg.audio.mel_dim
        if audio_x.dim() != 3 or audio_x.shape[-1] != mel:
            raise UserError(f"audio_x: expected [b, n, {mel}], got {list(audio_x.shape)}")
        if audio_cond.shape != audio_x.shape:
            raise UserError(f"audio_cond: expected {list(audio_x.shape)}, got {list(audio_cond.shape)}")
        if text.dim() != 2 or text.shape[0] != audio_x.shape[0] or text.is_floating_point():
            raise UserError(f"text: expected int ids [{audio_x.shape[0]}, nt], got {text.dtype} {list(text.shape)}")
        if motion_x is None:
            return
        if self.motion is None:
            raise UserError("motion_x: this model has no motion stream, pass None")
        b, dg, dc = audio_x.shape[0], self.motion.gen_dim, self.motion.context_dim
        if motion_x.dim() != 3 or motion_x.shape[0] != b or motion_x.shape[-1] != dg:
            raise UserError(f"motion_x: expected [{b}, m, {dg}] (motion spec {self.cfg.spec.name}), got {list(motion_x.shape)}")
        if motion_cond is not None and motion_cond.shape != motion_x.shape:
            raise UserError(f"motion_cond: expected {list(motion_x.shape)}, got {list(motion_cond.shape)}")
        if motion_context is not None and tuple(motion_context.shape) != (b, motion_x.shape[1], dc):
            raise UserError(f"motion_context: expected {[b, motion_x.shape[1], dc]}, got {list(motion_context.shape)}")

    def _joint(self, block_a, block_m, ha, hm, ta, tm, layout: Layout):
        """One joint layer: both streams' q/k/v concatenated [audio; motion], attended once, split back."""
        na, mod_a = block_a.before_attention(ha, ta)
        nm, mod_m = block_m.before_attention(hm, tm)
        qa, ka, va = block_a.attn.project(na, layout.rope_a)
        qm, km, vm = block_m.attn.project(nm, layout.rope_m)
        mask = layout.joint_mask_for(qa.dtype)
        o = self.attention.attend(torch.cat((qa, qm), 2), torch.cat((ka, km), 2), torch.cat((va, vm), 2), mask)
        oa, om = o.split((ha.shape[1], hm.shape[1]), dim=2)
        ha = block_a.after_attention(ha, block_a.attn.output(oa), mod_a)
        hm = block_m.after_attention(hm, block_m.attn.output(om), mod_m)
        return ha, hm

    # --- parameters and checkpoints -------------------------------------------------------
    def num_params(self) -> dict:
        count = lambda mod: sum(p.numel() for p in mod.parameters()) if mod is not None else 0  # noqa: E731
        return {"audio": count(self.audio), "motion": count(self.motion), "total": count(self)}

    def save_pretrained(self, directory, motion_stats: dict | None = None) -> None:
        """Write model.safetensors + config.json (config, motion stats) atomically into directory."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stats = motion_stats if motion_stats is not None else self.motion_stats
        if stats is not None:
            stats = {k: [float(x) for x in torch.as_tensor(v).flatten().tolist()] for k, v in stats.items()}
        meta = {"format": "jamflow", "format_version": 1, "config": self.cfg.to_dict(), "motion_stats": stats}
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        write_json_atomic(directory / CONFIG_NAME, meta, indent=2)
        if self.phone_aligner is not None:
            from jamflow.audio.phone_align import ALIGNER_NAME

            self.phone_aligner.save(directory / ALIGNER_NAME)

    @classmethod
    def from_pretrained(cls, directory, device="cpu", attention: str | AttentionBackend = "sdpa") -> "JAMModel":
        directory = Path(directory)
        meta = read_checkpoint_meta(directory)
        try:
            model = cls(JAMConfig.from_dict(meta["config"]), attention)
        except (TypeError, ValueError, KeyError, AttributeError) as e:  # a field of the wrong type or value
            raise UserError(f"checkpoint: expected valid model settings in {directory / CONFIG_NAME}, got "
                            f"{type(e).__name__}: {e}") from None
        # load_state_dict copies into the fp32 parameters, so fp16/bf16 exports load as fp32 too
        load_state_strict(model, read_weights(directory, meta), str(directory / WEIGHTS_NAME))
        model.motion_stats = meta.get("motion_stats")
        model.phone_aligner = read_aligner(directory, meta)
        if model.phone_aligner is not None and model.phone_aligner.vocab_size > model.cfg.audio.text_num_embeds:
            raise UserError(f"checkpoint: expected an aligner for at most {model.cfg.audio.text_num_embeds} tokens "
                            f"in {directory}, got {model.phone_aligner.vocab_size}")
        return model.to(device).eval()


CHECKPOINT_KEYS = {"format", "format_version", "config", "motion_stats", BASE_KEY}


def read_checkpoint_meta(directory) -> dict:
    """config.json of a checkpoint folder, checked (UTF-8 JSON, known keys, a config table, stats of the
    right size) without building the model or reading the weights."""
    directory = Path(directory)
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not (directory / name).is_file():
            raise UserError(f"checkpoint: expected {directory / name} to exist, got no such file")
    path = directory / CONFIG_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"checkpoint: expected UTF-8 JSON in {path}, got byte 0x{e.object[e.start]:02x} at "
                        f"offset {e.start}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"checkpoint: expected valid JSON in {path}, got {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        got = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise UserError(f"checkpoint: expected a jamflow config.json with a 'config' table in {directory}, got {got}")
    unknown = sorted(set(meta) - CHECKPOINT_KEYS)
    if unknown:
        raise UserError(f"checkpoint: expected keys among {sorted(CHECKPOINT_KEYS)} in {path}, got unknown {unknown}")
    stats = meta.get("motion_stats")
    if stats is not None:
        ok = isinstance(stats, dict) and all(isinstance(stats.get(k), list) and len(stats[k]) == 70
                                             and all(isinstance(x, (int, float)) for x in stats[k])
                                             for k in ("mean", "std"))
        if not ok:
            raise UserError(f"checkpoint: expected motion_stats {{mean, std: 70 numbers each}} in {path}, got "
                            f"{type(stats).__name__}")
    base_folder(directory, meta)  # a named base must be there before anything loads
    return meta


def load_state_strict(model: nn.Module, state: dict, source: str) -> None:
    """Load every key with a shape check; any missing/unexpected/mis-shaped key is an error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise UserError(f"{source}: weights do not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}, "
                        f"shape mismatch {wrong[:5]} ({len(missing)}/{len(unexpected)}/{len(wrong)})")
    model.load_state_dict(state, strict=True)


def layer_schedule(audio_depth: int, motion_depth: int, pairs) -> list[tuple[str, int, int]]:
    """Order of layer calls: ("audio", a, -1), ("motion", -1, j), ("joint", a, j)."""
    ops, a, j = [], 0, 0
    for pa, pj in pairs:
        ops += [("audio", i, -1) for i in range(a, pa)] + [("motion", -1, i) for i in range(j, pj)]
        ops.append(("joint", pa, pj))
        a, j = pa + 1, pj + 1
    ops += [("audio", i, -1) for i in range(a, audio_depth)] + [("motion", -1, i) for i in range(j, motion_depth)]
    return ops


def _drop_if_full(valid):
    """An all-valid mask changes nothing: drop it so attention takes the mask-free path."""
    return None if valid is None or bool(valid.all()) else valid


