"""recipes/face_model/package.py: the shipped whole-face model is the export's motion side on the lips
model's speech side, and the export must have left that speech side untouched."""
import numpy as np
import pytest
import torch

from jamflow.model.jam import JAMModel
from jamflow.testing import save_tiny_checkpoint, tiny_model, tiny_motion_stats


def _export(tmp_path, lips, change_audio: bool = False):
    """A tiny `full` export trained from `lips` with the Audio-DiT frozen, whose own config has another text
    layout rule (as fit-durations and an older export can leave it) and its own motion statistics."""
    face = tiny_model(seed=3, motion_spec="full")
    speech = {k: v for k, v in JAMModel.from_pretrained(lips).state_dict().items() if k.startswith("audio.")}
    if change_audio:
        speech["audio.proj_out.bias"] = speech["audio.proj_out.bias"] + 0.5
    face.load_state_dict({**face.state_dict(), **speech})
    face.cfg.audio.text_pos_window = 5
    stats = {k: (np.asarray(v) * 1.1).tolist() for k, v in tiny_motion_stats().items()}
    face.save_pretrained(tmp_path / "export", motion_stats=stats)
    return tmp_path / "export", face.state_dict(), stats


def test_the_package_is_the_exports_motion_on_the_lips_models_speech(face_package, tmp_path):
    from jamflow.audio.phone_align import ALIGNER_NAME, PhoneAligner

    lips = save_tiny_checkpoint(tmp_path / "lips")
    PhoneAligner(["voice"], np.ones((2, 9, 4)), np.ones(4), np.ones(8, bool)).save(lips / ALIGNER_NAME)
    export, face_state, stats = _export(tmp_path, lips)
    face_package.compose(export, lips, tmp_path / "face")
    model, base = JAMModel.from_pretrained(tmp_path / "face"), JAMModel.from_pretrained(lips)
    assert (tmp_path / "face" / ALIGNER_NAME).read_bytes() == (lips / ALIGNER_NAME).read_bytes()
    assert model.phone_aligner.groups == ["voice"]
    state = model.state_dict()
    assert model.cfg.spec.name == "full" and model.cfg.audio == base.cfg.audio  # the lips model's text rules
    for key in ("mean", "std"):  # the export's statistics, not the lips model's
        np.testing.assert_allclose(model.motion_stats[key], stats[key], rtol=1e-6)
    assert all(torch.equal(state[k], face_state[k]) for k in state if k.startswith("motion."))
    assert all(torch.equal(state[k], v) for k, v in base.state_dict().items() if not k.startswith("motion."))


def test_an_export_whose_speech_side_moved_is_refused(face_package, tmp_path):
    lips = save_tiny_checkpoint(tmp_path / "lips")
    export, _, _ = _export(tmp_path, lips, change_audio=True)
    with pytest.raises(SystemExit, match="Audio-DiT frozen .* audio.proj_out.bias"):
        face_package.compose(export, lips, tmp_path / "face")
    assert not (tmp_path / "face").exists()
