"""Vocos generator (ConvNeXt backbone + ISTFT head), weight-compatible with `charactr/vocos-mel-24khz`.

Our own implementation of the published architecture (Siuzdak 2023); parameter names follow the
official checkpoint so its state dict loads one-to-one. Official key layout (L = num_layers):

    backbone.embed.{weight [dim, 100, 7], bias}              Conv1d k7 pad 3
    backbone.norm.{weight, bias}                             LayerNorm eps 1e-6
    backbone.convnext.{0..L-1}.dwconv.{weight [dim,1,7], bias}   depthwise Conv1d k7
    backbone.convnext.{i}.norm.{weight, bias}                LayerNorm eps 1e-6
    backbone.convnext.{i}.pwconv1.{weight [inter, dim], bias}
    backbone.convnext.{i}.pwconv2.{weight [dim, inter], bias}
    backbone.convnext.{i}.gamma [dim]                        layer scale
    backbone.final_layer_norm.{weight, bias}
    head.out.{weight [n_fft + 2, dim], bias}                 log-magnitude | phase
    head.istft.window [n_fft]                                Hann (buffer)
    feature_extractor.mel_spec.*                             torchaudio buffers: ignored

The 24 kHz mel model: dim 512, intermediate 1536, 8 layers, n_fft 1024, hop 256, head padding
"center" -> (frames - 1) * 256 samples. About 13.5 M parameters.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH

BACKBONE_CLASS = "vocos.models.VocosBackbone"
HEAD_CLASS = "vocos.heads.ISTFTHead"
IGNORED_PREFIXES = ("feature_extractor.",)
WEIGHT_NAMES = ("pytorch_model.bin", "model.safetensors", "pytorch_model.safetensors")  # in order of preference


@dataclass
class VocosConfig:
    input_channels: int = 100
    dim: int = 512
    intermediate_dim: int = 1536
    num_layers: int = 8
    layer_scale_init_value: float | None = None  # None -> 1 / num_layers (only matters for fresh models)
    n_fft: int = 1024
    hop_length: int = HOP_LENGTH
    padding: str = "center"  # "center" (the 24 kHz mel model) or "same"

    @classmethod
    def from_yaml(cls, path) -> "VocosConfig":
        """Read the official config.yaml (lightning-style class_path / init_args blocks)."""
        try:
            cfg = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as e:
            raise UserError(f"config: expected valid YAML in {Path(path).name}, got a parse error ({e})") from None
        if not isinstance(cfg, dict) or "backbone" not in cfg or "head" not in cfg:
            raise UserError(f"config: expected 'backbone' and 'head' sections in {Path(path).name}")
        bb, head = cfg["backbone"], cfg["head"]
        if bb.get("class_path") != BACKBONE_CLASS or head.get("class_path") != HEAD_CLASS:
            raise UserError(f"config: expected a {BACKBONE_CLASS} + {HEAD_CLASS} model, got "
                            f"{bb.get('class_path')} + {head.get('class_path')}")
        b, h = bb.get("init_args", {}), head.get("init_args", {})
        if b.get("adanorm_num_embeddings"):
            raise UserError("config: expected a mel Vocos (no adanorm_num_embeddings); the EnCodec variant is not supported")
        if h.get("dim", b["dim"]) != b["dim"]:
            raise UserError(f"config: head dim {h.get('dim')} does not match backbone dim {b['dim']}")
        return cls(input_channels=b["input_channels"], dim=b["dim"], intermediate_dim=b["intermediate_dim"],
                   num_layers=b["num_layers"], layer_scale_init_value=b.get("layer_scale_init_value"),
                   n_fft=h["n_fft"], hop_length=h["hop_length"], padding=h.get("padding", "same"))

    def to_yaml(self) -> str:
        backbone = {k: v for k, v in asdict(self).items()
                    if k in ("input_channels", "dim", "intermediate_dim", "num_layers")}
        return yaml.safe_dump({
            "backbone": {"class_path": BACKBONE_CLASS, "init_args": backbone},
            "head": {"class_path": HEAD_CLASS, "init_args": {"dim": self.dim, "n_fft": self.n_fft,
                                                            "hop_length": self.hop_length, "padding": self.padding}},
        }, sort_keys=False)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k7 -> LayerNorm -> Linear -> GELU -> Linear -> layer scale, residual. [b, d, n]."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()  # exact erf GELU, as trained
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x):  # x: [b, d, n]
        h = self.dwconv(x).transpose(1, 2)  # [b, n, d]
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosBackbone(nn.Module):
    """mel [b, 100, n] -> hidden [b, n, dim]."""

    def __init__(self, cfg: VocosConfig):
        super().__init__()
        self.embed = nn.Conv1d(cfg.input_channels, cfg.dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        scale = cfg.layer_scale_init_value or 1.0 / cfg.num_layers
        self.convnext = nn.ModuleList(
            [ConvNeXtBlock(cfg.dim, cfg.intermediate_dim, scale) for _ in range(cfg.num_layers)])
        self.final_layer_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        for m in self.modules():  # the training recipe's init; irrelevant once weights are loaded
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, mel):
        x = self.embed(mel)  # [b, d, n]
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))  # [b, n, d]


class ISTFT(nn.Module):
    """Inverse STFT with Hann window. "center": torch.istft (output (n - 1) * hop samples).
    "same": plain overlap-add trimmed by (win - hop) / 2 each side (output n * hop samples),
    which torch.istft cannot do because its window-envelope check fails at untrimmed edges."""

    def __init__(self, n_fft: int, hop_length: int, padding: str):
        super().__init__()
        if padding not in ("center", "same"):
            raise UserError(f"padding: expected 'center' or 'same', got {padding!r}")
        self.n_fft, self.hop_length, self.padding = n_fft, hop_length, padding
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, spec):  # spec: [b, n_fft // 2 + 1, n] complex -> [b, samples]
        if self.padding == "center":
            return torch.istft(spec, self.n_fft, self.hop_length, self.n_fft, self.window, center=True)
        frames = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None]  # [b, n_fft, n]
        n = spec.shape[-1]
        length = (n - 1) * self.hop_length + self.n_fft
        fold = dict(output_size=(1, length), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        y = F.fold(frames, **fold)[:, 0, 0]  # [b, length]
        env = F.fold(self.window.square()[None, :, None].expand(1, -1, n), **fold)[0, 0, 0]
        trim = (self.n_fft - self.hop_length) // 2
        return y[:, trim:-trim] / env[trim:-trim].clamp_min(1e-11)


class ISTFTHead(nn.Module):
    """hidden [b, n, dim] -> waveform: Linear to (log-magnitude, phase) per bin, then inverse STFT."""

    def __init__(self, cfg: VocosConfig):
        super().__init__()
        self.out = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.istft = ISTFT(cfg.n_fft, cfg.hop_length, cfg.padding)

    def forward(self, x):
        log_mag, phase = self.out(x).transpose(1, 2).chunk(2, dim=1)  # [b, n_fft/2+1, n] each
        mag = torch.exp(log_mag).clamp(max=1e2)  # the trained model relies on this ceiling
        return self.istft(torch.polar(mag, phase))


class Vocos(nn.Module):
    """Mel vocoder: `decode(mel [b, 100, n]) -> wav [b, samples]` (24 kHz for the released model)."""

    def __init__(self, cfg: VocosConfig | None = None):
        super().__init__()
        self.cfg = cfg or VocosConfig()
        self.backbone = VocosBackbone(self.cfg)
        self.head = ISTFTHead(self.cfg)
        self.eval()

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 2:
            mel = mel[None]
        if mel.dim() != 3 or mel.shape[1] != self.cfg.input_channels:
            raise UserError(f"mel: expected shape [b, {self.cfg.input_channels}, frames], got {tuple(mel.shape)}")
        p = next(self.parameters())
        return self.head(self.backbone(mel.to(device=p.device, dtype=p.dtype)))

    forward = decode

    # -- weights ---------------------------------------------------------------------------------

    def load_official_state_dict(self, state: dict) -> None:
        """Load a Vocos state dict, checking every key and shape; feature-extractor buffers are dropped."""
        state = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise UserError("weights: expected the Vocos key layout; "
                            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        for k, v in expected.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise UserError(f"weights: {k} expected shape {tuple(v.shape)}, got {tuple(state[k].shape)} "
                                "(does config.yaml match the weights?)")
        self.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)

    @classmethod
    def from_pretrained(cls, path, device: str = "cpu") -> "Vocos":
        """Load from a folder holding `config.yaml` and `pytorch_model.bin` (or a .safetensors file)."""
        path = Path(path)
        if path.is_file() and (path.parent / "config.yaml").is_file():  # the weights file itself was given
            path = path.parent
        if not path.is_dir():
            raise UserError(f"vocoder: expected a folder with config.yaml + pytorch_model.bin, got {str(path)!r}")
        config = path / "config.yaml"
        if not config.is_file():
            raise UserError(f"vocoder: expected {config} (the Vocos config.yaml)")
        weights = [path / n for n in WEIGHT_NAMES if (path / n).is_file()]
        if not weights:
            raise UserError(f"vocoder: expected pytorch_model.bin or model.safetensors in {path}")
        model = cls(VocosConfig.from_yaml(config))
        model.load_official_state_dict(load_state(weights[0]))
        return model.to(device)

    def save_pretrained(self, path) -> Path:
        """Write config.yaml + model.safetensors (loadable by from_pretrained)."""
        from safetensors.torch import save_file

        from jamflow.fileio import atomic_path, write_text_atomic

        path = Path(path)
        write_text_atomic(path / "config.yaml", self.cfg.to_yaml())
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(path / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        return path


def load_state(path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, or a .bin/.pt read safely (weights_only: no pickled code)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file: say which and why, not a deep traceback
        raise UserError(f"weights: expected a readable checkpoint at {path}, got {type(e).__name__}: {e}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"weights: expected a flat dict of tensors in {path.name}")
    return state
