from pathlib import Path

import pytest
import yaml

from jamflow.errors import UserError
from jamflow.train.config import TrainConfig, dump_yaml, from_dict, load_config, parse_override
from jamflow.train.optim import lr_factor

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
