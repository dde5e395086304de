"""F5-TTS checkpoints -> Audio-DiT, and a jamflow model around one (`jamflow import-f5`).

The released files hold `ema_model.transformer.<key>` (flat .safetensors) or, in a training .pt,
`ema_model_state_dict` with the same keys plus `initted` / `step`. The official key names are
written out below next to ours; loading checks every key and shape both ways and fails on any
difference. Two checkpoints share one parameter tree but not one meaning, so the caller names
the version: v1 (F5TTS_v1_Base: RoPE on all heads, text padding masked) or v0 (F5TTS_Base: RoPE
on head 0 only, no text padding mask).
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from jamflow.config import AudioDiTConfig, JAMConfig, MotionDiTConfig, get_preset
from jamflow.errors import UserError
from jamflow.model.audio_dit import AudioDiT
from jamflow.model.jam import JAMModel
from jamflow.model.rope import RotaryEmbedding

VERSIONS = {
    "v1": dict(text_mask_padding=True, pe_attn_head=None),
    "v0": dict(text_mask_padding=False, pe_attn_head=1),
}

# official F5 key (after `transformer.`) -> ours; "{i}" is a block / text-block index
_TOP = {
    "time_embed.time_mlp.0": "time_embed.mlp.0",
    "time_embed.time_mlp.2": "time_embed.mlp.2",
    "text_embed.text_embed": "text_embed.embed",
    "input_embed.proj": "input_proj",
    "input_embed.conv_pos_embed.conv1d.0": "conv_pos.conv1",
    "input_embed.conv_pos_embed.conv1d.2": "conv_pos.conv2",
    "norm_out.linear": "norm_out.linear",
    "proj_out": "proj_out",
}
_TEXT_BLOCK = {  # text_embed.text_blocks.{i}.<k> -> text_embed.blocks.{i}.<v>
    "dwconv": "dwconv", "norm": "norm", "pwconv1": "pwconv1", "pwconv2": "pwconv2",
}
_BLOCK = {  # transformer_blocks.{i}.<k> -> blocks.{i}.<v>
    "attn_norm.linear": "adaln.linear",
    "attn.to_q": "attn.to_q",
    "attn.to_k": "attn.to_k",
    "attn.to_v": "attn.to_v",
    "attn.to_out.0": "attn.to_out",
    "ff.ff.0.0": "ff.fc1",
    "ff.ff.2": "ff.fc2",
}


def f5_key_map(depth: int, conv_layers: int) -> dict[str, str]:
    """Every official F5 DiT key (without `transformer.`) -> our AudioDiT key. 364 keys for Base."""
    out = {}
    for k, v in _TOP.items():
        which = ("weight",) if k == "text_embed.text_embed" else ("weight", "bias")
        out.update({f"{k}.{w}": f"{v}.{w}" for w in which})
    for i in range(conv_layers):
        for k, v in _TEXT_BLOCK.items():
            out.update({f"text_embed.text_blocks.{i}.{k}.{w}": f"text_embed.blocks.{i}.{v}.{w}" for w in ("weight", "bias")})
        out.update({f"text_embed.text_blocks.{i}.grn.{w}": f"text_embed.blocks.{i}.grn.{w}" for w in ("gamma", "beta")})
    for i in range(depth):
        for k, v in _BLOCK.items():
            out.update({f"transformer_blocks.{i}.{k}.{w}": f"blocks.{i}.{v}.{w}" for w in ("weight", "bias")})
    out["rotary_embed.inv_freq"] = "rope.inv_freq"
    return out


def read_f5_state(path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file -> {official key without `transformer.`: tensor}."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint: expected an F5-TTS .safetensors or .pt file, got {str(path)!r} (not a file)")
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    elif path.suffix in (".pt", ".pth", ".bin", ".ckpt"):
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file for the user
            raise UserError(f"checkpoint: expected a weights-only torch file, got {path.name}: {e}") from None
        if isinstance(state, dict) and "ema_model_state_dict" in state:
            state = state["ema_model_state_dict"]
    else:
        raise UserError(f"checkpoint: expected a .safetensors or .pt file, got {path.name}")
    if not isinstance(state, dict):
        raise UserError(f"checkpoint: expected a state dict, got {type(state).__name__}")
    out = {}
    for key, value in state.items():
        if key in ("initted", "step") or not torch.is_tensor(value):
            continue
        key = key.removeprefix("ema_model.")
        if key.startswith("mel_spec."):  # old checkpoints carry the mel filterbank; not model weights
            continue
        if not key.startswith("transformer."):
            raise UserError(f"checkpoint: expected keys 'ema_model.transformer.*', got {key!r}")
        out[key.removeprefix("transformer.")] = value
    if not out:
        raise UserError(f"checkpoint: expected F5-TTS transformer weights in {path.name}, got none")
    return out


def infer_config(state: dict, version: str = "v1") -> AudioDiTConfig:
    """Read the architecture off the tensor shapes (dim_head from the RoPE buffer)."""
    if version not in VERSIONS:
        raise UserError(f"version: expected 'v1' or 'v0', got {version!r}")
    need = ["proj_out.weight", "rotary_embed.inv_freq", "text_embed.text_embed.weight", "time_embed.time_mlp.0.weight",
            "input_embed.conv_pos_embed.conv1d.0.weight", "transformer_blocks.0.ff.ff.0.0.weight"]
    absent = [k for k in need if k not in state]
    if absent:
        raise UserError(f"checkpoint: expected an F5-TTS DiT, missing {absent}")
    mel_dim, dim = state["proj_out.weight"].shape
    dim_head = 2 * state["rotary_embed.inv_freq"].shape[0]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("transformer_blocks."))
    text_blocks = [int(k.split(".")[2]) for k in state if k.startswith("text_embed.text_blocks.")]
    vocab_rows, text_dim = state["text_embed.text_embed.weight"].shape
    conv = state["input_embed.conv_pos_embed.conv1d.0.weight"]  # [dim, dim / groups, kernel]
    if dim % dim_head:
        raise UserError(f"checkpoint: expected dim divisible by dim_head {dim_head}, got dim {dim}")
    return AudioDiTConfig(
        dim=dim, depth=depth, heads=dim // dim_head, dim_head=dim_head,
        ff_mult=state["transformer_blocks.0.ff.ff.0.0.weight"].shape[0] // dim,
        text_dim=text_dim, conv_layers=1 + max(text_blocks) if text_blocks else 0,
        text_num_embeds=vocab_rows - 1, mel_dim=mel_dim,
        conv_pos_kernel=conv.shape[2], conv_pos_groups=dim // conv.shape[1],
        **VERSIONS[version])


def load_f5tts(path, version: str = "v1") -> AudioDiT:
    """F5-TTS checkpoint -> AudioDiT with every tensor mapped 1:1 (shape-checked both ways)."""
    state = read_f5_state(path)
    cfg = infer_config(state, version)
    model = AudioDiT(cfg)
    key_map = f5_key_map(cfg.depth, cfg.conv_layers)
    missing = sorted(set(key_map) - set(state))
    unexpected = sorted(set(state) - set(key_map))
    if missing or unexpected:
        raise UserError(f"checkpoint: keys do not match the F5 DiT layout: missing {missing[:8]} "
                        f"unexpected {unexpected[:8]} ({len(missing)} missing, {len(unexpected)} unexpected; "
                        "qk_norm / long_skip_connection variants are not supported)")
    own = model.state_dict()
    assert set(key_map.values()) == set(own), "f5_key_map out of sync with AudioDiT"
    mapped = {}
    for theirs, ours in key_map.items():
        if state[theirs].shape != own[ours].shape:
            raise UserError(f"checkpoint: {theirs} has shape {tuple(state[theirs].shape)}, expected {tuple(own[ours].shape)}")
        mapped[ours] = state[theirs].float()
    expected_freq = RotaryEmbedding(cfg.dim_head).inv_freq
    if not torch.allclose(mapped["rope.inv_freq"], expected_freq, rtol=1e-4, atol=1e-7):
        raise UserError("checkpoint: rotary_embed.inv_freq is not 10000^(-2i/dim_head); unsupported RoPE variant")
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def export_f5_state(model: AudioDiT, prefix: str = "ema_model.transformer.") -> dict[str, torch.Tensor]:
    """Our AudioDiT -> official F5 key layout (for round trips and for using our weights in F5)."""
    own = model.state_dict()
    return {prefix + theirs: own[ours].clone() for theirs, ours in f5_key_map(model.cfg.depth, model.cfg.conv_layers).items()}


def jam_model_from_f5(audio: AudioDiT, motion_preset: str | None, motion_spec: str, vocab_file: str | None,
                      seed: int = 0) -> JAMModel:
    """A JAMModel whose Audio-DiT is `audio` (F5 weights) and whose Motion-DiT, from `motion_preset`
    (None: audio only), starts fresh from `seed`."""
    motion = None
    if motion_preset is not None:
        motion = get_preset(motion_preset).motion
        if motion is None:
            raise UserError(f"motion_preset: preset {motion_preset!r} has no motion stream")
        # joint attention shares heads: the motion stream takes the audio stream's head layout
        motion = MotionDiTConfig(**{**motion.__dict__, "heads": audio.cfg.heads, "dim_head": audio.cfg.dim_head})
        motion.depth = min(motion.depth, audio.cfg.depth)
    cfg = JAMConfig(audio=audio.cfg, motion=motion, motion_spec=motion_spec, tokenizer="char", vocab_file=vocab_file)
    torch.manual_seed(seed)
    model = JAMModel(cfg)
    model.audio.load_state_dict(audio.state_dict(), strict=True)
    return model
