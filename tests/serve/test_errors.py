"""Every class of bad request gets a 4xx JSON error whose message and `field` name what is wrong."""
import json

import numpy as np
import pytest
from serve_helpers import FAST, assert_error, make_client

SPEECH = "/v1/audio/speech"


@pytest.mark.parametrize("body, field", [
    ({}, "input"),                                              # missing field
    ({"input": None}, "input"),
    ({"input": 42}, "input"),                                   # wrong type
    ({"input": "   "}, "input"),                                # empty text
    ({"input": "x" * 2001}, "input"),                           # too long (default 2000)
    ({"input": "Hi.", "voice": "alloy"}, "voice"),              # unknown voice
    ({"input": "Hi.", "voice": 3}, "voice"),
    ({"input": "Hi.", "response_format": "mp3"}, "response_format"),
    ({"input": "Hi.", "stream": "yes"}, "stream"),
    ({"input": "Hi.", "speed": "fast"}, "speed"),
    ({"input": "Hi.", "speed": 50}, "speed"),                   # InferSettings' own range check
    ({"input": "Hi.", "nfe_step": 2.5}, "nfe_step"),
    ({"input": "Hi.", "seed": -1}, "seed"),
    ({"input": "Hi.", "ode_method": "rk4"}, "ode_method"),
    ({"input": "Hi.", "fix_duration": 600}, "fix_duration"),    # over --max_audio_s
    ({"input": "Hi.", "instructions": "cheerful"}, "instructions"),  # unknown field
])
def test_bad_speech_fields(client, body, field):
    assert_error(client.post(SPEECH, json=body), 400, field)


def test_error_messages_say_what_was_expected(client):
    err = assert_error(client.post(SPEECH, json={"input": "Hi.", "response_format": "mp3"}), 400, "response_format")
    assert "wav" in err["message"] and "pcm" in err["message"] and "flac" in err["message"] and "mp3" in err["message"]
    err = assert_error(client.post(SPEECH, json={"input": "Hi.", "voice": "alloy"}), 400, "voice")
    assert "slt" in err["message"] and "librivox" in err["message"]


def test_model_refusal_is_422_naming_the_request_field(client):
    # the API's own check (reference + generated must exceed the reference) -> 422, field fix_duration
    err = assert_error(client.post(SPEECH, json={"input": "Hello there.", "fix_duration": 1.0, **FAST}), 422,
                       "fix_duration")
    assert err["type"] == "unprocessable_input"
    # text that normalises to nothing: the API's gen_text is the request's input
    assert_error(client.post(SPEECH, json={"input": "\u200b", **FAST}), 422, "input")


def test_malformed_bodies(client):
    assert_error(client.post(SPEECH, content=b"{not json", headers={"content-type": "application/json"}), 400, "body")
    assert_error(client.post(SPEECH, json=["input"]), 400, "body")
    assert_error(client.post(SPEECH, content=b"input=hi", headers={"content-type": "text/plain"}), 415,
                 "content-type")
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/nothing").json()["error"]["type"] == "not_found"


def test_oversized_bodies_get_413(jam):
    with make_client(jam, max_body_mb=0.01) as c:  # 10 KiB
        big = json.dumps({"input": "a" * 20000}).encode()
        # announced size: refused from the header, before the body is read
        assert_error(c.post(SPEECH, content=big, headers={"content-type": "application/json"}), 413, "body")

        def chunked():  # no Content-Length: the bytes are counted as they arrive
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]

        r = c.post(SPEECH, content=chunked(), headers={"content-type": "application/json"})
        assert_error(r, 413, "body")
        files = {"audio": ("a.wav", b"\0" * 20000, "audio/wav")}
        assert_error(c.post("/v1/animate", files=files), 413, "body")
        # under the cap still works
        assert c.post(SPEECH, json={"input": "Hi there.", **FAST}).status_code == 200


def test_upload_errors(client, tmp_path):
    assert_error(client.post("/v1/animate", data={"nfe_step": "2"}), 400, "audio")  # missing file
    assert_error(client.post("/v1/animate", files={"audio": ("x.wav", b"", "audio/wav")}), 400, "audio")  # empty
    notes = {"audio": ("notes.txt", b"this is not audio at all\n" * 50, "text/plain")}
    err = assert_error(client.post("/v1/animate", files=notes), 400, "audio")
    assert "notes.txt" in err["message"]
    assert_error(client.post("/v1/animate", data={"audio": "hello"}), 400, "audio")  # text where a file goes
    assert_error(client.post("/v1/animate", json={"audio": "x"}), 415, "content-type")
    npy = tmp_path / "m.npy"
    np.save(npy, np.zeros((10, 3), np.float32))  # wrong channel count
    assert_error(client.post("/v1/dub", data={"input": "Hi."}, files={"motion": ("m.npy", npy.read_bytes())}), 400,
                 "motion")
    assert_error(client.post("/v1/dub", data={"input": "Hi."}), 400, "motion")
    good = tmp_path / "ok.npy"
    np.save(good, np.zeros((50, 70), np.float32))
    motion = {"motion": ("ok.npy", good.read_bytes())}
    assert_error(client.post("/v1/dub", data={"input": "Hi.", "nfe_step": "two"}, files=motion), 400, "nfe_step")
    assert_error(client.post("/v1/dub", data={"input": "Hi.", "response_format": "mp3"}, files=motion), 400,
                 "response_format")
    assert_error(client.post("/v1/dub", data={"input": "Hi."}, files={**motion, "video": ("v.mp4", b"junk")}), 400,
                 "video")
    assert_error(client.post("/v1/dub", data={"input": "Hi.", "extra": "1"}, files=motion), 400, "extra")
    assert_error(client.post("/v1/dub", data={"input": "Hi."}, files={**motion, "other": ("o.bin", b"1")}), 400,
                 "other")


def test_portrait_needs_liveportrait_weights(client, monkeypatch):
    monkeypatch.delenv("JAMFLOW_LIVEPORTRAIT_WEIGHTS", raising=False)
    r = client.post("/v1/talk", data={"input": "Hi."}, files={"image": ("face.png", b"\x89PNG....")})
    err = assert_error(r, 400, "image")
    assert "avatar" in err["message"]


def test_too_long_audio_upload(jam, ref_wav):
    _, path = ref_wav  # 1.6 s
    with make_client(jam, max_audio_s=1.0) as c:
        r = c.post("/v1/animate", files={"audio": ("ref.wav", path.read_bytes(), "audio/wav")})
    err = assert_error(r, 400, "audio")
    assert "1.6 s" in err["message"]
