"""recipes/voices_model/real_dev.py: the real-voice development set's clips, scoring and flags."""
import numpy as np
import pytest


def test_raw_clips_are_read_as_16_bit_16_khz(real_dev, tmp_path):
    pcm = (np.sin(np.arange(16000) * 2 * np.pi * 200 / 16000) * 8000).astype("<i2")
    pcm.tofile(tmp_path / "clip.raw")
    wav = real_dev.read_clip("clip.raw", root=tmp_path)
    assert wav.dtype == np.float32 and len(wav) == 24000  # 1 s at the model's rate
    assert abs(np.abs(wav).max() - 8000 / 32768) < 0.01


def test_score_voice_scores_what_the_model_says_against_the_other_clips(real_dev, ref_wav):
    from types import SimpleNamespace

    from jamflow.audio.asr import transcribe
    from jamflow.eval.asr import word_error_rate

    wav, _ = ref_wav
    other = np.roll(wav, 4000) * 0.5
    echo = SimpleNamespace(tts=lambda text, prompt, prompt_text, **kw: SimpleNamespace(wav=prompt))  # says its prompt
    wer, sim = real_dev.score_voice(echo, wav, "hello there", [wav, other], ["A new sentence.", "Another one."])
    assert wer == pytest.approx(word_error_rate("A new sentence.", transcribe(wav, 24000)) / 2
                                + word_error_rate("Another one.", transcribe(wav, 24000)) / 2)
    assert 0.5 < sim < 1.0  # the mean over both clips: 1 for the clip itself, less for the shifted, quieter one


def test_dev_sentences_are_held_out_and_past_the_first_twelve(real_dev):
    from jamflow.data.sentences import generate_sentences, is_heldout_sentence

    texts = real_dev.dev_sentences(3)
    heldout = [s for s in generate_sentences(12000) if is_heldout_sentence(s, 0.05)]
    assert texts == heldout[12:15] and len(set(texts)) == 3


@pytest.mark.parametrize("argv, flag", [(["x", "--strengths", "1,a"], "--strengths"), (["x", "--sentences", "0"], "--sentences")])
def test_bad_flags_exit_2(real_dev, capsys, argv, flag):
    with pytest.raises(SystemExit) as e:
        real_dev.main(argv)
    assert e.value.code == 2 and flag in capsys.readouterr().err
