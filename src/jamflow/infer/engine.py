"""The inference engine: a model on its device with what it needs to turn jobs into speech and motion.

    engine = Engine.create(model, device="cpu", dtype="auto")   # tokenizer, vocoder, motion codec
    results = engine.sample([job], settings)                      # jobs (infer/jobs.py) -> mel + motion (JobResult)
    wav = engine.vocode(results[0].mel, job.frames)               # mel [n, 100] -> wav [frames * 960]

The API (`infer/api.py`) checks arguments and writes files; the task flows (`infer/runner.py`) build
jobs (`infer/jobs.py`) and ask the engine to sample and vocode them; training samples and the benchmark
drive the sampler through `sample_tensors`. The engine knows its model's timeline (`cfg.timeline`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jamflow.dtypes import DTYPES, INT8, autocast, cpu_has_fast_bf16, half_matmul_weights, quantize_blocks_int8
from jamflow.errors import UserError
from jamflow.infer.motion_codec import MotionCodec
from jamflow.infer.sampling import JobResult, generate
from jamflow.infer.settings import InferSettings
from jamflow.model.sampler import sample
from jamflow.motion.life import FaceLife
from jamflow.timeline import Timeline


def pick_device(device: str | None = None) -> torch.device:
    """auto: cuda -> mps -> cpu."""
    if device not in (None, "", "auto"):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise UserError(f"device: expected cpu, cuda, cuda:N or mps, got {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError("device: expected an available device, got 'cuda' but no CUDA GPU is visible")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise UserError("device: expected an available device, got 'mps' but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The compute precision under autocast: bf16 on CUDA where supported (else fp16), bf16 on a CPU with
    bf16 hardware (AVX512-BF16 / AMX), fp32 on other CPUs and MPS. "int8" is fp32 here; the engine
    quantises the DiT blocks' linears for it (dtypes.quantize_blocks_int8)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == INT8:
        return torch.float32
    names = {**DTYPES, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in (None, "", "auto"):
        if dtype not in names:
            raise UserError(f"dtype: expected one of {sorted(names)}, auto or {INT8} (CPU), got {dtype!r}")
        return names[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


@dataclass
class Engine:
    model: torch.nn.Module  # eval mode on `device`: fp32, the DiTs' linears in `dtype` (or int8)
    tokenizer: object  # text -> token ids (jamflow.audio.tokenizers); None where only sample_tensors is used
    codec: MotionCodec  # motion in and out of the model's normalised channels
    vocoder: object  # mel [b, 100, n] -> wav [b, s] (jamflow.vocoder); None: no audio out
    device: torch.device
    dtype: torch.dtype  # compute precision under autocast
    progress: bool = True  # tqdm bars
    int8: bool = False  # fp32 compute with the DiT blocks' linears in dynamic int8 (CPU)

    @classmethod
    def place(cls, model, device=None, dtype=None, progress: bool = True) -> "Engine":
        """`model` on its device (fp32 weights; a copy with the DiTs' linears in bf16/fp16 for that compute
        dtype, or quantised blocks for "int8") with its motion codec;
        no tokenizer or vocoder yet (`create` loads them; the benchmark and training samples set their own)."""
        device = device if isinstance(device, torch.device) else pick_device(device)
        compute = pick_dtype(device, dtype)
        model = model.to(device, torch.float32).eval()  # compute dtype via autocast
        if dtype == INT8:
            model = quantize_blocks_int8(model, device)
        elif compute in (torch.bfloat16, torch.float16):
            model = half_matmul_weights(model, compute)
        codec = MotionCodec.create(model.cfg.spec, getattr(model, "motion_stats", None))
        return cls(model, None, codec, None, device, compute, progress, dtype == INT8)

    @classmethod
    def create(cls, model, device=None, dtype=None, tokenizer=None, vocoder=None, checkpoint_dir: Path | None = None,
               progress: bool = True) -> "Engine":
        """`place` the model and load what inference needs: its tokenizer (None: from the checkpoint's
        vocab file) and a vocoder (None: `vocoder.load_vocoder`'s default, its fast one for a few-step student on
        a CPU, where HiFi-GAN would take most of a stream's time; a name or a Vocos folder: that one)."""
        engine = cls.place(model, device, dtype, progress)
        cfg = engine.model.cfg
        if tokenizer is None:
            from jamflow.audio.tokenizers import get_tokenizer

            vocab = Path(checkpoint_dir or ".") / cfg.vocab_file if cfg.vocab_file else None
            tokenizer = get_tokenizer(cfg.tokenizer, vocab)
        if vocoder is None or isinstance(vocoder, (str, Path)):
            from jamflow.vocoder import load_vocoder

            # HiFi-GAN follows the model into bf16 (same scores, ~1.8x faster on a bf16 CPU); fp16 is not tried
            voc_dtype = torch.bfloat16 if engine.dtype == torch.bfloat16 else torch.float32
            fast = getattr(engine.model, "student", None) is not None and engine.device.type == "cpu"
            vocoder = load_vocoder(None if vocoder is None else str(vocoder), device=str(engine.device), dtype=voc_dtype,
                                   fast=fast)
        engine.tokenizer, engine.vocoder = tokenizer, vocoder
        return engine

    @property
    def timeline(self) -> Timeline:
        return self.model.cfg.timeline

    @property
    def has_motion(self) -> bool:
        return self.model.cfg.motion is not None

    @property
    def dims(self) -> tuple[int, int]:
        """(generated, context) motion channels of a job; (0, 0) for an audio-only model."""
        return (self.codec.spec.gen_dim, self.codec.spec.context_dim) if self.has_motion else (0, 0)

    def sample(self, jobs: list, s: InferSettings) -> list[JobResult]:
        """Jobs (infer/jobs.py) -> per job mel [n, 100] and normalised generated motion [m, dg]."""
        return generate(self.model, jobs, s, self.tokenizer, self.device, self.dtype, self.progress)

    @torch.inference_mode()
    def sample_tensors(self, text, mel, mel_known, **kw):
        """The flow sampler on ready tensors (text [b, nt], mel [b, n, 100], mel_known [b, n], motion_* ...,
        `model.sampler.sample`'s arguments) under the engine's autocast -> (mel, motion)."""
        with autocast(self.device, self.dtype):
            return sample(self.model, text, mel, mel_known, **kw)

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [b, n, 100] -> wav [b, s] (the vocoder as it comes)."""
        return self.vocoder.decode(mel.float().transpose(1, 2).to(self.device))

    def vocode(self, mel: torch.Tensor, frames: int) -> np.ndarray:
        """mel [n, 100] -> wav [frames * samples_per_motion] (the vocoder's length trimmed / padded to the grid)."""
        with torch.inference_mode():
            wav = self.vocoder.decode(mel.T[None].to(self.device, torch.float32))
        wav = wav.reshape(-1).float().cpu().numpy()
        want = frames * self.timeline.samples_per_motion
        if len(wav) < want:
            wav = np.pad(wav, (0, want - len(wav)))
        return wav[:want].astype(np.float32)

    def finish_motion(self, motion: np.ndarray, wav: np.ndarray | None, s: InferSettings,
                      face_life: bool) -> np.ndarray:
        """Generated motion [T, 70] post-processed (smoothing, head/expression scale) and, with `face_life`,
        the channels no context motion drove following the speech `wav` [T * 960]."""
        motion = self.codec.postprocess(motion, s.motion_smoothing, s.head_scale, s.expression_scale,
                                        s.head_smoothing)
        if face_life and wav is not None:
            motion = self.codec.add_life(motion, wav, FaceLife(s.seed), s.face_life, s.head_scale,
                                         s.expression_scale)
        return motion
