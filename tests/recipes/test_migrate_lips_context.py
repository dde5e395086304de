"""recipes/default_model/helpers.py migrate-lips-context: a checkpoint made with the first `lips` spec
(context = every non-lip channel) becomes one for the current spec that computes the same thing."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from jamflow.config import get_preset
from jamflow.errors import UserError
from jamflow.model.jam import JAMModel, load_state_strict
from jamflow.motion.spec import get_spec

def _inputs(cfg, context, g):
    b, n, m = 1, 30, 8
    return dict(audio_x=torch.randn(b, n, 100, generator=g), audio_cond=torch.randn(b, n, 100, generator=g),
                text=torch.randint(0, 50, (b, 6), generator=g), time=torch.rand(b, generator=g),
                motion_x=torch.randn(b, m, cfg.motion_gen_dim, generator=g),
                motion_cond=torch.randn(b, m, cfg.motion_gen_dim, generator=g), motion_context=context)


def test_migrated_checkpoint_matches_legacy_model_on_speech_free_context(tmp_path, helpers):
    lips = get_spec("lips")
    legacy_spec = {"name": "lips", "generate": list(lips.generate)}  # no "context": every other channel
    torch.manual_seed(0)
    old = JAMModel(get_preset("tiny", motion_spec=legacy_spec)).eval()
    with torch.no_grad():
        for p in old.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    assert old.motion.input_proj.weight.shape[1] == 2 * 18 + 52
    state = {k: v.contiguous() for k, v in old.state_dict().items()}
    w = state["motion.input_proj.weight"]
    ck = tmp_path / "step_00000010"
    ck.mkdir()
    save_file(state, str(ck / "model.safetensors"))
    save_file({k: v + 1 for k, v in state.items()}, str(ck / "ema.safetensors"))
    save_file({"state/7/exp_avg": w * 2, "state/7/exp_avg_sq": w * 3, "state/3/exp_avg": torch.ones(5)},
              str(ck / "optimizer.safetensors"))

    helpers.migrate_lips_context(str(ck))

    new = JAMModel(get_preset("tiny")).eval()
    load_state_strict(new, load_file(str(ck / "model.safetensors")), "migrated")
    g = torch.Generator().manual_seed(1)
    full = torch.zeros(1, 8, 70)
    full[..., list(lips.context)] = torch.randn(1, 8, lips.context_dim, generator=g)  # eyes + pose only
    legacy_ctx = full[..., [i for i in range(70) if i not in set(lips.generate)]]
    x = _inputs(new.cfg, None, torch.Generator().manual_seed(2))
    with torch.no_grad():
        va_old, vm_old = old(**dict(x, motion_context=legacy_ctx))
        va_new, vm_new = new(**dict(x, motion_context=full[..., list(lips.context)]))
    torch.testing.assert_close(vm_new, vm_old)
    torch.testing.assert_close(va_new, va_old)

    ema, opt = load_file(str(ck / "ema.safetensors")), load_file(str(ck / "optimizer.safetensors"))
    new_w = load_file(str(ck / "model.safetensors"))["motion.input_proj.weight"]
    torch.testing.assert_close(ema["motion.input_proj.weight"], new_w + 1)
    torch.testing.assert_close(opt["state/7/exp_avg"], new_w * 2)
    torch.testing.assert_close(opt["state/7/exp_avg_sq"], new_w * 3)
    assert opt["state/3/exp_avg"].shape == (5,)
    with pytest.raises(UserError, match="already migrated"):
        helpers.migrate_lips_context(str(ck))
