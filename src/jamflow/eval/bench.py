"""`jamflow bench`: speed and memory of inference and training, printed as a table and saved as JSON.

    jamflow bench --preset small --mode inference --seconds 5,10 --nfe 16,32 --batch 1
    jamflow bench --preset base --device cuda --dtype bf16 --mode all --json out/bench.json
    jamflow bench --checkpoint ckpt/ --mode inference          # a trained model's own config

Modes
- inference: the sampler end to end on random conditioning (a 2 s prompt is known, `seconds` are
  generated, CFG on as at inference), then the vocoder. Per (task, seconds, NFE, batch): wall time,
  RTF = time / generated seconds (per batch item), time-to-first-chunk = sampling + vocoding of one
  `--chunk_s` chunk at batch 1 (what a streaming long-form user waits for), peak memory.
  Tasks differ in which stream is known, not in compute: `tts`/`talk` generate both streams, `speech`
  runs the audio stream alone (motion off), `animate`/`dub` keep one stream known.
- training: cfm_loss + backward + AdamW step on random batches; frames/s (mel frames), achieved
  FLOP/s (counted with torch's FlopCounterMode) and MFU against `--peak_tflops` (a table of common GPUs
  is built in for CUDA).
- stream: `JAMFlow.talk_stream` on a real checkpoint, end to end (time to first audio/frame, RTF,
  per-stage time, peak RSS) at each `--seconds` of text; see eval/bench_stream.py.
- compare: one forward of the same-size plain F5-TTS DiT (our Audio-DiT, motion stream off) vs the
  joint model, and the upstream `f5_tts` DiT when that package imports.

Precision: the weights stay fp32 and the model runs under autocast in `--dtype`, as `JAMFlow` and the
trainer run it; `auto` (default) is what inference picks for the device (`infer.engine.pick_dtype`: bf16 on
CUDA and on CPUs with bf16 hardware, else fp32).

Timing (eval/timing.py): `--warmup` untimed runs, then `--repeats` timed runs; CUDA is synchronised
around each run and its peak allocated memory read; on CPU the peak is the process RSS rise over the
warm-up, sampled every 5 ms by a thread that is stopped before the timed runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from jamflow.dtypes import autocast
from jamflow.errors import UserError
from jamflow.eval.timing import time_fn
from jamflow.infer.engine import Engine, pick_device, pick_dtype

TASKS = ("tts", "talk", "speech", "animate", "dub")
# dense bf16 tensor-core peak, TFLOP/s (vendor datasheets); matched on the device name
GPU_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0,
                   "4090": 165.0, "3090": 71.0, "V100": 125.0, "T4": 65.0}


def _progress(row: dict) -> None:
    """One line per finished case on stderr: a sweep can take minutes on CPU."""
    import sys

    keys = ("mode", "task", "model", "seconds", "nfe", "batch")
    print("bench: done " + " ".join(f"{k}={row[k]}" for k in keys if k in row), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- model and inputs

@dataclass
class Setup:
    engine: Engine  # the model placed as inference places it; the vocoder is set per inference sweep
    name: str
    params: dict | None = None  # counted before quantising (int8 weights are not parameters)

    model = property(lambda self: self.engine.model)
    device = property(lambda self: self.engine.device)
    dtype = property(lambda self: self.engine.dtype)
    int8 = property(lambda self: self.engine.int8)


def load_setup(preset: str | None, checkpoint: str | None, device: str, dtype: str = "auto") -> Setup:
    """A preset (random init) or a checkpoint on `device` in `dtype` ("auto", a DTYPES name, or int8)."""
    from jamflow.model.jam import JAMModel

    device = pick_device(device)
    pick_dtype(device, dtype)  # a bad --device or --dtype fails before the model is built
    if checkpoint:
        model, name = JAMModel.from_pretrained(checkpoint), f"checkpoint {checkpoint}"
    else:
        from jamflow.config import get_preset

        model, name = JAMModel(get_preset(preset)), f"preset {preset} (random init)"
    params = model.num_params()
    return Setup(Engine.place(model, device, dtype, progress=False), name, params)


def random_inputs(model, batch: int, seconds: float, prompt_s: float, device, seed: int = 0) -> dict:
    """Random conditioning shaped like a real job: mel [b, n, 100], text [b, nt], motion [b, m, dg] ..."""
    cfg, timeline = model.cfg, model.cfg.timeline
    g = torch.Generator().manual_seed(seed)
    m = int(round((prompt_s + seconds) * timeline.motion_fps))
    n = timeline.mel_frames_for(m)  # the same instant as motion frame m, as in training and inference
    known_m = int(round(prompt_s * timeline.motion_fps))
    nt = max(4, int(seconds * 14))  # ~14 characters per second of speech
    out = {
        "n": n, "m": m,
        "mel": torch.randn(batch, n, cfg.audio.mel_dim, generator=g).to(device),
        "text": torch.randint(1, cfg.audio.text_num_embeds, (batch, nt), generator=g).to(device),
        "mel_known": (torch.arange(n) < timeline.mel_frames_for(known_m)).expand(batch, n).to(device),
    }
    if cfg.motion is not None:
        out["motion"] = torch.randn(batch, m, cfg.motion_gen_dim, generator=g).to(device)
        out["motion_known"] = (torch.arange(m) < known_m).expand(batch, m).to(device)
        out["context"] = torch.randn(batch, m, cfg.motion_context_dim, generator=g).to(device)
    return out


def _sample_fn(setup: Setup, task: str, inputs: dict, nfe: int, cfg_strength: float, cfg_until: float = 1.0):
    """The sampler call of one case, through the engine: which stream is known depends on the task."""
    mel_known, motion_known = inputs["mel_known"], inputs.get("motion_known")
    if task == "animate":
        mel_known = torch.ones_like(mel_known)
    if task == "dub" and motion_known is not None:
        motion_known = torch.ones_like(motion_known)
    motion = {}
    if task != "speech" and "motion" in inputs:
        motion = dict(motion_cond=inputs["motion"], motion_known=motion_known, motion_context=inputs["context"])
    return lambda: setup.engine.sample_tensors(inputs["text"], inputs["mel"], mel_known, nfe_step=nfe,
                                               cfg_strength=cfg_strength, cfg_until=cfg_until, seed=0, **motion)


def _vocoder(kind: str, device):
    if kind == "none":
        return None
    from jamflow.vocoder import NAMES, Vocos, load_vocoder

    if kind in NAMES:
        return load_vocoder(kind, device=str(device))
    return Vocos().to(device).eval()  # the released architecture; random weights time the same


def bench_inference(setup: Setup, tasks, seconds_list, nfe_list, batch_list, prompt_s=2.0, chunk_s=3.0,
                    cfg_strength=2.0, vocoder="vocos", warmup=1, repeats=3, cfg_until=1.0) -> list[dict]:
    voc = setup.engine.vocoder = _vocoder(vocoder, setup.device)
    vocode = lambda mel: None if voc is None else setup.engine.decode(mel)

    rows = []
    for task in tasks:
        if task not in TASKS:
            raise UserError(f"tasks: expected some of {list(TASKS)}, got {task!r}")
        if task != "speech" and setup.model.cfg.motion is None:
            raise UserError(f"tasks: {task!r} needs a motion stream; this model is audio-only (use 'speech')")
        for nfe in nfe_list:
            chunk = random_inputs(setup.model, 1, chunk_s, prompt_s, setup.device)
            run_chunk = _sample_fn(setup, task, chunk, nfe, cfg_strength, cfg_until)
            ttfc = time_fn(lambda: vocode(run_chunk()[0]), setup.device, warmup, repeats)["mean_s"]
            for seconds in seconds_list:
                for batch in batch_list:
                    inputs = random_inputs(setup.model, batch, seconds, prompt_s, setup.device)
                    run = _sample_fn(setup, task, inputs, nfe, cfg_strength, cfg_until)
                    t = time_fn(run, setup.device, warmup, repeats)
                    mel = t["result"][0]
                    v = time_fn(lambda: vocode(mel), setup.device, 0, 1) if voc is not None else {"mean_s": 0.0}
                    total = t["mean_s"] + v["mean_s"]
                    rows.append({"mode": "inference", "task": task, "seconds": seconds, "nfe": nfe,
                                 "cfg_until": cfg_until, "batch": batch,
                                 "sample_s": t["mean_s"], "sample_std_s": t["std_s"], "vocoder_s": v["mean_s"],
                                 "total_s": total, "rtf": total / (seconds * batch), "ttfc_s": ttfc,
                                 "peak_mem_mb": t["peak_mem_mb"]})
                    _progress(rows[-1])
    return rows


# ---------------------------------------------------------------- training and FLOPs

def count_flops(fn) -> float:
    """FLOPs of one call (matmuls, convolutions, attention) counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def peak_flops(device: torch.device, peak_tflops: float | None) -> float | None:
    if peak_tflops:
        return peak_tflops * 1e12
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tf in GPU_PEAK_TFLOPS.items():
            if key in name:
                return tf * 1e12
    return None


