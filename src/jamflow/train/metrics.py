"""Training logs: metrics.jsonl (always), TensorBoard, optional wandb; throughput and MFU.

metrics.jsonl has one line per logged update on the main process; tests and plots read it. A resumed
run replays the updates after its last checkpoint: the first line it logs drops every line from that
update on, so each update appears once (the replay's values, equal to the lost ones: resume is exact).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from jamflow.timeline import MOTION_FPS

# dense bf16/fp16 tensor-core peak, FLOP/s (no sparsity), by device name fragment
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
              "4090": 165e12, "3090": 71e12, "V100": 125e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def train_flops(model_cfg, mel_frames: torch.Tensor, motion_frames: torch.Tensor | None) -> float:
    """Model FLOPs of one training step (forward + backward = 3 x forward), PaLM-style:
    6 x parameters x tokens for the matmuls, plus attention scores 12 x layers x dim x tokens x context."""
    a, m = model_cfg.audio, model_cfg.motion
    # per block: q, k, v, out (4 d^2) + feed-forward (2 ff_mult d^2); adaLN and embeddings are minor
    block_audio = a.depth * (4 + 2 * a.ff_mult) * a.dim * a.dim
    block_motion = 0 if m is None else m.depth * (4 + 2 * m.ff_mult) * m.dim * m.dim
    flops = 0.0
    for i, n in enumerate(mel_frames.tolist()):
        mo = 0 if motion_frames is None else int(motion_frames[i])
        flops += 6 * block_audio * n + 12 * a.depth * a.dim * n * (n + mo)
        if mo:
            flops += 6 * block_motion * mo + 12 * m.depth * m.dim * mo * (mo + n)
    return flops


class RunLog:
    def __init__(self, run_dir: Path, cfg, enabled: bool):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self._trimmed = False  # lines from a run that died after its last checkpoint are dropped once
        self.tb = self.wandb = None
        if not enabled:
            return
        if cfg.log.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(run_dir) / "tb"))
        if cfg.log.wandb:
            try:
                import wandb
            except ImportError:
                raise SystemExit("log.wandb: expected the wandb package (pip install wandb), got none") from None
            self.wandb = wandb.init(project=cfg.log.wandb_project, name=cfg.name, dir=str(run_dir), resume="allow")

    def scalars(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        if not self._trimmed:
            self._drop_from(step)
            self._trimmed = True
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"train/{k}", v, step)
        if self.wandb is not None:
            self.wandb.log({f"train/{k}": v for k, v in values.items()}, step=step)

    def _drop_from(self, step: int) -> None:
        """Remove lines of updates >= step (and a torn last line) left by the run this one resumes."""
        if not self.path.is_file():
            return
        from jamflow.fileio import write_text_atomic

        text = self.path.read_text(encoding="utf-8", errors="replace")
        keep = []
        for line in text.splitlines():
            try:
                if json.loads(line)["step"] < step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        if len(keep) != len(text.splitlines()) or (text and not text.endswith("\n")):
            write_text_atomic(self.path, "".join(line + "\n" for line in keep))

    def audio(self, step: int, tag: str, wav, sample_rate: int) -> None:
        if self.enabled and self.tb is not None:
            self.tb.add_audio(tag, torch.as_tensor(wav).float().reshape(1, -1), step, sample_rate=sample_rate)

    def video(self, step: int, tag: str, frames) -> None:
        """frames uint8 [T, H, W, 3]; TensorBoard needs moviepy for video, else only the mp4 file is written."""
        import importlib.util

        if self.enabled and self.tb is not None and importlib.util.find_spec("moviepy") is not None:
            v = torch.as_tensor(frames).permute(0, 3, 1, 2)[None]  # [1, T, 3, H, W]
            self.tb.add_video(tag, v, step, fps=MOTION_FPS)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
