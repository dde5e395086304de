import json
import subprocess
import sys

import pytest
import torch

from jamflow.errors import UserError
from jamflow.train.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from jamflow.train.config import EMAConfig
from jamflow.train.ema import EMA


def _save(run_dir, step, keep_last=0):
    model = {"w": torch.full((3, 4), float(step)), "b": torch.arange(4.0)}
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    return save_checkpoint(run_dir, step, model=model, ema={"w": model["w"] * 2}, optimizer=opt.state_dict(),
                           state={"epoch": 1, "batch_in_epoch": step}, rng={"torch_cpu": torch.get_rng_state()},
                           config_yaml=f"step: {step}\n", keep_last=keep_last)


def test_roundtrip_and_keep_last(tmp_path):
    for step in (2, 4, 6, 8):
        _save(tmp_path, step, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000006", "step_00000008"]
    ck = load_checkpoint(tmp_path)
    assert ck["path"].name == "step_00000008" and ck["state"]["step"] == 8 and ck["state"]["batch_in_epoch"] == 8
    assert torch.equal(ck["model"]["w"], torch.full((3, 4), 8.0)) and torch.equal(ck["ema"]["w"], torch.full((3, 4), 16.0))
    assert ck["config_yaml"] == "step: 8\n"
    # the optimizer state survives the flat safetensors + JSON form and loads into a fresh AdamW
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    opt.load_state_dict(ck["optimizer"])
    assert torch.allclose(opt.state[p]["exp_avg"], torch.full((3,), 0.1))
    assert float(opt.state[p]["step"]) == 1.0


KILLER = """
import os, signal, sys, torch
sys.path.insert(0, {here!r})
import jamflow.train.checkpoints as C
point = {point!r}
if point == "latest":
    real = os.replace
    def replace(src, dst):
        if str(dst).endswith("latest"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)
    C.os.replace = replace
else:
    real = C._save_tensors
    def save(path, tensors):
        real(path, tensors)
        if path.name.startswith(point):
            os.kill(os.getpid(), signal.SIGKILL)
    C._save_tensors = save
from test_checkpoints import _save
_save({run!r}, 4)
"""


@pytest.mark.multiprocess
@pytest.mark.parametrize("point", ["model", "optimizer", "latest"])
def test_killed_while_saving_leaves_latest_intact(tmp_path, point):
    _save(tmp_path, 2)
    code = KILLER.format(here=str(__import__("pathlib").Path(__file__).parent), point=point, run=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr[-1500:]
    # `latest` still names the complete step-2 checkpoint, which loads
    ck = load_checkpoint(tmp_path)
    assert ck["path"].name == "step_00000002" and torch.equal(ck["model"]["w"], torch.full((3, 4), 2.0))
    # the next save clears the debris and moves `latest` on
    _save(tmp_path, 6)
    assert latest_checkpoint(tmp_path).name == "step_00000006"
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_latest_pointing_nowhere_is_a_clear_error(tmp_path):
    _save(tmp_path, 2)
    (tmp_path / "checkpoints" / "latest").write_text("step_00000099\n")
    with pytest.raises(UserError, match="complete checkpoint"):
        latest_checkpoint(tmp_path)
    with pytest.raises(UserError, match="run folder or a training checkpoint"):
        load_checkpoint(tmp_path / "nothing")


def test_ema_schedule():
    model = torch.nn.Linear(2, 1, bias=False)
    cfg = EMAConfig(beta=0.9, update_after_step=2, update_every=2, inv_gamma=1.0, power=1.0)
    ema = EMA(model, cfg)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # step 1: copy
    assert torch.equal(ema.shadow["weight"], torch.ones(1, 2))
    ema.update(model)  # step 2: copy
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)  # step 3: odd, skipped
    assert torch.equal(ema.shadow["weight"], torch.ones(1, 2))
    ema.update(model)  # step 4: k = 1, decay = 1 - 1/2 = 0.5 -> 0.5 * 1 + 0.5 * 3
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 2.0))
    ema.step = 1000
    assert ema.decay() == 0.9  # capped at beta
    target = torch.nn.Linear(2, 1, bias=False)
    ema.copy_to(target)
    assert torch.equal(target.weight, ema.shadow["weight"])


def test_state_json_has_no_tensors(tmp_path):
    path = _save(tmp_path, 2)
    state = json.loads((path / "state.json").read_text())
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.1
    assert not list(path.glob("*.pt")) and not list(path.glob("*.bin"))
