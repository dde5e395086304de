from pathlib import Path

import pytest
import torch
import yaml

from jamflow.errors import UserError
from jamflow.train.config import OptimConfig, TrainConfig, dump_yaml, from_dict, load_config, parse_override
from jamflow.train.optim import lr_factor, make_optimizer

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "jamflow" / "train" / "configs"


def test_overrides_are_typed_and_nested(cache, tmp_path, helpers):
    path = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run")
    cfg = load_config(path, ["optim.lr=3e-4", "optim.betas=[0.8, 0.95]", "ema.enabled=false",
                             "model.overrides.joint_window_s=null", "masks.p_joint=0.5", "name=x"])
    assert cfg.optim.lr == 3e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == [0.8, 0.95] and cfg.ema.enabled is False
    assert cfg.model.overrides == {"audio": {"text_num_embeds": 256}, "joint_window_s": None}
    assert cfg.masks == {"p_joint": 0.5} and cfg.name == "x"
    assert cfg.optim.total_updates == 6  # from the file, untouched
    # the resolved config round-trips through YAML (it is stored in the run folder and checkpoints)
    again = from_dict(TrainConfig, yaml.safe_load(dump_yaml(cfg)))
    assert again == cfg
    assert parse_override("a.b=c=d") == (["a", "b"], "c=d")


def test_relative_paths_resolve_against_the_working_directory(cache, tmp_path, helpers, monkeypatch):
    path = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run")
    monkeypatch.chdir(cache.parent)
    assert load_config(path, [f"data.cache={cache.name}"]).data.cache == str(cache.resolve())


def test_lr_schedule():
    from jamflow.train.config import OptimConfig

    o = OptimConfig(lr=1.0, warmup_updates=10, total_updates=110, min_lr_ratio=0.0)
    assert [lr_factor(u, o) for u in (0, 5, 10, 60, 110, 500)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]


@pytest.mark.parametrize("name", ["tiny.yaml", "small.yaml", "base.yaml", "small_motion.yaml"])
def test_shipped_configs_parse(name, cache):
    cfg = load_config(CONFIGS / name, [f"data.cache={cache}"])
    assert cfg.model.preset in ("tiny", "small", "base")
    with pytest.raises(UserError, match="data.cache"):
        load_config(CONFIGS / name, ["data.cache=/nonexistent/cache"])


def test_fused_adamw_is_the_cpu_default_and_steps_like_the_plain_one():
    def trained(fused):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
        opt = make_optimizer(model, OptimConfig(lr=1e-2, fused=fused), torch.device("cpu"))
        x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
        for _ in range(3):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        return opt, [p.detach().clone() for p in model.parameters()]

    opt, fused = trained(None)
    plain_opt, plain = trained(False)
    assert opt.defaults["fused"] is True and plain_opt.defaults["fused"] is False
    assert opt.param_groups[0]["weight_decay"] > 0 and opt.param_groups[1]["weight_decay"] == 0  # matrices only
    assert max((a - b).abs().max().item() for a, b in zip(fused, plain)) < 1e-6
    assert max((a - b).abs().max().item() for a, b in zip(fused, trained(None)[1])) == 0  # deterministic
