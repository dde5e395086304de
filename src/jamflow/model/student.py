"""A few-step student on disk: the adapters a `stage: distill` run trained, and how it samples.

A student folder holds `student.json` (format, the sampling it was distilled for, the fingerprint of
its teacher's weights) and `adapter.safetensors` (LoRA A and B of every block linear, model/lora.py).
It is applied to its teacher at load time and folded in, so a student runs at the teacher's cost per
call, with `steps` calls and no guidance pass. The fingerprint makes sure an adapter is never put on
another model than the one it was trained against.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from jamflow.errors import UserError
from jamflow.fileio import atomic_path, write_json_atomic
from jamflow.model.lora import add_lora, lora_state, merge

STUDENT_CONFIG = "student.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
FORMAT = "jamflow-student"


@dataclass
class StudentSpec:
    steps: int  # model calls per sample (one per step; guidance is baked in)
    time_grid: list  # [steps + 1] flow times from 0 to 1
    cfg_strength: float  # the audio guidance it was distilled with
    cfg_strength_motion: float | None  # the motion guidance (None: cfg_strength)
    lora_rank: int
    lora_alpha: float
    teacher_fingerprint: str  # dit_fingerprint of the teacher

    def check(self, where: str) -> None:
        grid = self.time_grid
        ok = (isinstance(grid, list) and len(grid) == self.steps + 1 and grid[0] == 0 and abs(grid[-1] - 1) < 1e-6
              and all(a < b for a, b in zip(grid[:-1], grid[1:])))
        if not ok:
            raise UserError(f"student: expected time_grid of {self.steps + 1} increasing times from 0 to 1 in {where}, "
                            f"got {grid!r}")


def dit_fingerprint(model: torch.nn.Module, precision: torch.dtype = torch.float32) -> str:
    """sha256 over the names and values of both streams' weights, adapters excluded (the duration
    predictor is refitted separately and does not enter). `precision`: the values are rounded to it first
    (bf16: one checkpoint's fp32 copy and its bf16-compute copy, `dtypes.half_matmul_weights`, agree)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        if not name.startswith(("audio.", "motion.")) or name.endswith((".lora_a", ".lora_b")):
            continue
        digest.update(name.encode())
        # + 0.0 turns -0.0 into 0.0: the EMA's lerp does the same to a frozen -0.0 weight
        digest.update((value.detach().to(precision).float().cpu() + 0.0).contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_student(model: torch.nn.Module, out, spec: StudentSpec, dtype: torch.dtype = torch.float16) -> Path:
    """The adapters of `model` (a JAMModel with LoRA) and `spec` -> folder `out`."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to("cpu", dtype).contiguous() for k, v in lora_state(model).items()}
    if not tensors:
        raise UserError("student: expected a model with LoRA adapters, got none")
    with atomic_path(out / ADAPTER_WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_json_atomic(out / STUDENT_CONFIG, {"format": FORMAT, "format_version": 1, "student": asdict(spec)}, indent=2)
    return out


def read_student(folder) -> StudentSpec:
    """student.json of a student folder, checked."""
    folder = Path(folder)
    for name in (STUDENT_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / name).is_file():
            raise UserError(f"student: expected {folder / name} (a folder from `jamflow export` of a distill run), "
                            f"got no such file")
    try:
        meta = json.loads((folder / STUDENT_CONFIG).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        spec = StudentSpec(**meta["student"])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise UserError(f"student: expected a {FORMAT} {STUDENT_CONFIG} in {folder}, got {type(e).__name__}: {e}") from None
    spec.check(str(folder / STUDENT_CONFIG))
    return spec


def load_adapters(model: torch.nn.Module, folder) -> StudentSpec:
    """Put the student's adapters on its teacher `model` (in place, unmerged, so they can train on)
    -> its StudentSpec."""
    from safetensors.torch import load_file

    from jamflow.model.jam import load_state_strict

    folder = Path(folder)
    spec = read_student(folder)
    if dit_fingerprint(model) != spec.teacher_fingerprint:
        raise UserError(f"student: expected the teacher {folder} was distilled from (weights fingerprint "
                        f"{spec.teacher_fingerprint[:12]}), got a model with {dit_fingerprint(model)[:12]}")
    add_lora(model, spec.lora_rank, spec.lora_alpha)
    adapter = load_file(str(folder / ADAPTER_WEIGHTS))
    if set(adapter) != set(lora_state(model)):
        raise UserError(f"student: expected adapters for every block linear of rank {spec.lora_rank} in "
                        f"{folder / ADAPTER_WEIGHTS}, got {len(adapter)} tensors for {len(lora_state(model))} slots")
    state = dict(model.state_dict())
    state.update({k: v.float() for k, v in adapter.items()})
    load_state_strict(model, state, str(folder / ADAPTER_WEIGHTS))
    return spec


def apply_student(model: torch.nn.Module, folder) -> torch.nn.Module:
    """Put the student's adapters on its teacher `model` and fold them in (in place) -> the model, which
    then carries `.student` (its StudentSpec) for the sampler."""
    spec = load_adapters(model, folder)
    merge(model)
    model.student = spec
    return model
