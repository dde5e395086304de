"""Periodic samples during training: listen to and watch what the EMA model makes of a held clip.

Task "talk with a reference": the first 30% of the clip (both streams, time-aligned) is given, the
rest of speech and motion is generated from the transcript. Written to
run_dir/samples/step_XXXXXXXX.{wav,mp4} (+ the ground truth once) and logged to TensorBoard.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

PROMPT_FRACTION = 0.3


@torch.no_grad()
def log_samples(trainer, index: int = 0) -> Path:
    from jamflow.audio.io import save_wav
    from jamflow.data.batching import collate
    from jamflow.infer.engine import Engine
    from jamflow.infer.motion_codec import MotionCodec
    from jamflow.render.base import get_renderer
    from jamflow.render.video import write_mp4
    from jamflow.vocoder import load_vocoder

    cfg, ds = trainer.cfg, trainer.dataset
    model = copy.deepcopy(trainer.acc.unwrap_model(trainer.model)).eval()
    if trainer.ema is not None:
        trainer.ema.copy_to(model)
    # fp32 as trained; the dataset's motion statistics (a model in training carries none yet)
    engine = Engine.place(model, trainer.device, torch.float32, progress=False)
    engine.codec = MotionCodec.create(ds.spec, ds.meta["stats"])
    engine.vocoder = load_vocoder(device=str(trainer.device))
    timeline = model.cfg.timeline
    batch = collate([ds[(index, 0)]])
    n = batch["mel"].shape[1]
    known_mel = int(n * PROMPT_FRACTION)
    mel_known = torch.arange(n)[None] < known_mel
    kwargs = {}
    with_motion = "motion" in batch and model.motion is not None
    if with_motion:
        m = batch["motion"].shape[1]
        motion_known = torch.arange(m)[None] < timeline.motion_frames_for(known_mel)
        kwargs = dict(motion_cond=batch["motion"], motion_known=motion_known,
                      motion_context=batch["motion_context"])
    mel, motion = engine.sample_tensors(batch["text"], batch["mel"], mel_known, nfe_step=cfg.log.sample_nfe,
                                        cfg_strength=2.0, seed=0, **kwargs)
    out_dir = Path(cfg.run_dir) / "samples"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"step_{trainer.update:08d}"
    wav = engine.decode(mel)[0].cpu().numpy()
    save_wav(stem.with_suffix(".wav"), wav)
    trainer.log.audio(trainer.update, "sample/audio", wav, timeline.sample_rate)
    if with_motion:
        motion70 = engine.codec.denormalize(motion[0], batch["motion_context"][0])
        renderer = get_renderer(cfg.log.renderer, **({"size": cfg.log.sample_size} if cfg.log.renderer == "avatar" else {}))
        frames = list(renderer.frames(motion70))
        write_mp4(stem.with_suffix(".mp4"), frames, audio=wav)
        trainer.log.video(trainer.update, "sample/video", np.stack(frames[:: 2]))
        truth = out_dir / "ground_truth.mp4"
        if not truth.exists():
            gt_wav = engine.decode(batch["mel"])[0].cpu().numpy()
            gt = engine.codec.denormalize(batch["motion"][0], batch["motion_context"][0])
            write_mp4(truth, renderer.frames(gt), audio=gt_wav)
    return stem
