"""Training checkpoints (atomic, keep-last-N, exact resume) and their export for inference (`jamflow export`).

A run folder holds
    config.yaml                    the resolved experiment config
    checkpoints/step_00001000/     one training checkpoint:
        model.safetensors            online weights
        ema.safetensors              EMA weights (what inference uses)
        optimizer.safetensors        AdamW moments, keys state.<param index>.<name>
        state.json                   step, epoch, sampler position, optimizer param groups, EMA step,
                                     model config + motion stats
        rng.safetensors              torch CPU (+ CUDA) generator states
        config.yaml                  the resolved experiment config again
    checkpoints/latest             name of the newest complete checkpoint

`export` writes the EMA (or online) weights as an inference folder (JAMModel.save_pretrained), in fp32
or, with dtype fp16/bf16, with the parameters stored in that dtype (half the size); the few buffers
(RoPE frequencies) stay fp32. The stored dtype is not repeated in config.json: the safetensors header
already names each tensor's dtype, the config describes the architecture (which does not change), and
JAMModel.from_pretrained loads any of them into fp32 parameters (load_state_dict casts), so a second
record could only disagree with the file.

No pickle anywhere. A checkpoint is written into a hidden temp folder, fsynced, renamed into place,
and only then is `latest` replaced (temp file + rename): a process killed at any moment leaves
`latest` pointing at a complete checkpoint. Leftover temp folders are removed on the next save.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from jamflow.dtypes import DTYPES
from jamflow.errors import UserError
from jamflow.fileio import make_temp_dir, write_text_atomic

PREFIX = "step_"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


# ---------------------------------------------------------------------------------------------
# optimizer state <-> flat tensors + JSON (no pickle)

def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Slots keyed by parameter index (plain/DDP) or parameter name (FSDP): 'state/<key>/<slot>'."""
    tensors, scalars = {}, {}
    for key, slots in state["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"state/{key}/{name}"] = value
            else:
                scalars[f"{key}/{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _param_key(text: str):
    return int(text) if text.isdigit() else text


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        _, index, name = key.split("/", 2)
        state.setdefault(_param_key(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split("/", 1)
        state.setdefault(_param_key(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


# ---------------------------------------------------------------------------------------------
# save / find / load

def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: str | Path, step: int, *, model: dict, ema: dict | None, optimizer: dict,
                    state: dict, rng: dict, config_yaml: str, keep_last: int = 0) -> Path:
    """Write one checkpoint atomically, point `latest` at it, prune to `keep_last` (0 keeps all)."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    name = f"{PREFIX}{step:08d}"
    tmp = make_temp_dir(root, prefix=f".tmp-{name}-")
    opt_tensors, opt_meta = flatten_optimizer(optimizer)
    _save_tensors(tmp / "model.safetensors", model)
    if ema is not None:
        _save_tensors(tmp / "ema.safetensors", ema)
    _save_tensors(tmp / "optimizer.safetensors", opt_tensors)
    _save_tensors(tmp / "rng.safetensors", rng)
    (tmp / "state.json").write_text(json.dumps({**state, "step": step, "optimizer": opt_meta}, indent=1))
    (tmp / "config.yaml").write_text(config_yaml)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    final = root / name
    if final.exists():  # re-saving a step (resumed run): move the old one aside first
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    write_text_atomic(root / "latest", name + "\n")
    if keep_last > 0:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint `latest` names; None when the run has none."""
    pointer = checkpoint_dir(run_dir) / "latest"
    if not pointer.is_file():
        return None
    path = checkpoint_dir(run_dir) / pointer.read_text().strip()
    if not (path / "state.json").is_file():
        raise UserError(f"--resume: expected {path} (named by {pointer}) to be a complete checkpoint, got none")
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder (-> its latest checkpoint) or a checkpoint folder -> the checkpoint folder."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    found = latest_checkpoint(path) if path.is_dir() else None
    if found is None:
        raise UserError(f"checkpoint: expected a run folder or a training checkpoint folder, got {str(path)!r}")
    return found


def read_state(path: Path) -> dict:
    """state.json of a training checkpoint; a damaged one is a one-line error naming the file."""
    file = path / "state.json"
    try:
        state = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"checkpoint: expected valid UTF-8 JSON in {file}, got {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise UserError(f"checkpoint: expected a JSON table in {file}, got {type(state).__name__}")
    return state


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's .safetensors file, its size checked against its header first (a file cut short by a
    full disk or a killed copy is named, not a traceback from deep inside safetensors)."""
    from jamflow.model.jam import check_safetensors

    if not file.is_file():
        raise UserError(f"checkpoint: expected {file} to exist, got no such file")
    check_safetensors(file)
    try:
        return load_file(str(file))
    except Exception as e:  # noqa: BLE001 - safetensors' own error types
        raise UserError(f"checkpoint: expected a readable {file.name}, got {file} ({type(e).__name__})") from None


def load_checkpoint(path: str | Path) -> dict:
    """-> {model, ema (or None), optimizer (state dict), state (json), rng, config_yaml}."""
    path = resolve_checkpoint(path)
    state = read_state(path)
    if "optimizer" not in state:
        raise UserError(f"checkpoint: expected an optimizer entry in {path / 'state.json'}, got none")
    optimizer = unflatten_optimizer(load_tensors(path / "optimizer.safetensors"), state.pop("optimizer"))
    ema_path = path / "ema.safetensors"
    return {"path": path, "model": load_tensors(path / "model.safetensors"),
            "ema": load_tensors(ema_path) if ema_path.is_file() else None, "optimizer": optimizer,
            "state": state, "rng": load_tensors(path / "rng.safetensors"),
            "config_yaml": (path / "config.yaml").read_text(encoding="utf-8", errors="replace")}


# ---------------------------------------------------------------------------------------------
# export: EMA weights -> save_pretrained folder

def inference_weights(path: Path, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """Full state dict for inference: the EMA parameters over the online state (which has the buffers)."""
    state = load_tensors(path / "model.safetensors")
    if use_ema and (path / "ema.safetensors").is_file():
        state.update(load_tensors(path / "ema.safetensors"))
    return state



def export(checkpoint: str | Path, out: str | Path, use_ema: bool = True, dtype: str = "fp32") -> Path:
    """Training checkpoint (or run folder) -> inference checkpoint (model.safetensors + config.json),
    parameters stored as `dtype` ("fp32" / "fp16" / "bf16")."""
    from jamflow.config import JAMConfig
    from jamflow.model.jam import JAMModel

    if dtype not in DTYPES:
        raise UserError(f"--dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")
    path = resolve_checkpoint(checkpoint)
    state = read_state(path)
    if use_ema and not (path / "ema.safetensors").is_file():
        raise UserError(f"--checkpoint: expected ema.safetensors in {path}, got none (EMA disabled? use --no_ema)")
    if not isinstance(state.get("model_config"), dict):
        raise UserError(f"--checkpoint: expected a model_config table in {path / 'state.json'}, got none")
    if "distill" in state:  # a few-step student: its adapters, not a whole model
        return export_student(path, state, out, use_ema, DTYPES[dtype])
    model = JAMModel(JAMConfig.from_dict(state["model_config"]))
    from jamflow.model.jam import load_state_strict

    load_state_strict(model, inference_weights(path, use_ema), str(path))
    model.motion_stats = state.get("motion_stats")
    return save_inference_folder(model, out, DTYPES[dtype])


def export_student(checkpoint, state: dict, out, use_ema: bool = True, dtype: torch.dtype = torch.float16):
    """A distill run's training checkpoint (folder `checkpoint`, its state.json `state`) -> a student
    folder (model/student.py): the EMA adapters and the sampling they were trained for."""
    from jamflow.config import JAMConfig
    from jamflow.model.jam import JAMModel, load_state_strict
    from jamflow.model.lora import add_lora
    from jamflow.model.student import StudentSpec, dit_fingerprint, save_student
    from jamflow.train.config import from_dict
    from jamflow.train.distill import DistillConfig, student_sampling

    cfg = from_dict(DistillConfig, state["distill"], "state.distill")
    model = JAMModel(JAMConfig.from_dict(state["model_config"]))
    add_lora(model, cfg.lora_rank)
    load_state_strict(model, inference_weights(checkpoint, use_ema), str(checkpoint))
    spec = StudentSpec(**student_sampling(cfg), teacher_fingerprint=dit_fingerprint(model))
    return save_student(model, out, spec, dtype)


def save_inference_folder(model, out, dtype: torch.dtype, extra_files=()) -> Path:
    """model -> `out` (model.safetensors + config.json, + copies of extra_files), parameters stored as
    dtype, written into a temp folder and renamed into place (a previous `out` is replaced)."""
    # parameters only: the buffers (RoPE inv_freq) stay fp32, as an fp16 inv_freq would put the angle
    # position x inv_freq up to ~0.2 rad off by frame 1000
    for p in model.parameters():
        p.data = p.data.to(dtype)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out.parent, prefix=f".{out.name}.tmp-")
    try:
        for extra in extra_files:
            shutil.copy2(extra, tmp / Path(extra).name)
        model.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
