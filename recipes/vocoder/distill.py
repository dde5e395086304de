"""Distil the shipped HiFi-GAN bridge into a Vocos-architecture vocoder by regression (an experiment that
does not ship: README.md has its figures).

    python recipes/vocoder/distill.py --manifest corpus/manifest.jsonl --out vocoder [--clips 600] [--updates N]

The teacher sounds natural but costs ~0.5 s per second of audio on two CPU threads; a Vocos-size network
predicts one STFT frame per mel frame and would cost far less. GAN training, which real vocoders need, is
out of reach of a CPU; the teacher's output is a function of the mel, so the student is trained by
regression instead. Its absolute phase is not learnable in practice (a tiny change of pitch moves it by
whole turns), its local phase structure is, so the losses compare magnitudes everywhere and phase only
through its steps across frames and bins.

Target wave per clip: the teacher's output below ~8 kHz plus the recording itself above it (the teacher
synthesises nothing up there). Losses, on crops of `segment_frames` mel frames:
  - log-magnitude L1 of the student's spectrum against the target's, every bin;
  - instantaneous frequency and group delay (anti-wrapped phase differences along time and along
    frequency, weighted by the target's magnitude) below the crossover, where the phase is the teacher's;
  - multi-resolution log-magnitude L1 and a mel L1 of the student's *waveform* (after the inverse STFT),
    which keep the predicted spectrum consistent.

Data: `write_targets` stores one .npz per clip (mel [100, n], teacher wave, recording) in OUT/targets/;
`--updates 0` writes the targets only. The student (EMA weights) is written to OUT as config.yaml +
model.safetensors, which `--vocoder OUT` of every jamflow command loads.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jamflow.audio.mel import N_FFT, mel_spectrogram
from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.vocos import Vocos, VocosConfig

CROSSOVER_HZ = (7500.0, 8500.0)  # teacher below the first, recording above the second, linear between
WAVE_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # (n_fft, hop) of the waveform losses


@dataclass
class VocoderDistillConfig:
    student: VocosConfig = field(default_factory=VocosConfig)  # the released Vocos size: 13.5 M parameters
    updates: int = 5500
    batch_size: int = 16
    segment_frames: int = 128  # 1.4 s of audio per crop
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    bf16: bool = True  # autocast of the backbone on CPU/GPU; losses stay fp32
    weights: dict = field(default_factory=lambda: {"log_mag": 1.0, "inst_freq": 1.0, "group_delay": 1.0,
                                                   "wave": 1.0, "mel": 1.0})
    validate_every: int = 500
    seed: int = 0


PRESETS = {
    "base": VocoderDistillConfig(),  # the run in README.md
    "tiny": VocoderDistillConfig(student=VocosConfig(dim=32, intermediate_dim=64, num_layers=2), updates=30,
                                 batch_size=2, segment_frames=24, warmup=5, validate_every=10, bf16=False),
}


# -- data --------------------------------------------------------------------------------------------

def write_targets(clips: list[Path], out: Path, teacher, progress=None) -> list[Path]:
    """One `<stem>.npz` per clip in `out`: mel [100, n], the teacher's decode of it, the recording
    (both [(n - 1) * 256]). Clips already written are skipped, so an interrupted run resumes."""
    from jamflow.audio.io import load_audio
    from jamflow.fileio import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, clip in enumerate(clips):
        dst = out / f"{Path(clip).stem}.npz"
        if not dst.exists():
            wav = load_audio(clip)
            mel = mel_spectrogram(torch.from_numpy(wav)[None])  # [1, 100, n]
            teacher_wav = teacher.decode(mel)[0].cpu().numpy()
            with atomic_path(dst, suffix=".npz") as tmp:
                np.savez(tmp, mel=mel[0].numpy(), teacher=teacher_wav, original=wav[: len(teacher_wav)])
        written.append(dst)
        if progress:
            progress(i + 1, len(clips))
    return written


def crossover_wave(teacher: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Teacher below CROSSOVER_HZ[0], recording above CROSSOVER_HZ[1], complementary linear ramp between."""
    n = len(teacher)
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    lo, hi = CROSSOVER_HZ
    high = np.clip((freqs - lo) / (hi - lo), 0.0, 1.0)
    spec = np.fft.rfft(teacher) * (1.0 - high) + np.fft.rfft(original[:n]) * high
    return np.fft.irfft(spec, n).astype(np.float32)


