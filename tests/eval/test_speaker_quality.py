import numpy as np
import pytest

from jamflow.eval import quality

speech_engines = pytest.importorskip("jamflow.data.speech_engines")
speaker = pytest.importorskip("jamflow.eval.speaker")


@pytest.fixture(scope="module")
def voices():
    say = lambda text, name: speech_engines.synthesize(text, speech_engines.Voice("espeak", name)).wav
    return {
        "m3_a": say("The birch canoe slid on the smooth planks.", "en-us+m3"),
        "m3_b": say("Glue the sheet to the dark blue background.", "en-us+m3"),
        "f4_a": say("It is easy to tell the depth of a well.", "en-us+f4"),
    }


def test_speaker_similarity_self_is_one_and_other_voice_lower(voices):
    emb = {k: speaker.speaker_embedding(v, 24000) for k, v in voices.items()}
    assert speaker.cosine(emb["m3_a"], emb["m3_a"]) == pytest.approx(1.0, abs=1e-5)
    within = speaker.cosine(emb["m3_a"], emb["m3_b"])
    across = speaker.cosine(emb["m3_a"], emb["f4_a"])
    assert within > across
    bounds = speaker.similarity_bounds({"m3": [emb["m3_a"], emb["m3_b"]], "f4": [emb["f4_a"]]})
    assert bounds["ceiling"]["pairs"] == 1 and bounds["floor"]["pairs"] == 2
    assert bounds["ceiling"]["mean"] == pytest.approx(within)
    assert bounds["floor"]["mean"] < bounds["ceiling"]["mean"]


def test_timing_metrics_find_planted_silence():
    sr = 24000
    tone = 0.5 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
    wav = np.concatenate([np.zeros(sr // 2), tone, np.zeros(sr // 4)])
    t = quality.timing_metrics(wav, sr, target_duration=2.0)
    assert t["lead_silence_s"] == pytest.approx(0.5, abs=0.021)
    assert t["trail_silence_s"] == pytest.approx(0.25, abs=0.021)
    assert t["duration_s"] == pytest.approx(1.75)
    assert t["duration_err_s"] == pytest.approx(-0.25)


@pytest.mark.skipif(quality.dnsmos_status() is not None, reason="speechmos/onnxruntime not installed")
def test_dnsmos_prefers_clean_speech_to_noise(voices):
    clean = quality.dnsmos(voices["m3_a"], 24000)
    noise = quality.dnsmos(np.random.default_rng(0).normal(0, 0.3, 48000).astype(np.float32), 24000)
    assert 1.0 <= clean["ovrl"] <= 5.0
    assert clean["bak"] > noise["bak"]
