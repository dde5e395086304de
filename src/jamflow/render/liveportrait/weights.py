"""LivePortrait's official checkpoints: the key map, and a strict loader.

Files (under the user's `pretrained_weights/liveportrait/`, as `huggingface-cli download
KwaiVGI/LivePortrait` lays them out):

    base_models/appearance_feature_extractor.pth       F  plain state dict
    base_models/motion_extractor.pth                   M  plain state dict, keys "detector.*"
    base_models/warping_module.pth                     W  plain state dict
    base_models/spade_generator.pth                    G  plain state dict
    retargeting_models/stitching_retargeting_module.pth S dict of three state dicts:
        retarget_shoulder (stitching), retarget_mouth (lip), retarget_eye (eye)

`official_keys(name)` writes every key and shape out from the architecture config, independently of
our modules: it is the documented key map, and the tests build random checkpoints from it. Any key
may carry a DDP "module." prefix. Loading checks every key and shape and fails naming the first
mismatches. Foreign files are read only with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from jamflow.dtypes import DTYPES
from jamflow.errors import UserError
from jamflow.render.liveportrait.appearance import AppearanceConfig, AppearanceFeatureExtractor
from jamflow.render.liveportrait.generator import GeneratorConfig, SPADEDecoder
from jamflow.render.liveportrait.motion_extractor import MotionExtractor, MotionExtractorConfig
from jamflow.render.liveportrait.stitching import MLPConfig, StitchingConfig, StitchingRetargeting
from jamflow.render.liveportrait.warping import WarpingConfig, WarpingNetwork

FILES = {
    "F": "base_models/appearance_feature_extractor.pth",
    "M": "base_models/motion_extractor.pth",
    "W": "base_models/warping_module.pth",
    "G": "base_models/spade_generator.pth",
    "S": "retargeting_models/stitching_retargeting_module.pth",
}
# S checkpoint group -> our submodule
S_GROUPS = {"retarget_shoulder": "stitching", "retarget_mouth": "lip", "retarget_eye": "eye"}

Shapes = dict[str, tuple[int, ...]]


# ---- the key map, written out ---------------------------------------------------------------

def _conv(keys: Shapes, p: str, cout: int, cin: int, *kernel: int, bias: bool = True) -> None:
    keys[f"{p}.weight"] = (cout, cin, *kernel)
    if bias:
        keys[f"{p}.bias"] = (cout,)


def _spectral_conv(keys: Shapes, p: str, cout: int, cin: int, k: int, bias: bool = True) -> None:
    # torch.nn.utils.spectral_norm replaces .weight by weight_orig + power-iteration vectors u, v
    if bias:
        keys[f"{p}.bias"] = (cout,)
    keys[f"{p}.weight_orig"] = (cout, cin, k, k)
    keys[f"{p}.weight_u"] = (cout,)
    keys[f"{p}.weight_v"] = (cin * k * k,)


def _bn(keys: Shapes, p: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{p}.{name}"] = (c,)
    keys[f"{p}.num_batches_tracked"] = ()


def _linear(keys: Shapes, p: str, cout: int, cin: int) -> None:
    keys[f"{p}.weight"] = (cout, cin)
    keys[f"{p}.bias"] = (cout,)


def _keys_F(c: AppearanceConfig) -> Shapes:
    keys: Shapes = {}
    e, m = c.block_expansion, c.max_features
    _conv(keys, "first.conv", e, c.image_channel, 3, 3)
    _bn(keys, "first.norm", e)
    for i in range(c.num_down_blocks):
        cin, cout = min(m, e * 2**i), min(m, e * 2 ** (i + 1))
        _conv(keys, f"down_blocks.{i}.conv", cout, cin, 3, 3)
        _bn(keys, f"down_blocks.{i}.norm", cout)
    _conv(keys, "second", m, min(m, e * 2**c.num_down_blocks), 1, 1)
    r = c.reshape_channel
    for i in range(c.num_resblocks):
        p = f"resblocks_3d.3dr{i}"
        _conv(keys, f"{p}.conv1", r, r, 3, 3, 3)
        _conv(keys, f"{p}.conv2", r, r, 3, 3, 3)
        _bn(keys, f"{p}.norm1", r)
        _bn(keys, f"{p}.norm2", r)
    return keys


def _keys_M(c: MotionExtractorConfig) -> Shapes:
    keys: Shapes = {}
    d = c.dims
    _conv(keys, "detector.downsample_layers.0.0", d[0], 3, 4, 4)
    keys["detector.downsample_layers.0.1.weight"] = (d[0],)
    keys["detector.downsample_layers.0.1.bias"] = (d[0],)
    for i in range(3):
        keys[f"detector.downsample_layers.{i + 1}.0.weight"] = (d[i],)
        keys[f"detector.downsample_layers.{i + 1}.0.bias"] = (d[i],)
        _conv(keys, f"detector.downsample_layers.{i + 1}.1", d[i + 1], d[i], 2, 2)
    for s, depth in enumerate(c.depths):
        for j in range(depth):
            p, w = f"detector.stages.{s}.{j}", d[s]
            _conv(keys, f"{p}.dwconv", w, 1, 7, 7)
            keys[f"{p}.norm.weight"] = (w,)
            keys[f"{p}.norm.bias"] = (w,)
            _linear(keys, f"{p}.pwconv1", 4 * w, w)
            keys[f"{p}.grn.gamma"] = (1, 1, 1, 4 * w)
            keys[f"{p}.grn.beta"] = (1, 1, 1, 4 * w)
            _linear(keys, f"{p}.pwconv2", w, 4 * w)
    keys["detector.norm.weight"] = (d[-1],)
    keys["detector.norm.bias"] = (d[-1],)
    outs = {"kp": 3 * c.num_kp, "scale": 1, "pitch": c.num_bins, "yaw": c.num_bins, "roll": c.num_bins,
            "t": 3, "exp": 3 * c.num_kp}
    for name, n in outs.items():
        _linear(keys, f"detector.fc_{name}", n, d[-1])
    return keys


def _keys_hourglass(keys: Shapes, p: str, e: int, cin: int, n: int, m: int) -> int:
    width = [min(m, e * 2**i) for i in range(n + 1)]
    for i in range(n):
        _conv(keys, f"{p}.encoder.down_blocks.{i}.conv", width[i + 1], cin if i == 0 else width[i], 3, 3, 3)
        _bn(keys, f"{p}.encoder.down_blocks.{i}.norm", width[i + 1])
    for j, i in enumerate(reversed(range(n))):
        win = (1 if i == n - 1 else 2) * width[i + 1]
        _conv(keys, f"{p}.decoder.up_blocks.{j}.conv", width[i], win, 3, 3, 3)
        _bn(keys, f"{p}.decoder.up_blocks.{j}.norm", width[i])
    out = e + cin
    _conv(keys, f"{p}.decoder.conv", out, out, 3, 3, 3)
    _bn(keys, f"{p}.decoder.norm", out)
    return out


def _keys_W(c: WarpingConfig) -> Shapes:
    keys: Shapes = {}
    k, cc = c.num_kp, c.dm_compress
    dm = "dense_motion_network"
    out = _keys_hourglass(keys, f"{dm}.hourglass", c.dm_block_expansion, (k + 1) * (cc + 1), c.dm_num_blocks,
                          c.dm_max_features)
    _conv(keys, f"{dm}.mask", k + 1, out, 7, 7, 7)
    _conv(keys, f"{dm}.compress", cc, c.reshape_channel, 1, 1, 1)
    _bn(keys, f"{dm}.norm", cc)
    _conv(keys, f"{dm}.occlusion", 1, out * c.dm_reshape_depth, 7, 7)
    width = c.block_expansion * 2**c.num_down_blocks
    _conv(keys, "third.conv", width, c.max_features, 3, 3)
    _bn(keys, "third.norm", width)
    _conv(keys, "fourth", width, width, 1, 1)
    return keys


def _keys_spade_block(keys: Shapes, p: str, fin: int, fout: int, label: int) -> None:
    mid = min(fin, fout)
    _spectral_conv(keys, f"{p}.conv_0", mid, fin, 3)
    _spectral_conv(keys, f"{p}.conv_1", fout, mid, 3)
    norms = [("norm_0", fin), ("norm_1", mid)]
    if fin != fout:
        _spectral_conv(keys, f"{p}.conv_s", fout, fin, 1, bias=False)
        norms.append(("norm_s", fin))
    for name, ch in norms:
        _conv(keys, f"{p}.{name}.mlp_shared.0", 128, label, 3, 3)
        _conv(keys, f"{p}.{name}.mlp_gamma", ch, 128, 3, 3)
        _conv(keys, f"{p}.{name}.mlp_beta", ch, 128, 3, 3)


def _keys_G(c: GeneratorConfig) -> Shapes:
    keys: Shapes = {}
    ch = min(c.max_features, c.block_expansion * 2**c.num_down_blocks)
    _conv(keys, "fc", 2 * ch, ch, 3, 3)
    for i in range(6):
        _keys_spade_block(keys, f"G_middle_{i}", 2 * ch, 2 * ch, ch)
    _keys_spade_block(keys, "up_0", 2 * ch, ch, ch)
    _keys_spade_block(keys, "up_1", ch, c.out_channels, ch)
    if c.upscale > 1:
        _conv(keys, "conv_img.0", 3 * c.upscale**2, c.out_channels, 3, 3)
    else:
        _conv(keys, "conv_img", 3, c.out_channels, 3, 3)
    return keys


def _keys_mlp(c: MLPConfig) -> Shapes:
    keys: Shapes = {}
    sizes = [c.input_size, *c.hidden_sizes, c.output_size]
    for i in range(len(sizes) - 1):
        _linear(keys, f"mlp.{2 * i}", sizes[i + 1], sizes[i])
    return keys


def official_keys(name: str, cfg=None) -> Shapes | dict[str, Shapes]:
    """Key -> shape of the official checkpoint of network `name` (F, M, W, G, S).
    For S: {group ("retarget_shoulder", ...): key -> shape}."""
    if name == "S":
        c = cfg or StitchingConfig()
        return {group: _keys_mlp(getattr(c, ours)) for group, ours in S_GROUPS.items()}
    builders = {"F": (_keys_F, AppearanceConfig), "M": (_keys_M, MotionExtractorConfig),
                "W": (_keys_W, WarpingConfig), "G": (_keys_G, GeneratorConfig)}
    build, default = builders[name]
    return build(cfg or default())


def build_network(name: str, cfg=None) -> nn.Module:
    classes = {"F": (AppearanceFeatureExtractor, AppearanceConfig), "M": (MotionExtractor, MotionExtractorConfig),
               "W": (WarpingNetwork, WarpingConfig), "G": (SPADEDecoder, GeneratorConfig),
               "S": (StitchingRetargeting, StitchingConfig)}
    cls, default = classes[name]
    return cls(cfg or default())


# ---- loading ----------------------------------------------------------------------------------

def _strip_ddp(sd: dict) -> dict:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def check_state_dict(sd: dict, expected: Shapes, what: str) -> None:
    """Raise UserError naming missing / unexpected keys and shape mismatches."""
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    wrong = [f"{k} {tuple(sd[k].shape)} != {expected[k]}" for k in expected
             if k in sd and tuple(sd[k].shape) != tuple(expected[k])]
    if missing or extra or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
        raise UserError(f"{what}: expected the official LivePortrait key layout, got {'; '.join(parts)}")


def read_checkpoint(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserError(f"weights: expected a LivePortrait checkpoint file, got missing path {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files, non-tensor payloads
        raise UserError(f"weights: expected a torch state dict in {path}, got an unreadable file ({e})") from None
    if not isinstance(sd, dict):
        raise UserError(f"weights: expected a state dict in {path}, got {type(sd).__name__}")
    return sd


def load_state(module: nn.Module, name: str, sd: dict, what: str) -> nn.Module:
    """Load an official state dict (for S: the dict of three groups) into our module, strictly."""
    if name == "S":
        missing = [g for g in S_GROUPS if g not in sd]
        if missing:
            raise UserError(f"{what}: expected groups {sorted(S_GROUPS)}, got {sorted(map(str, sd))}")
        expected = official_keys("S")
        flat = {}
        for group, ours in S_GROUPS.items():
            part = _strip_ddp(sd[group])
            check_state_dict(part, expected[group], f"{what} [{group}]")
            flat.update({f"{ours}.{k}": v for k, v in part.items()})
        sd = flat
    else:
        sd = _strip_ddp(sd)
        check_state_dict(sd, official_keys(name, getattr(module, "cfg", None)), what)
    module.load_state_dict(sd, strict=True)
    return module.eval()


def export_state(module: nn.Module, name: str) -> dict:
    """Our module -> a state dict in the official layout (the inverse of load_state)."""
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    if name != "S":
        return sd
    return {group: {k[len(ours) + 1:]: v for k, v in sd.items() if k.startswith(ours + ".")}
            for group, ours in S_GROUPS.items()}


@dataclass
class LivePortraitNets:
    F: AppearanceFeatureExtractor
    M: MotionExtractor
    W: WarpingNetwork
    G: SPADEDecoder
    S: StitchingRetargeting | None
    input_size: int = 256  # F and M see crops resized to this; G renders 2x it

    def to(self, device=None, dtype=None) -> "LivePortraitNets":
        for n in ("F", "M", "W", "G", "S"):
            m = getattr(self, n)
            if m is not None:
                m.to(device=device, dtype=dtype)
        return self


def resolve_paths(weights_dir: str) -> dict[str, str]:
    """Accept the download root, its liveportrait/ folder, or the folder holding base_models/."""
    if not os.path.isdir(weights_dir):
        raise UserError(f"--weights: expected a folder with LivePortrait's base_models/, got {weights_dir!r}")
    for root in (weights_dir, os.path.join(weights_dir, "liveportrait")):
        if os.path.isdir(os.path.join(root, "base_models")):
            return {n: os.path.join(root, rel) for n, rel in FILES.items()}
    raise UserError(f"--weights: expected {weights_dir}/base_models/*.pth (LivePortrait layout), got no base_models/")



def load_liveportrait(weights_dir: str, need: str = "FMWGS", device="cpu", dtype: torch.dtype | str | None = None
                      ) -> LivePortraitNets:
    """Build and load the networks named in `need` (others None; S is skipped when its file is absent).

    dtype (torch dtype or "fp32" / "fp16" / "bf16") applies to F, W, G; None: fp32 on CPU (this
    hardware has no fast half precision), fp16 on CUDA. M and S always run in fp32.
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise UserError(f"precision: expected one of {sorted(DTYPES)}, got {dtype!r}")
        dtype = DTYPES[dtype]
    paths = resolve_paths(weights_dir)
    for n in need:
        if n != "S" and not os.path.isfile(paths[n]):
            raise UserError(f"--weights: expected {paths[n]} ({n}), got no such file")
    nets = {}
    for n in "FMWGS":
        if n not in need or (n == "S" and not os.path.isfile(paths[n])):
            nets[n] = None
            continue
        nets[n] = load_state(build_network(n), n, read_checkpoint(paths[n]), f"{n} ({paths[n]})")
    if dtype is None:
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    out = LivePortraitNets(**nets).to(device)
    # M and S stay fp32: pose bins and the small MLPs are cheap and precision-sensitive
    for n in ("F", "W", "G"):
        if nets[n] is not None:
            nets[n].to(dtype=dtype)
    if nets["G"] is not None:
        nets["G"].to(memory_format=torch.channels_last)  # G is 2D convs only: ~1.3x faster on CPU
    return out
