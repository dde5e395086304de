"""POST /v1/audio/speech (wav / pcm / flac, streaming), GET /v1/voices, GET /health, in-process."""
import struct
import threading

import numpy as np
import pytest
import soundfile as sf
import torch
from fastapi.testclient import TestClient
from serve_helpers import FAST, assert_error, decode_wav, make_client

from jamflow.serve import ServeConfig, create_app
from jamflow.serve.audio_format import to_pcm16

LONG = ("The quick brown fox jumps over the lazy dog. A second sentence follows the first one here. "
        "Then a third sentence closes the paragraph.")


def test_wav_is_the_api_output_for_the_same_seed(client, jam):
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello there.", **FAST})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    wav, sr = decode_wav(r.content)
    assert sr == 24000 and wav.ndim == 1
    assert float(r.headers["x-audio-duration"]) == pytest.approx(len(wav) / sr, abs=1e-3)
    # the same JAMFlow call the server makes, with the default voice (the first shipped one)
    voice = client.app.state.jamflow.voices.get(None)
    assert voice.name == "slt" and r.headers["x-voice"] == "slt"
    direct = jam.tts("Hello there.", voice.wav, voice.transcript, **FAST).wav
    assert r.content[44:] == to_pcm16(direct)
    assert np.sqrt(np.mean(wav ** 2)) > 1e-3  # not silence


def test_pcm_and_flac_carry_the_wav_samples(client):
    body = {"input": "Hello there.", "voice": "librivox", **FAST}
    wav = client.post("/v1/audio/speech", json=body).content
    pcm = client.post("/v1/audio/speech", json={**body, "response_format": "pcm"})
    assert pcm.headers["content-type"] == "audio/pcm"
    assert pcm.content == wav[44:]
    flac = client.post("/v1/audio/speech", json={**body, "response_format": "flac"})
    assert flac.headers["content-type"] == "audio/flac" and flac.content[:4] == b"fLaC"
    samples, sr = sf.read(__import__("io").BytesIO(flac.content), dtype="int16")
    assert sr == 24000 and samples.tobytes() == pcm.content


def test_seed_is_reported_and_reproduces(client):
    first = client.post("/v1/audio/speech", json={"input": "One two three.", "nfe_step": 2})
    seed = int(first.headers["x-seed"])
    again = client.post("/v1/audio/speech", json={"input": "One two three.", "nfe_step": 2, "seed": seed})
    other = client.post("/v1/audio/speech", json={"input": "One two three.", "nfe_step": 2, "seed": seed + 1})
    assert again.content == first.content
    assert other.content != first.content


def test_settings_fields_reach_the_sampler(client):
    base = {"input": "Hello there.", **FAST}
    slow = client.post("/v1/audio/speech", json={**base, "speed": 0.5})
    fast = client.post("/v1/audio/speech", json={**base, "speed": 2.0})
    assert len(slow.content) > len(fast.content)
    fixed = client.post("/v1/audio/speech", json={**base, "fix_duration": 4.0})
    assert fixed.status_code == 200
    # fix_duration counts reference + generated (F5-TTS); slt's reference is 3.2 s once prepared
    assert 0.5 < float(fixed.headers["x-audio-duration"]) < 4.0


class BodyRecorder:
    """ASGI wrapper that keeps every response body message, to count what was sent piece by piece."""

    def __init__(self, app):
        self.app, self.bodies = app, []

    async def __call__(self, scope, receive, send):
        async def record(message):
            if message["type"] == "http.response.body" and message.get("body"):
                self.bodies.append(message["body"])
            await send(message)

        await self.app(scope, receive, record)


@pytest.mark.parametrize("fmt", ["pcm", "wav"])
def test_stream_sends_chunks_that_join_into_the_plain_response(jam, fmt):
    recorder = BodyRecorder(create_app(jam, ServeConfig()))
    body = {"input": LONG, "max_chunk_s": 1.0, "response_format": fmt, **FAST}
    with TestClient(recorder) as c:
        plain = c.post("/v1/audio/speech", json=body)
        recorder.bodies.clear()
        streamed = c.post("/v1/audio/speech", json={**body, "stream": True})
    assert plain.status_code == streamed.status_code == 200
    audio_pieces = [b for b in recorder.bodies if not b.startswith(b"RIFF")]
    assert len(audio_pieces) >= 2, len(recorder.bodies)
    if fmt == "pcm":
        assert streamed.content == plain.content
    else:
        header, data = streamed.content[:44], streamed.content[44:]
        assert struct.unpack("<I", header[4:8])[0] == 0xFFFFFFFF and struct.unpack("<I", header[40:44])[0] == 0xFFFFFFFF
        assert header[8:40] == plain.content[8:40]  # same format chunk
        assert data == plain.content[44:]
        wav, sr = decode_wav(streamed.content)  # an unknown-length wav still decodes to the end
        assert len(wav) * 2 == len(data)


