import math

import pytest
import torch

from jamflow.errors import UserError
from jamflow.render.liveportrait.layers import SpectralConv2d
from jamflow.render.liveportrait.weights import build_network, export_state, load_liveportrait, official_keys

from lp_helpers import random_state, write_checkpoints  # noqa: E402  (this folder on sys.path via conftest)

# LivePortrait's published parameter counts (assets/docs/speed.md), in millions
PUBLISHED_PARAMS = {"F": 0.84, "M": 28.12, "W": 45.53, "G": 55.37, "S": 0.23}


def _flat(sd):
    if all(isinstance(v, dict) for v in sd.values()):
        return {f"{g}.{k}": tuple(v) if isinstance(v, tuple) else tuple(v.shape) for g, d in sd.items() for k, v in d.items()}
    return {k: tuple(v) if isinstance(v, tuple) else tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("name", list("FMWGS"))
def test_module_tree_matches_official_key_map(name):
    ours = _flat(export_state(build_network(name), name))
    assert ours == _flat(official_keys(name))


@pytest.mark.parametrize("name", list("FMWGS"))
def test_parameter_count_matches_published(name):
    keys = _flat(official_keys(name))
    buffers = ("running_mean", "running_var", "num_batches_tracked", "weight_u", "weight_v")
    n = sum(math.prod(s) for k, s in keys.items() if not k.endswith(buffers))
    assert round(n / 1e6, 2) == PUBLISHED_PARAMS[name]


def test_spot_keys():
    m = official_keys("M")
    assert m["detector.fc_kp.weight"] == (63, 768) and m["detector.fc_pitch.weight"] == (66, 768)
    assert m["detector.stages.2.8.grn.gamma"] == (1, 1, 1, 1536)
    w = official_keys("W")
    assert w["dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight"] == (64, 110, 3, 3, 3)
    assert w["dense_motion_network.occlusion.weight"] == (1, 2272, 7, 7)
    g = official_keys("G")
    assert g["G_middle_0.conv_0.weight_orig"] == (512, 512, 3, 3) and "up_0.conv_s.weight_orig" in g
    assert "up_0.conv_s.bias" not in g and g["conv_img.0.weight"] == (12, 64, 3, 3)
    assert official_keys("F")["resblocks_3d.3dr5.norm2.running_var"] == (32,)
    s = official_keys("S")
    assert s["retarget_eye"]["mlp.10.weight"] == (63, 64) and s["retarget_shoulder"]["mlp.0.weight"] == (128, 126)


def test_round_trip_all_networks(tmp_path):
    written = write_checkpoints(tmp_path)
    nets = load_liveportrait(str(tmp_path))
    for name, sd in written.items():
        back = export_state(getattr(nets, name), name)
        if name == "S":  # written with the DDP "module." prefix, which loading strips
            sd = {g: {k.removeprefix("module."): v for k, v in d.items()} for g, d in sd.items()}
            sd, back = _merge(sd), _merge(back)
        assert set(back) == set(sd)
        for k in sd:
            assert torch.equal(back[k].float(), sd[k].float()), k


def _merge(groups):
    return {f"{g}.{k}": v for g, d in groups.items() for k, v in d.items()}


def test_load_accepts_liveportrait_subfolder(tmp_path):
    write_checkpoints(tmp_path / "liveportrait", nets="M")
    nets = load_liveportrait(str(tmp_path), need="M")
    assert nets.M is not None and nets.F is None and nets.S is None


def test_spectral_conv_matches_torch_spectral_norm_in_eval():
    torch.manual_seed(0)
    ref = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    ref.train()
    ref(torch.randn(1, 6, 8, 8))  # one power iteration, so u and v are not their initial values
    ref.eval()
    ours = SpectralConv2d(6, 5, 3, padding=1)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 6, 8, 8)
    torch.testing.assert_close(ours(x), ref(x))


def test_missing_weight_file(tmp_path):
    write_checkpoints(tmp_path, nets="FM")
    with pytest.raises(UserError, match="warping_module.pth"):
        load_liveportrait(str(tmp_path), need="FMWG")
    with pytest.raises(UserError, match="--weights"):
        load_liveportrait(str(tmp_path / "nope"), need="M")


def test_wrong_weight_files(tmp_path):
    write_checkpoints(tmp_path, nets="M")
    path = tmp_path / "base_models" / "motion_extractor.pth"
    # F's checkpoint where M's belongs: every key wrong
    torch.save(random_state(official_keys("F")), path)
    with pytest.raises(UserError, match="missing"):
        load_liveportrait(str(tmp_path), need="M")
    # right keys, one wrong shape (e.g. a 24-keypoint head)
    sd = random_state(official_keys("M"))
    sd["detector.fc_kp.weight"] = torch.zeros(72, 768)
    torch.save(sd, path)
    with pytest.raises(UserError, match="wrong shape.*fc_kp"):
        load_liveportrait(str(tmp_path), need="M")
    # not a checkpoint at all
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(UserError, match="unreadable"):
        load_liveportrait(str(tmp_path), need="M")


def test_stitching_groups_required(tmp_path):
    write_checkpoints(tmp_path, nets="MS")
    path = tmp_path / "retargeting_models" / "stitching_retargeting_module.pth"
    sd = torch.load(path, weights_only=True)
    del sd["retarget_eye"]
    torch.save(sd, path)
    with pytest.raises(UserError, match="retarget_eye"):
        load_liveportrait(str(tmp_path), need="MS")


def test_precision(tmp_path):
    write_checkpoints(tmp_path, nets="FM")
    nets = load_liveportrait(str(tmp_path), need="FM", dtype="bf16")
    assert next(nets.F.parameters()).dtype == torch.bfloat16
    assert next(nets.M.parameters()).dtype == torch.float32  # pose bins stay in fp32
    from jamflow.render.liveportrait.portrait import appearance

    nets.input_size = 32  # keep the bf16 CPU forward small
    vol = appearance(nets, torch.randint(0, 255, (1, 32, 32, 3), dtype=torch.uint8).numpy())
    assert vol.dtype == torch.bfloat16 and vol.shape[:3] == (1, 32, 16)
    assert next(load_liveportrait(str(tmp_path), need="F").F.parameters()).dtype == torch.float32  # CPU default
    with pytest.raises(UserError, match="precision"):
        load_liveportrait(str(tmp_path), need="F", dtype="fp8")
