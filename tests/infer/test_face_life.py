"""Without a context motion the face follows the speech (face_life); with one, nothing changes."""
import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.motion.life import life_channels

POSE = slice(63, 66)
TEXT = "A few words to say, and then a few more words after a pause."


def test_talk_without_context_moves_the_head_and_face_life_0_keeps_it_still(jam, fast):
    alive = jam.talk(TEXT, **fast)
    still = jam.talk(TEXT, face_life=0, **fast)
    assert alive.motion[:, POSE].std(0).min() > 0
    assert np.all(still.motion[:, POSE].std(0) == 0)
    assert np.array_equal(alive.wav, still.wav)
    untouched = [c for c in range(70) if c not in life_channels()]
    assert np.array_equal(alive.motion[:, untouched], still.motion[:, untouched])


def test_head_scale_0_is_a_still_head_that_still_blinks_and_looks_around(jam, fast):
    out = jam.talk(TEXT, head_scale=0, **fast)
    assert np.all(out.motion[:, POSE].std(0) == 0)
    eyes = [c for c in life_channels() if c < 63]
    assert out.motion[:, eyes].std(0).max() > 0


def test_every_task_without_a_reference_motion_has_head_motion(jam, ref_wav, fast):
    wav, ref = ref_wav
    results = [jam.tts(TEXT, **fast), jam.talk(TEXT, ref, "A reference sentence.", **fast),
               jam.animate(np.tile(wav, 2), **fast),
               jam.edit("A reference sentence.", wav, audio_spans=[(0.2, 0.6)], extend_s=0.4, **fast)]
    for out in results:
        assert out.motion[:, POSE].std(0).min() > 0


def test_a_given_context_motion_drives_eyes_and_head_unchanged(jam, fast):
    ctx = np.tile(jam.codec.neutral, (40, 1))
    ctx[:, 64] += np.linspace(-5, 5, 40)  # a slow head turn
    a = jam.talk(TEXT, context_motion=ctx, **fast)
    b = jam.talk(TEXT, context_motion=ctx, face_life=0, **fast)
    assert np.array_equal(a.motion, b.motion)


def test_dub_returns_the_given_motion(jam, fast):
    motion = jam.talk(TEXT, **fast).motion
    out = jam.dub("Other words here.", motion, **fast)
    assert np.array_equal(out.motion, motion)


def test_streamed_talk_and_animate_get_the_same_face_life(jam, ref_wav, fast):
    text = "First a sentence here. Then another one follows it. And a third one closes."
    whole = jam.talk(text, max_chunk_s=1.0, **fast)
    pieces = list(jam.talk_stream(text, max_chunk_s=1.0, first_chunk_s=0, render=False, **fast))
    np.testing.assert_array_equal(np.concatenate([p.motion for p in pieces]), whole.motion)
    wav = np.tile(ref_wav[0], 4)
    whole = jam.animate(wav, window_s=2.0, window_overlap_s=0.4, **fast)
    pieces = list(jam.animate_stream(wav, window_s=2.0, window_overlap_s=0.4, render=False, **fast))
    np.testing.assert_array_equal(np.concatenate([p.motion for p in pieces]), whole.motion)
    assert whole.motion[:, POSE].std(0).min() > 0


def test_a_full_spec_model_moves_the_face_itself(tmp_path, fast):
    """A checkpoint that generates every channel: face life leaves them to it; the scales and a still
    head still apply."""
    from jamflow.infer.api import JAMFlow
    from jamflow.testing import save_tiny_checkpoint
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    jam = JAMFlow.from_pretrained(save_tiny_checkpoint(tmp_path / "full", motion_spec="full"), device="cpu",
                                  dtype="float32", vocoder=voc, progress=False)
    assert jam.engine.codec.spec.name == "full"
    out = jam.talk(TEXT, **fast)
    assert np.array_equal(out.motion, jam.talk(TEXT, face_life=0, **fast).motion)  # nothing is added
    assert out.motion[:, POSE].std(0).min() > 0
    still = jam.talk(TEXT, head_scale=0, **fast)
    assert np.all(still.motion[:, POSE].std(0) < 1e-4) and np.array_equal(still.wav, out.wav)
    quiet = jam.talk(TEXT, expression_scale=0, **fast)
    assert quiet.motion[:, :63].std(0).max() < 1e-4 and quiet.motion[:, POSE].std(0).min() > 0
    # it takes no context: a clip to loop under its face is refused (a reference motion sets its style)
    with pytest.raises(UserError, match="^context_motion: expected a model that takes eyes and head as context"):
        jam.talk(TEXT, context_motion=np.tile(jam.codec.mean, (10, 1)).astype(np.float32), **fast)