class TargetSet:
    """Every clip's mel and target wave in memory; `batch` draws random aligned crops."""

    def __init__(self, files: list[Path], segment_frames: int):
        self.segment = segment_frames
        self.mels, self.waves = [], []
        pad = N_FFT // 2
        for f in files:
            with np.load(f) as z:
                mel, teacher, original = z["mel"], z["teacher"], z["original"]
            if mel.shape[1] < segment_frames + 1:
                continue
            wave = crossover_wave(teacher, original)
            # reflect-padded like a centred STFT, so frame i of a crop is frame i of the whole clip
            self.mels.append(torch.from_numpy(mel))
            self.waves.append(torch.from_numpy(np.pad(wave, (pad, pad + HOP_LENGTH), mode="reflect")))
        if not self.mels:
            raise UserError(f"data: expected clips of at least {segment_frames + 1} mel frames, got none")

    def __len__(self) -> int:
        return len(self.mels)

    def batch(self, size: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
        """mel [b, 100, s] and wave [b, (s - 1) * hop + n_fft] covering the s frames' STFT windows."""
        mels, waves = [], []
        span = (self.segment - 1) * HOP_LENGTH + N_FFT
        for _ in range(size):
            k = rng.randrange(len(self.mels))
            start = rng.randrange(self.mels[k].shape[1] - self.segment + 1)
            mels.append(self.mels[k][:, start:start + self.segment])
            waves.append(self.waves[k][start * HOP_LENGTH:start * HOP_LENGTH + span])
        return torch.stack(mels), torch.stack(waves)


# -- losses ------------------------------------------------------------------------------------------

def _stft(wave: torch.Tensor, n_fft: int, hop: int, center: bool) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=wave.device)
    return torch.stft(wave, n_fft, hop, n_fft, window, center=center, return_complex=True)


def _log_mag(spec: torch.Tensor) -> torch.Tensor:
    return torch.log(spec.abs().clamp_min(1e-5))


def _wrapped(x: torch.Tensor) -> torch.Tensor:
    """|x| after wrapping into [-pi, pi] (the anti-wrapping distance of two phase quantities)."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def phase_losses(phase: torch.Tensor, target_spec: torch.Tensor, band: torch.Tensor) -> dict[str, torch.Tensor]:
    """Instantaneous-frequency (phase step from frame to frame) and group-delay (from bin to bin) errors,
    anti-wrapped and weighted by the target's magnitude within `band` [bins]. The absolute phase of the
    teacher is not learnable from the mel in practice; these local phase relations are (APNet's losses)."""
    weight = target_spec.abs() * band[None, :, None]  # [b, bins, s]
    target = target_spec.angle()
    inst_freq = _wrapped(torch.diff(phase, dim=2) - torch.diff(target, dim=2))
    group_delay = _wrapped(torch.diff(phase, dim=1) - torch.diff(target, dim=1))
    w_t, w_f = weight[:, :, 1:], weight[:, 1:] * band[None, :-1, None]
    return {"inst_freq": (inst_freq * w_t).sum() / w_t.sum().clamp_min(1e-8),
            "group_delay": (group_delay * w_f).sum() / w_f.sum().clamp_min(1e-8)}


def distill_losses(student: Vocos, mel: torch.Tensor, target: torch.Tensor, bf16: bool) -> dict[str, torch.Tensor]:
    """Per-term losses of the student on mel [b, 100, s] against target waves [b, (s - 1) * hop + n_fft]."""
    with torch.autocast(mel.device.type, dtype=torch.bfloat16, enabled=bf16):
        hidden = student.backbone(mel)  # [b, s, dim]
        log_mag, phase = student.head.out(hidden).float().transpose(1, 2).chunk(2, dim=1)  # [b, 513, s] each
    spec = torch.polar(torch.exp(log_mag).clamp(max=1e2), phase)  # what the head's ISTFT would invert
    target_spec = _stft(target, N_FFT, HOP_LENGTH, center=False)  # [b, 513, s], frame-aligned with mel
    bins = torch.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE, device=mel.device)
    low = (bins <= CROSSOVER_HZ[0]).float()  # where the phase is the teacher's
    losses = {"log_mag": (_log_mag(spec) - _log_mag(target_spec)).abs().mean(),
              **phase_losses(phase, target_spec, low)}
    wave = student.head.istft(spec)  # [b, (s - 1) * hop]: sample 0 is the centre of frame 0
    edge = N_FFT // 2
    reference = target[:, edge:edge + wave.shape[-1]]
    core = slice(edge, wave.shape[-1] - edge)  # the crop's ends lack their neighbouring frames
    wave, reference = wave[:, core], reference[:, core]
    losses["wave"] = sum((_log_mag(_stft(wave, n, h, True)) - _log_mag(_stft(reference, n, h, True))).abs().mean()
                         for n, h in WAVE_RESOLUTIONS) / len(WAVE_RESOLUTIONS)
    losses["mel"] = (mel_spectrogram(wave) - mel_spectrogram(reference)).abs().mean()
    return losses


def learning_rate(cfg: VocoderDistillConfig, update: int) -> float:
    """Linear warm-up, then cosine down to 1% of the peak."""
    if update < cfg.warmup:
        return cfg.lr * (update + 1) / cfg.warmup
    done = (update - cfg.warmup) / max(cfg.updates - cfg.warmup, 1)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))


# -- training ----------------------------------------------------------------------------------------

def _validate(student: Vocos, data: TargetSet, cfg: VocoderDistillConfig) -> dict[str, float]:
    rng = random.Random(1234)  # the same crops every time, so figures are comparable across updates
    student.eval()
    with torch.no_grad():
        mel, wave = data.batch(4 * cfg.batch_size, rng)
        losses = distill_losses(student, mel, wave, bf16=False)
    student.train()
    return {k: round(float(v), 5) for k, v in losses.items()}


