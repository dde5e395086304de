"""audio.phone_align.PhoneAligner: a transcript's durations in a given audio, from `jamflow align`'s means."""
import numpy as np
import pytest

from jamflow.audio.phone_align import PhoneAligner, viterbi, viterbi_scored
from jamflow.errors import UserError

D = 6  # feature dimension of the constructed means


def _aligner(groups=("a",), seed=0) -> PhoneAligner:
    """Vocabulary of 5 tokens: 0-3 phones, 4 a mark (a space); state 5 is silence."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 3, (len(groups) + 1, 6, D))
    return PhoneAligner(list(groups), means, np.ones(D), np.array([True, True, True, True, False]))


IDS = [0, 4, 2, 1, 3]
TRUTH = np.array([7, 5, 0, 9, 4, 6, 8])  # lead silence, the tokens (the space takes none), trail silence


def _planted(groups=("a", "b"), noise=0.3):
    """An aligner whose every mean set was 're-estimated' on one clip of its own group, as `jamflow align`
    does: -> (aligner, [normalised 'mel' [T, D] spoken by each set])."""
    from jamflow.audio.phone_align import normalise

    aligner = _aligner(groups)
    states = np.concatenate([[5], IDS, [5]])
    clips = []
    for g in range(len(aligner.means)):
        rng = np.random.default_rng(g + 10)
        frames = np.repeat(rng.normal(0, 3, (6, D))[states], TRUTH, axis=0)
        mel = normalise(frames + rng.normal(0, noise, frames.shape))
        path = np.repeat(states, TRUTH)
        for s in set(path.tolist()):  # the space takes no frame and keeps its random mean
            aligner.means[g, s] = mel[path == s].mean(0)
        clips.append(mel)
    return aligner, clips


def test_align_recovers_planted_durations_and_the_group_that_spoke():
    aligner, clips = _planted()
    states = np.concatenate([[5], IDS, [5]])
    skippable = np.array([True, False, True, False, False, False, True])
    for g, mel in enumerate(clips):
        got = aligner.align(IDS, mel)
        assert got is not None and got.sum() == len(mel)
        np.testing.assert_array_equal(got, TRUTH)
        scores = [viterbi_scored(aligner.loglik(k, mel, states), skippable)[1] for k in range(len(clips))]
        assert int(np.argmax(scores)) == g  # the set that spoke the clip explains it best
    # another group's means alone place it worse: the choice of set matters
    wrong = PhoneAligner(aligner.groups, aligner.means[[1, 2, 0]], aligner.var, aligner.phone)
    assert not np.array_equal(PhoneAligner(["x"], wrong.means[:1], wrong.var, wrong.phone).align(IDS, clips[0]), TRUTH)


def test_align_refuses_what_it_cannot_place():
    aligner = _aligner()
    assert aligner.align([0, 1, 2], np.zeros((2, D))) is None  # 3 phones in 2 frames
    assert aligner.align([0, 9], np.zeros((20, D))) is None  # token 9 is outside the aligner's vocabulary
    assert aligner.align([], np.zeros((20, D))) is None


def test_viterbi_scored_agrees_with_viterbi():
    rng = np.random.default_rng(3)
    ll, skip = rng.normal(size=(30, 6)), np.array([True, False, True, False, False, True])
    path, score = viterbi_scored(ll, skip)
    np.testing.assert_array_equal(path, viterbi(ll, skip))
    assert score == pytest.approx(ll[np.arange(30), path].sum())


def test_save_load_round_trip_and_a_bad_file(tmp_path):
    aligner = _aligner(groups=("festival:slt_hts", "festival:kal_diphone"))
    aligner.save(tmp_path / "aligner.safetensors")
    back = PhoneAligner.load(tmp_path / "aligner.safetensors")
    assert back.groups == aligner.groups and back.vocab_size == 5
    np.testing.assert_allclose(back.means, aligner.means.astype(np.float32))
    np.testing.assert_array_equal(back.phone, aligner.phone)
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="aligner.safetensors"):
        PhoneAligner.load(tmp_path / "bad.safetensors")
    from safetensors.numpy import save_file

    save_file({"means": np.zeros((2, 6, D), np.float32)}, str(tmp_path / "partial.safetensors"),
              metadata={"format": "jamflow-aligner", "groups": "a"})
    with pytest.raises(UserError, match=r"means \[groups \+ 1, vocab \+ 1, d\]"):
        PhoneAligner.load(tmp_path / "partial.safetensors")