def bench_training(setup: Setup, seconds_list, batch_list, warmup=1, repeats=3, peak_tflops=None) -> list[dict]:
    from jamflow.model.cfm import cfm_loss

    model = setup.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows = []
    try:
        for seconds in seconds_list:
            for batch in batch_list:
                x = random_inputs(model, batch, seconds, 0.0, setup.device)
                data = {"mel": x["mel"], "mel_lens": torch.full((batch,), x["n"], device=setup.device), "text": x["text"]}
                if "motion" in x:
                    data.update(motion=x["motion"], motion_context=x["context"],
                                motion_lens=torch.full((batch,), x["m"], device=setup.device))
                gen = torch.Generator().manual_seed(0)

                def loss_backward():
                    with autocast(setup.device, setup.dtype):
                        loss = cfm_loss(model, data, generator=gen)["loss"]
                    loss.backward()

                def step():
                    opt.zero_grad(set_to_none=True)
                    loss_backward()
                    opt.step()

                flops = count_flops(loss_backward)
                opt.zero_grad(set_to_none=True)
                t = time_fn(step, setup.device, warmup, repeats)
                achieved = flops / t["mean_s"]
                peak = peak_flops(setup.device, peak_tflops)
                rows.append({"mode": "training", "seconds": seconds, "batch": batch, "step_s": t["mean_s"],
                             "frames_per_s": batch * x["n"] / t["mean_s"], "tflops": achieved / 1e12,
                             "mfu": achieved / peak if peak else None, "peak_mem_mb": t["peak_mem_mb"]})
                _progress(rows[-1])
    finally:
        model.eval()
    return rows