def test_stream_refused_for_flac(client):
    r = client.post("/v1/audio/speech", json={"input": "Hi there.", "stream": True, "response_format": "flac"})
    assert_error(r, 400, "stream")


def test_voices_lists_shipped_and_folder_voices(jam, ref_wav, tmp_path):
    wav, path = ref_wav
    sf.write(tmp_path / "mine.wav", wav, 24000)
    (tmp_path / "mine.txt").write_text("A test voice.\n")
    with make_client(jam, voices_dir=tmp_path) as c:
        listing = c.get("/v1/voices").json()
        r = c.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "mine", **FAST})
    names = [v["name"] for v in listing["voices"]]
    assert names == ["slt", "librivox", "mine"] and listing["default"] == "slt"
    shipped = {v["name"]: v for v in listing["voices"]}
    assert shipped["slt"]["licence"] and shipped["librivox"]["licence"].startswith("public domain")
    assert shipped["librivox"]["transcript"] == "He might even have been made amiable himself."
    assert shipped["mine"]["transcript"] == "A test voice." and shipped["mine"]["shipped"] is False
    assert r.status_code == 200 and r.headers["x-voice"] == "mine"


def test_a_fitted_voice_speaks_through_its_update_and_leaves_the_model_as_it_was(jam, ref_wav, tmp_path):
    jam.fit_voice(ref_wav[0], "A test voice.", output=tmp_path / "fitted.safetensors", steps=2, lr=0.05)
    weights = {k: v.clone() for k, v in jam.model.state_dict().items()}
    body = {"input": "Hello there.", "voice": "fitted", **FAST}
    with make_client(jam, voices_dir=tmp_path) as c:
        listing = {v["name"]: v for v in c.get("/v1/voices").json()["voices"]}
        fitted = c.post("/v1/audio/speech", json=body)
        streamed = c.post("/v1/audio/speech", json={**body, "stream": True, "response_format": "pcm"})
    assert listing["fitted"]["fitted"] is True and listing["slt"]["fitted"] is False
    assert listing["fitted"]["transcript"] == "A test voice."
    assert fitted.status_code == 200 and fitted.headers["x-voice"] == "fitted"
    plain = jam.tts("Hello there.", ref_wav[0], "A test voice.", **FAST).wav  # the same clip, no update
    assert len(fitted.content[44:]) == len(to_pcm16(plain)) and fitted.content[44:] != to_pcm16(plain)
    assert streamed.status_code == 200 and len(streamed.content) == len(fitted.content) - 44
    assert all(torch.equal(v, jam.model.state_dict()[k]) for k, v in weights.items())


def test_a_fitted_voice_of_another_model_stops_the_server_at_start(jam, tiny_ckpt, ref_wav, tmp_path):
    from jamflow.errors import UserError
    from jamflow.infer.api import JAMFlow

    other = JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="float32", vocoder="griffinlim", progress=False)
    with torch.no_grad():
        next(p for n, p in other.model.named_parameters() if n.startswith("audio.blocks.")).add_(0.01)
    other.fit_voice(ref_wav[0], "A test voice.", output=tmp_path / "other.safetensors", steps=1)
    with pytest.raises(UserError, match="--voices: expected fitted voices of the served model, got other.safetensors"):
        create_app(jam, ServeConfig(voices_dir=tmp_path))


def test_health(client):
    h = client.get("/health").json()
    assert h["status"] == "ok"
    assert h["model"]["device"] == "cpu" and h["model"]["motion"] is True
    assert h["queue"] == {"running": 0, "waiting": 0, "capacity": 3}


def test_a_loader_runs_on_the_inference_thread_that_runs_the_requests(jam, monkeypatch):
    threads = []

    def load():
        threads.append(threading.current_thread())
        return jam

    app = create_app(load, ServeConfig())
    assert app.state.jamflow.jam is jam and threads[0].name.startswith("jamflow-infer")
    original = jam.tts

    def tts(*args, **kwargs):
        threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(jam, "tts", tts)
    with TestClient(app) as client:
        r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello there.", **FAST})
    assert r.status_code == 200, r.text
    assert len(threads) == 2 and threads[1] is threads[0]


def test_a_clip_and_a_fitted_voice_of_one_name_stop_the_server(jam, ref_wav, tmp_path):
    from jamflow.errors import UserError

    sf.write(tmp_path / "anna.wav", ref_wav[0], 24000)
    (tmp_path / "anna.txt").write_text("A test voice.\n")
    jam.fit_voice(ref_wav[0], "A test voice.", output=tmp_path / "anna.safetensors", steps=1)
    with pytest.raises(UserError, match="--voices: expected one audio or voice file per voice, got two for 'anna'"):
        create_app(jam, ServeConfig(voices_dir=tmp_path))
