"""A checkpoint stored over a base: it loads to exactly the standalone model, stores only what differs,
and refuses a base that is missing or not the one it was written against."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from jamflow.errors import UserError
from jamflow.model.checkpoint_files import read_weights, store_over_base
from jamflow.model.jam import JAMModel, read_checkpoint_meta
from jamflow.testing import save_tiny_checkpoint, tiny_model, tiny_motion_stats


@pytest.fixture
def pair(tmp_path):
    """(lips base, standalone whole-face model with the base's speech side, that model's state)."""
    base = save_tiny_checkpoint(tmp_path / "lips", seed=0)
    face = tiny_model(seed=1, motion_spec="full")
    speech = {k: v for k, v in JAMModel.from_pretrained(base).state_dict().items() if not k.startswith("motion.")}
    face.load_state_dict({**face.state_dict(), **speech})
    face.save_pretrained(tmp_path / "face", motion_stats=tiny_motion_stats())
    return base, tmp_path / "face", face.state_dict()


def test_stored_over_its_base_it_loads_to_the_standalone_model_and_keeps_only_what_differs(pair):
    base, face, state = pair
    before = (face / "model.safetensors").stat().st_size
    shared = store_over_base(face, base)
    own = load_file(str(face / "model.safetensors"))
    assert shared == sum(1 for k in state if not k.startswith("motion.") or k.endswith("inv_freq"))
    assert own and all(k.startswith("motion.") for k in own)
    assert (face / "model.safetensors").stat().st_size < before / 2
    assert json.loads((face / "config.json").read_text())["base"]["folder"] == "../lips"
    loaded = JAMModel.from_pretrained(face).state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert loaded["motion.proj_out.weight"].shape[0] == 70  # the full spec, not the base's lips


def test_the_phone_aligner_is_the_checkpoints_own_else_its_bases(pair):
    import numpy as np

    from jamflow.audio.phone_align import ALIGNER_NAME, PhoneAligner

    base, face, _ = pair
    PhoneAligner(["base"], np.ones((2, 9, 4)), np.ones(4), np.ones(8, bool)).save(base / ALIGNER_NAME)
    shutil.copy2(base / ALIGNER_NAME, face / ALIGNER_NAME)  # the standalone model carries the same aligner
    store_over_base(face, base)
    assert not (face / ALIGNER_NAME).exists()  # stored once, in the base
    assert JAMModel.from_pretrained(face).phone_aligner.groups == ["base"]
    (base / ALIGNER_NAME).unlink()
    assert JAMModel.from_pretrained(face).phone_aligner is None
    PhoneAligner(["base"], np.ones((2, 9, 4)), np.ones(4), np.ones(8, bool)).save(base / ALIGNER_NAME)
    PhoneAligner(["own"], np.ones((2, 9, 4)), np.ones(4), np.ones(8, bool)).save(face / ALIGNER_NAME)
    model = JAMModel.from_pretrained(face)
    assert model.phone_aligner.groups == ["own"]
    model.save_pretrained(face.parent / "copy")  # it travels with the model
    assert PhoneAligner.load(face.parent / "copy" / ALIGNER_NAME).groups == ["own"]
    too_big = PhoneAligner(["x"], np.ones((2, 1001, 4)), np.ones(4), np.ones(1000, bool))
    too_big.save(face / ALIGNER_NAME)
    with pytest.raises(UserError, match="aligner for at most"):
        JAMModel.from_pretrained(face)


def test_a_different_base_is_refused_by_its_fingerprint(pair):
    base, face, _ = pair
    store_over_base(face, base)
    tensors = load_file(str(base / "model.safetensors"))
    name = next(k for k in sorted(tensors) if k.startswith("audio.blocks."))
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, str(base / "model.safetensors"))
    with pytest.raises(UserError, match="fingerprint"):
        JAMModel.from_pretrained(face)


def test_a_missing_base_is_named_before_any_weights_load(pair):
    base, face, _ = pair
    store_over_base(face, base)
    shutil.rmtree(base)
    with pytest.raises(UserError, match=r"base checkpoint .*lips .*\(copy both folders together\)"):
        read_checkpoint_meta(face)


def test_storing_needs_two_standalone_checkpoints_and_a_base_with_nothing_extra(pair):
    base, face, _ = pair
    tensors = load_file(str(base / "model.safetensors"))
    save_file({**tensors, "audio.extra": torch.zeros(3)}, str(base / "model.safetensors"))
    with pytest.raises(UserError, match="1 more, e.g. 'audio.extra'"):  # it would be borrowed at load time
        store_over_base(face, base)
    save_file(tensors, str(base / "model.safetensors"))
    store_over_base(face, base)
    with pytest.raises(UserError, match="standalone"):
        store_over_base(face, base)


def test_init_from_reads_a_checkpoint_stored_over_a_base(pair):
    base, face, state = pair
    store_over_base(face, base)
    meta = read_checkpoint_meta(face)
    weights = read_weights(face, meta)
    assert weights.keys() == state.keys() and all(torch.equal(weights[k].float(), state[k]) for k in state)
