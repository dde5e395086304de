import argparse

import pytest

from jamflow.errors import UserError
from jamflow.commands import common as cli_common
from jamflow.infer.settings import InferSettings, make_settings


@pytest.mark.parametrize("kw", [dict(nfe_step=0), dict(speed=0), dict(cfg_strength=-1), dict(chunk_prompt="x"),
                                dict(window_overlap_s=8.0, window_s=10.0), dict(ode_method="rk4"),
                                dict(fix_duration=-2.0), dict(seed=-1), dict(speed=float("nan"))])
def test_bad_settings_are_user_errors(kw):
    with pytest.raises(UserError, match=next(iter(kw))):
        InferSettings(**kw)


def test_make_settings_ignores_none_and_rejects_unknown_names():
    s = make_settings(None, nfe_step=16, speed=None)
    assert s.nfe_step == 16 and s.speed == 1.0
    with pytest.raises(UserError, match="nfe_stpe"):
        make_settings(None, nfe_stpe=16)


def test_with_seed_draws_once_and_keeps_a_given_seed():
    assert InferSettings(seed=5).with_seed().seed == 5
    drawn = InferSettings().with_seed()
    assert isinstance(drawn.seed, int) and drawn.with_seed().seed == drawn.seed


def test_config_precedence_flag_over_file_over_default(tmp_path):
    parser = argparse.ArgumentParser()
    cli_common.add_text_args(parser)
    cli_common.add_common_args(parser, default_output="x.wav")
    cfg = tmp_path / "c.toml"
    cfg.write_text('nfe_step = 8\nspeed = 0.9\ngen_text = "from file"\n')
    args = cli_common.resolve(parser.parse_args(["-c", str(cfg), "--nfe_step", "4"]))
    s = cli_common.settings_from(args)
    assert (s.nfe_step, s.speed, s.cfg_strength) == (4, 0.9, 2.0)
    assert cli_common.gen_text_from(args) == "from file"
    cfg.write_text("nfe_step = [\n")
    with pytest.raises(UserError, match="TOML"):
        cli_common.resolve(parser.parse_args(["-c", str(cfg)]))