# ---------------------------------------------------------------- plain F5 DiT vs joint model

def upstream_f5_dit(cfg, device):
    """The f5-tts package's DiT with the same size, or None (with the reason) when it does not import."""
    try:
        from f5_tts.model import DiT
    except Exception as e:  # ImportError, or torchaudio failing inside it
        return None, f"f5-tts not usable here ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    a = cfg.audio
    kw = dict(dim=a.dim, depth=a.depth, heads=a.heads, dim_head=a.dim_head, ff_mult=a.ff_mult, mel_dim=a.mel_dim,
              text_num_embeds=a.text_num_embeds, text_dim=a.text_dim, conv_layers=a.conv_layers)
    try:  # v1 options; releases before them take only the base arguments
        dit = DiT(**kw, text_mask_padding=a.text_mask_padding, pe_attn_head=a.pe_attn_head)
    except TypeError:
        dit = DiT(**kw)
    return dit.to(device).eval(), None


def bench_compare(setup: Setup, seconds_list, batch_list, warmup=1, repeats=3) -> list[dict]:
    model = setup.model
    upstream, why = upstream_f5_dit(model.cfg, setup.device)
    rows = []
    for seconds in seconds_list:
        for batch in batch_list:
            x = random_inputs(model, batch, seconds, 0.0, setup.device)
            t = torch.full((batch,), 0.5, device=setup.device)
            variants = {"audio-dit (motion off)": lambda: model(x["mel"], x["mel"], x["text"], t)}
            if "motion" in x:
                variants["joint (audio + motion)"] = lambda: model(
                    x["mel"], x["mel"], x["text"], t, motion_x=x["motion"], motion_cond=x["motion"],
                    motion_context=x["context"])
            if upstream is not None:
                variants["upstream f5-tts DiT"] = lambda: upstream(x["mel"], x["mel"], x["text"], t, drop_audio_cond=False,
                                                                 drop_text=False)
            for name, fn in variants.items():
                with torch.inference_mode(), autocast(setup.device, setup.dtype):
                    r = time_fn(fn, setup.device, warmup, repeats)
                rows.append({"mode": "compare", "model": name, "seconds": seconds, "batch": batch,
                             "forward_s": r["mean_s"], "forward_std_s": r["std_s"], "peak_mem_mb": r["peak_mem_mb"]})
                _progress(rows[-1])
            if why:
                rows.append({"mode": "compare", "model": "upstream f5-tts DiT", "seconds": seconds, "batch": batch,
                             "note": why})
    return rows


# ---------------------------------------------------------------- table, JSON, CLI

def format_table(rows: list[dict]) -> str:
    """One plain-text table per mode (columns = the keys its rows have)."""
    out = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        group = [r for r in rows if r["mode"] == mode]
        keys = [k for k in dict.fromkeys(k for r in group for k in r) if k != "mode"]
        cells = [[_cell(r.get(k)) for k in keys] for r in group]
        widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
        out.append(f"[{mode}]")
        out.append("  ".join(k.rjust(w) for k, w in zip(keys, widths)))
        out += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(out)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else "-"
    return str(v)


def environment(setup: Setup) -> dict:
    env = {"model": setup.name, "params": setup.params or setup.model.num_params(), "device": str(setup.device),
           "dtype": "int8" if setup.int8 else str(setup.dtype).replace("torch.", ""), "torch": torch.__version__,
           "threads": torch.get_num_threads()}
    if setup.device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(setup.device)
    return env
