import numpy as np
import pytest

from jamflow.eval import sync

speech_engines = pytest.importorskip("jamflow.data.speech_engines")
visemes = pytest.importorskip("jamflow.motion.visemes")

TEXTS = ["Please call Stella and ask her to bring these things with her.",
         "A bad apple spoils the whole barrel, my mother said.",
         "We went to the market on Monday to buy bread and milk.",
         "Nobody knows where the old man hid his money."]


@pytest.fixture(scope="module")
def corpus_clips():
    """Two procedural corpus clips (espeak speech + viseme motion with known ground-truth sync)."""
    clips = []
    for i, text in enumerate(TEXTS):
        speech = speech_engines.synthesize(text, speech_engines.Voice("espeak", "en-us+m3"))
        motion = visemes.phones_to_motion(speech.phones, len(speech.wav), wav=speech.wav, seed=i)
        clips.append((speech.wav, motion))
    return clips


def delay(motion, frames):
    return np.concatenate([np.repeat(motion[:1], frames, axis=0), motion[:-frames]])


def test_in_sync_clip_has_near_zero_offset(corpus_clips):
    for wav, motion in corpus_clips:
        r = sync.sync_score(motion, wav, 24000)
        assert abs(r.offset) <= 1
        assert r.confidence > 0.3


def test_recovers_planted_three_frame_shift(corpus_clips):
    for wav, motion in corpus_clips:
        base = sync.sync_score(motion, wav, 24000).offset
        assert sync.sync_score(delay(motion, 3), wav, 24000).offset - base == 3  # motion late -> positive
        early = np.concatenate([motion[3:], np.repeat(motion[-1:], 3, axis=0)])
        assert sync.sync_score(early, wav, 24000).offset - base == -3


def test_mismatched_pairs_have_low_confidence(corpus_clips):
    matched = [sync.sync_score(m, wav, 24000) for wav, m in corpus_clips]
    mismatched = [sync.sync_score(corpus_clips[a][1], corpus_clips[b][0], 24000)
                  for a, b in sync.mismatched_pairs(len(corpus_clips))]
    # per clip, chance peaks of a short mismatched pair can come close; pooled over clips they average out
    assert np.mean([r.confidence for r in mismatched]) < np.mean([r.confidence for r in matched])
    pooled_mismatched = sync.summarise(mismatched)["pooled_confidence"]
    pooled_matched = sync.summarise(matched)["pooled_confidence"]
    assert pooled_mismatched < 0.5 * pooled_matched, (pooled_mismatched, pooled_matched)


def test_lagged_correlation_on_synthetic_signals():
    rng = np.random.default_rng(0)
    audio = np.convolve(rng.normal(size=200), np.ones(3) / 3, mode="same")
    motion = np.concatenate([np.zeros(5), audio[:-5]])  # motion 5 frames late
    r = sync.sync_from_signals(motion, audio)
    assert r.offset == 5 and r.peak > 0.95
    assert sync.sync_from_signals(np.ones(50), audio[:50]).confidence == 0.0  # constant: no evidence


def test_mismatched_pairs_never_pair_a_clip_with_itself():
    pairs = sync.mismatched_pairs(5)
    assert len(pairs) == 5 and all(a != b for a, b in pairs)
    assert sync.mismatched_pairs(1) == []


def test_still_mouth_has_no_offset_and_counts_as_out_of_sync():
    rng = np.random.default_rng(0)
    envelope = rng.random(200)
    still = sync.sync_from_signals(np.zeros(200), envelope)
    moving = sync.sync_from_signals(envelope.copy(), envelope)
    assert np.isnan(still.peak) and np.isfinite(moving.peak)
    s = sync.summarise([still, moving])
    assert s["no_evidence"] == 1 and s["in_sync_pct"] == 50.0 and s["offset_mean"] == 0.0
    assert sync.summarise([still])["in_sync_pct"] == 0.0