def distill_vocoder(cfg: VocoderDistillConfig, train: TargetSet, valid: TargetSet | None, out: Path,
                    device: str = "cpu", log=print) -> Vocos:
    """Train a student Vocos on `train`; write its EMA weights (config.yaml + model.safetensors) and
    `train_log.json` to `out` at every validation and at the end. Returns the EMA student."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    student = Vocos(cfg.student)
    with torch.no_grad():  # start near speech's typical log-magnitude rather than 0 (magnitude 1)
        student.head.out.bias[: student.head.out.bias.numel() // 2].fill_(-4.0)
    student = student.to(device).train()
    ema = Vocos(cfg.student).to(device).eval()
    ema.load_state_dict(student.state_dict())
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    history = []
    from tqdm import tqdm

    bar = tqdm(range(cfg.updates), desc="distill", unit="update", mininterval=5)
    for update in bar:
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, update)
        mel, wave = (t.to(device) for t in train.batch(cfg.batch_size, rng))
        losses = distill_losses(student, mel, wave, cfg.bf16)
        total = sum(cfg.weights[k] * v for k, v in losses.items())
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), student.parameters()):
                e.lerp_(p, 1.0 - min(cfg.ema_decay, (1 + update) / (10 + update)))
        bar.set_postfix(loss=f"{total.item():.3f}", refresh=False)
        last = update + 1 == cfg.updates
        if (update + 1) % cfg.validate_every == 0 or last:
            entry = {"update": update + 1, "train": {k: round(v.item(), 5) for k, v in losses.items()}}
            if valid is not None:
                entry["valid"] = _validate(ema, valid, cfg)
            history.append(entry)
            log(json.dumps(entry))
            ema.save_pretrained(out)
            from jamflow.fileio import write_json_atomic
            write_json_atomic(out / "train_log.json", {"config": asdict(cfg), "history": history})
    return ema.eval()


# -- command line ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="a corpus manifest.jsonl (its train clips are the data)")
    parser.add_argument("--out", required=True, help="folder for the student (config.yaml + model.safetensors)")
    parser.add_argument("--targets", default=None, help="folder of teacher targets (default OUT/targets; reused)")
    parser.add_argument("--clips", type=int, default=600, help="train clips drawn from the manifest")
    parser.add_argument("--valid_clips", type=int, default=16, help="test clips for the validation figures")
    parser.add_argument("--teacher", default="hifigan", help="the vocoder to imitate: hifigan or a Vocos folder")
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS))
    parser.add_argument("--updates", type=int, default=None, help="default: the preset's; 0 writes targets only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def pick_clips(manifest: Path, clips: int, valid_clips: int, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded random draw of train clips and of test clips (audio paths)."""
    from jamflow.data.manifest import read_manifest

    rows = read_manifest(manifest, check_files=True)
    rng = random.Random(seed)
    train = [Path(r["audio"]) for r in rows if r["split"] == "train"]
    valid = [Path(r["audio"]) for r in rows if r["split"] == "test"]
    if not train:
        raise UserError(f"--manifest: expected train clips in {manifest}, got none")
    return rng.sample(train, min(clips, len(train))), rng.sample(valid, min(valid_clips, len(valid)))


def run(args) -> int:
    if args.clips < 1 or args.valid_clips < 0:
        raise UserError(f"--clips: expected a positive integer, got {args.clips}" if args.clips < 1 else
                        f"--valid_clips: expected 0 or more, got {args.valid_clips}")
    if args.updates is not None and args.updates < 0:
        raise UserError(f"--updates: expected 0 or more, got {args.updates}")
    manifest, out = Path(args.manifest), Path(args.out)
    if not manifest.is_file():
        raise UserError(f"--manifest: expected a manifest.jsonl, got {args.manifest!r}")
    train_clips, valid_clips = pick_clips(manifest, args.clips, args.valid_clips, args.seed)
    from tqdm import tqdm

    from jamflow.vocoder import load_vocoder

    if args.threads:
        torch.set_num_threads(args.threads)
    teacher = load_vocoder(args.teacher, device=args.device)
    targets = Path(args.targets) if args.targets else out / "targets"
    with tqdm(total=len(train_clips) + len(valid_clips), desc="teacher targets", unit="clip") as bar:
        def step(done, total):
            bar.update(1)
        train_files = write_targets(train_clips, targets / "train", teacher, step)
        valid_files = write_targets(valid_clips, targets / "valid", teacher, step)
    cfg = PRESETS[args.preset]
    cfg = dataclasses.replace(cfg, seed=args.seed, **({} if args.updates is None else {"updates": args.updates}))
    if cfg.updates == 0:
        print(f"teacher targets: {len(train_files)} train + {len(valid_files)} valid clips in {targets}")
        return 0
    train = TargetSet(train_files, cfg.segment_frames)
    valid = TargetSet(valid_files, cfg.segment_frames) if valid_files else None
    distill_vocoder(cfg, train, valid, out, device=args.device, log=tqdm.write)
    print(f"student vocoder -> {out} (use it with --vocoder {out})")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"distill.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
