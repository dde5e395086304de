"""Flow-matching training of the joint model on HuggingFace Accelerate (`jamflow train`).

    jamflow train --config src/jamflow/train/configs/tiny.yaml optim.lr=2e-4 [--resume]
    accelerate launch --num_processes 8 -m jamflow.cli train --config base.yaml     # DDP on GPUs
    torchrun --nproc_per_node 2 -m jamflow.cli train --config tiny.yaml             # CPU, gloo

Determinism. The noise, flow times, masks and dropout of micro-batch g of update u come from a
generator seeded with (seed, u, g), where g counts micro-batches over all processes
(accumulation index x processes + rank). The batches themselves come from the sampler's fixed
epoch order. So a run is a function of (config, update): a resumed run repeats exactly what the
uninterrupted run did, and 2 processes x 1 micro-batch computes the same update as 1 process x 2
accumulated micro-batches (up to float summation order).

Stopping. SIGTERM or a first Ctrl-C during fit() lets the update finish, saves a checkpoint and makes
`jamflow train` exit 143 / 130 (train/stop.py); all processes stop after the same update.
"""
from __future__ import annotations

import signal
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from jamflow.errors import UserError
from jamflow.fileio import write_text_atomic
from jamflow.train.config import TrainConfig, dump_yaml, to_dict
from jamflow.train.model_init import build_model_config, check_cache_fits, load_init_weights
from jamflow.train.optim import set_lr, train_only
from jamflow.train.stop import StopSignals, exit_code, worker_init


# Stage "motion" trains on audio -> motion masks only (the audio is always known) unless the config
# gives its own mixture.
STAGE_MASKS = {"motion": {"p_joint": 0.0, "p_audio_to_motion": 1.0, "p_motion_to_audio": 0.0,
                          "p_independent": 0.0, "p_text_only": 0.0}}


def micro_seed(seed: int, update: int, micro: int) -> int:
    return (seed * 1_000_003 + update * 10_007 + micro) % (2**62)


# ---------------------------------------------------------------------------------------------
# the run

class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True):
        from jamflow.train.metrics import RunLog

        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        model_cfg, meta, lines, durations = self._check_run(resume)  # every check before any work
        precision = self._start_accelerator()
        self._make_data(model_cfg, meta, lines, durations)
        self._make_model(model_cfg, meta["stats"], precision)
        self.model_cfg = model_cfg
        self.update, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.stopped_by: int | None = None  # the signal that ended fit() early, if one did
        self.log = RunLog(self.run_dir, cfg, enabled=self.main)
        self.progress = progress and self.main
        if self.resume_from is not None:
            self._load(self.resume_from)
        elif self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.run_dir / "config.yaml", dump_yaml(cfg))
            (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)  # from an attempt that saved nothing

    # ---- setup ------------------------------------------------------------------------------
    def _check_run(self, resume: bool):
        """Model config, cache, masks and run folder checked together -> (model config, cache.json
        settings, clip lines, aligned durations or None). Sets mask_cfg and resume_from."""
        from jamflow.data.batching import load_cache_index
        from jamflow.model.cfm import MaskConfig
        from jamflow.train.checkpoints import latest_checkpoint

        cfg = self.cfg
        model_cfg = build_model_config(cfg)
        meta, lines = load_cache_index(cfg.data.cache)
        durations = None
        if cfg.data.durations:
            from jamflow.data.batching import load_durations

            durations, model_cfg.audio.text_durations = load_durations(cfg.data.cache)
            model_cfg.validate()
        check_cache_fits(model_cfg, meta, max((line.get("text_max", -1) for line in lines), default=-1))
        masks = cfg.masks or STAGE_MASKS.get(cfg.stage, {})
        try:
            self.mask_cfg = MaskConfig(**masks)
        except TypeError as e:
            raise UserError(f"masks: expected MaskConfig fields, got {e}") from None
        latest = latest_checkpoint(self.run_dir)
        self.resume_from = latest if resume else None
        if not resume and latest is not None:
            raise UserError(f"run_dir: expected a new run folder, got {self.run_dir} with checkpoints; "
                            f"pass --resume to continue it or pick another name")
        return model_cfg, meta, lines, durations

    def _start_accelerator(self) -> str:
        """The Accelerator, device, world size and rank; -> the mixed precision in use."""
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        precision = self.cfg.mixed_precision
        if precision == "auto":  # CPU stays fp32: bf16 autocast did not speed up CPU training (docs/training.md)
            precision = "bf16" if torch.cuda.is_available() else "no"
        self.acc = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available(),
                               kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        if self.acc.distributed_type.name in ("FSDP", "DEEPSPEED", "MEGATRON_LM"):
            raise UserError(f"accelerate: expected a plain multi-process launch, got {self.acc.distributed_type.name}; "
                            f"for sharded training set fsdp=true in the config instead of --use_fsdp")
        self.device = self.acc.device
        self.world, self.rank = self.acc.num_processes, self.acc.process_index
        self.main = self.acc.is_main_process
        return precision

    def _make_data(self, model_cfg, meta: dict, lines: list[dict], durations: dict | None) -> None:
        """This process's dataset, batch sampler and loader."""
        from jamflow.data.batching import CachedDataset, FrameBudgetBatchSampler, collate

        cfg = self.cfg
        self.dataset = CachedDataset(cfg.data.cache, cfg.data.split, cfg.data.max_frames, cfg.data.crop_frames,
                                     cfg.seed, model_cfg.spec if model_cfg.motion is not None else None,
                                     index=(meta, lines), durations=durations)
        self.sampler = FrameBudgetBatchSampler(self.dataset.lengths, cfg.data.max_frames, cfg.data.max_samples,
                                               cfg.seed, True, self.world, self.rank, cfg.optim.grad_accum)
        self.loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=self.sampler, collate_fn=collate,
                                                  num_workers=cfg.data.num_workers, worker_init_fn=worker_init)
        self.with_motion = model_cfg.motion is not None

    def _make_model(self, model_cfg, motion_stats: dict, precision: str) -> None:
        """The model (initial weights, freezing), wrapped for DDP or sharded for FSDP, its optimizer and EMA."""
        from jamflow.model.jam import JAMModel
        from jamflow.train.ema import EMA
        from jamflow.train.optim import apply_freeze, make_optimizer

        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # identical initial weights on every process
        model = JAMModel(model_cfg)
        model.motion_stats = motion_stats
        load_init_weights(model, cfg)
        if cfg.stage == "distill":  # the teacher's weights stay; only the student's adapters train
            from jamflow.model.lora import add_lora, is_lora_param
            from jamflow.model.student import load_adapters

            if cfg.distill.init_adapters is not None:
                load_adapters(model, cfg.distill.init_adapters)  # checked against model.init_from's weights
            else:
                add_lora(model, cfg.distill.lora_rank)
            self.param_counts = train_only(model, is_lora_param)
        else:
            self.param_counts = apply_freeze(model, cfg.stage, cfg.freeze, cfg.unfreeze)
        if self.param_counts["trainable"] == 0:
            raise UserError(f"freeze: expected some trainable parameters, got none (stage {cfg.stage!r})")
        self.fsdp = cfg.fsdp and self.world > 1
        if self.fsdp:
            from jamflow.train.fsdp import shard_model

            if precision == "fp16":
                raise UserError("mixed_precision: expected bf16 or no with fsdp, got fp16 (no sharded grad scaler)")
            model = shard_model(model, self.device, self.world)
            self.model, self.optimizer = model, make_optimizer(model, cfg.optim, self.device)
        else:
            optimizer = make_optimizer(model, cfg.optim, self.device)
            self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.bare = model
        self.ema = EMA(model, cfg.ema) if cfg.ema.enabled else None  # sharded like the model under FSDP
        self.loss_view = _LossView(self.model, model)

    # ---- checkpoints ------------------------------------------------------------------------
    def _rng_state(self) -> dict:
        rng = {"torch_cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def save(self) -> None:
        from jamflow.train.checkpoints import save_checkpoint

        self.acc.wait_for_everyone()
        if self.fsdp:  # gathering is collective: every process takes part, the main one writes
            from jamflow.train.fsdp import full_model_state, full_optimizer_state, full_tensor

            model_state = full_model_state(self.model)
            optimizer_state = full_optimizer_state(self.model, self.optimizer)
            ema_state = {k: full_tensor(v).cpu() for k, v in self.ema.shadow.items()} if self.ema else None
        elif self.main:
            model_state = self.acc.unwrap_model(self.model).state_dict()
            optimizer_state = self.optimizer.state_dict()
            ema_state = self.ema.state_dict() if self.ema is not None else None
        if self.main:
            state = {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                     "ema_step": self.ema.step if self.ema is not None else 0,
                     "world_size": self.world, "grad_accum": self.cfg.optim.grad_accum, "fsdp": self.fsdp,
                     "model_config": self.model_cfg.to_dict(), "motion_stats": self.dataset.meta["stats"]}
            if self.cfg.stage == "distill":  # what `jamflow export` needs to write the student
                state["distill"] = to_dict(self.cfg.distill)
            save_checkpoint(self.run_dir, self.update, model=model_state, ema=ema_state, optimizer=optimizer_state,
                            state=state, rng=self._rng_state(), config_yaml=dump_yaml(self.cfg),
                            keep_last=self.cfg.checkpoint.keep_last)
        self.acc.wait_for_everyone()

    def _load(self, path: Path) -> None:
        from jamflow.model.jam import load_state_strict
        from jamflow.train.checkpoints import load_checkpoint

        ck = load_checkpoint(path)
        state = ck["state"]
        if state["world_size"] * state["grad_accum"] != self.world * self.cfg.optim.grad_accum:
            raise UserError(f"--resume: expected processes x grad_accum = {state['world_size'] * state['grad_accum']} "
                            f"as when {path.name} was written, got {self.world * self.cfg.optim.grad_accum}")
        if bool(state.get("fsdp", False)) != self.fsdp:
            raise UserError(f"--resume: expected fsdp={bool(state.get('fsdp', False))} as when {path.name} was "
                            f"written, got fsdp={self.fsdp}")
        if self.fsdp:
            from jamflow.train.fsdp import load_model_state, load_optimizer_state, shard_like

            load_model_state(self.model, ck["model"])
            load_optimizer_state(self.model, self.optimizer, ck["optimizer"])
            if self.ema is not None and ck["ema"] is not None:
                self.ema.shadow = {k: shard_like(ck["ema"][k], v) for k, v in self.ema.shadow.items()}
                self.ema.step = int(state["ema_step"])
        else:
            load_state_strict(self.acc.unwrap_model(self.model), ck["model"], str(path))
            self.optimizer.load_state_dict(ck["optimizer"])
            if self.ema is not None and ck["ema"] is not None:
                self.ema.load_state_dict(ck["ema"], state["ema_step"])
        torch.set_rng_state(ck["rng"]["torch_cpu"])
        if "torch_cuda" in ck["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(ck["rng"]["torch_cuda"], self.device)
        self.update = int(state["step"])
        # positions are counted per process; a different split of the same group maps 1:1
        per_update_old = state["grad_accum"]
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"]) // per_update_old * self.cfg.optim.grad_accum
        if self.main:
            print(f"resumed from {path} (update {self.update}, epoch {self.epoch})", flush=True)
            if ck["config_yaml"] != dump_yaml(self.cfg):
                print("note: the config differs from the checkpoint's; continuing with the new one "
                      "(the run is no longer an exact continuation)", flush=True)

    # ---- one update -------------------------------------------------------------------------
    def _to_device(self, batch: dict) -> dict:
        if not self.with_motion:
            batch = {k: v for k, v in batch.items() if not k.startswith("motion")}
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def train_update(self, micro_batches: list[dict]) -> dict:
        from jamflow.model.cfm import cfm_loss
        from jamflow.train.distill import distill_loss

        accum = len(micro_batches)
        self.model.train()
        sums = torch.zeros(3, device=self.device)  # loss, loss_audio, loss_motion (one sync per update)
        for a, batch in enumerate(micro_batches):
            seed = micro_seed(self.cfg.seed, self.update, a * self.world + self.rank)
            torch.manual_seed(seed)  # dropout
            gen = torch.Generator().manual_seed(seed)  # cfm draws on the CPU, then moves to the device
            batch = self._to_device(batch)
            last = a == accum - 1
            if self.fsdp:
                self.model.set_requires_gradient_sync(last)
                ctx = nullcontext()
            else:
                ctx = self.acc.no_sync(self.model) if not last else nullcontext()
            with ctx:
                with self.acc.autocast():
                    if self.cfg.stage == "distill":
                        out = distill_loss(self.loss_view, self.bare, batch, self.mask_cfg, self.cfg.distill, gen)
                    else:
                        out = cfm_loss(self.loss_view, batch, self.mask_cfg, generator=gen)
                self.acc.backward(out["loss"] / accum)
            sums += torch.stack([out["loss"].detach(), out["loss_audio"], out["loss_motion"]]).float() / accum
        grad_norm = 0.0
        if self.cfg.optim.max_grad_norm > 0:
            params = [p for p in self.model.parameters() if p.requires_grad]
            if self.fsdp:
                from jamflow.train.fsdp import full_tensor

                norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.max_grad_norm)
                grad_norm = float(full_tensor(norm))
            else:
                grad_norm = float(self.acc.clip_grad_norm_(params, self.cfg.optim.max_grad_norm))
        lr = set_lr(self.optimizer, self.update, self.cfg.optim)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.acc.unwrap_model(self.model))
        losses = self.acc.reduce(sums, reduction="mean") if self.world > 1 else sums
        return {"loss": float(losses[0]), "loss_audio": float(losses[1]), "loss_motion": float(losses[2]),
                "lr": lr, "grad_norm": grad_norm}

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        from tqdm import tqdm

        from jamflow.train.metrics import peak_flops, train_flops

        cfg, accum = self.cfg, self.cfg.optim.grad_accum
        total = cfg.optim.total_updates
        bar = tqdm(total=total, initial=self.update, desc="train", disable=not self.progress, unit="upd")
        if self.main:
            c = self.param_counts
            print(f"training {cfg.model.preset} stage {cfg.stage}: {c['trainable'] / 1e6:.2f}M trainable, "
                  f"{c['frozen'] / 1e6:.2f}M frozen, {len(self.dataset)} clips, {self.sampler.batches_per_rank} "
                  f"batches/epoch/process, {self.world} process(es) on {self.device}, "
                  f"precision {self.acc.mixed_precision}", flush=True)
        peak = peak_flops(self.device)
        window = {"frames": 0, "samples": 0, "flops": 0.0, "t0": time.perf_counter()}
        last = {}
        with StopSignals() as stop:
            while self.update < total and self.stopped_by is None:
                self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
                it = iter(self.loader)
                while self.update < total and self.batch_in_epoch + accum <= self.sampler.batches_per_rank:
                    micro = [next(it) for _ in range(accum)]
                    last = self.train_update(micro)
                    self.batch_in_epoch += accum
                    self.update += 1
                    for b in micro:
                        window["frames"] += int(b["mel_lens"].sum())
                        window["samples"] += len(b["mel_lens"])
                        if peak is not None:
                            window["flops"] += train_flops(self.model_cfg, b["mel_lens"], b.get("motion_lens"))
                    bar.update(1)
                    bar.set_postfix(loss=f"{last['loss']:.4f}")
                    if self.update < total:  # a caught signal ends the run here as the last update does
                        self.stopped_by = self._agreed_stop(stop)
                    end = self.update == total or self.stopped_by is not None
                    if self.update % cfg.log.every == 0 or end:
                        self._log(last, window, peak)
                    if cfg.log.sample_every and self.update % cfg.log.sample_every == 0 and self.stopped_by is None:
                        self._samples()
                    if self.update % cfg.checkpoint.every == 0 or end:
                        self.save()
                    if self.stopped_by is not None:
                        break
                if self.batch_in_epoch + accum > self.sampler.batches_per_rank:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                del it
        bar.close()
        self.log.close()
        if self.stopped_by is not None and self.main:
            print(f"stopped by {signal.Signals(self.stopped_by).name} after update {self.update}: checkpoint saved, "
                  f"continue with --resume (exit code {exit_code(self.stopped_by)})", flush=True)
        return last

    def _agreed_stop(self, stop: StopSignals) -> int | None:
        """The signal any process has caught (max over processes), so that all stop after the same update."""
        if self.world == 1:
            return stop.signum
        flag = torch.tensor([stop.signum or 0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag) or None

    def _log(self, last: dict, window: dict, peak: float | None) -> None:
        seconds = max(time.perf_counter() - window["t0"], 1e-9)
        scale = self.world  # every process sees as much data as this one, on average
        values = dict(last, epoch=self.epoch, frames_per_s=window["frames"] * scale / seconds,
                      samples_per_s=window["samples"] * scale / seconds)
        if peak is not None:
            values["mfu"] = window["flops"] / seconds / peak
            values["peak_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.log.scalars(self.update, values)
        window.update(frames=0, samples=0, flops=0.0, t0=time.perf_counter())

    def _samples(self) -> None:
        if not self.main or self.fsdp:  # a main-process-only forward would deadlock a sharded model
            return
        from jamflow.train.samples import log_samples

        try:
            log_samples(self)
        except Exception as e:  # a sample (vocoder, renderer, ffmpeg) must never end a long run
            print(f"warning: samples at update {self.update} failed: {type(e).__name__}: {e}", flush=True)


class _LossView:
    """What cfm_loss sees: the bare model's attributes (cfg, motion), calls through the DDP wrapper
    so that gradients are synchronised."""

    def __init__(self, wrapped, bare):
        self.wrapped, self.cfg, self.audio, self.motion = wrapped, bare.cfg, bare.audio, bare.motion

    def __call__(self, *args, **kwargs):
        return self.wrapped(*args, **kwargs)
