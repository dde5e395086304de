"""POST /v1/talk, /v1/animate, /v1/dub -> H.264 + AAC mp4 (dub: or wav), in-process."""
import numpy as np
import pytest
from serve_helpers import FAST, decode_wav

from jamflow.render.video import probe, write_mp4


def check_mp4(data: bytes, tmp_path, seconds: float):
    path = tmp_path / "out.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert info["video"]["codec_name"] == "h264" and info["audio"]["codec_name"] == "aac"
    assert float(info["video"]["duration"]) == pytest.approx(seconds, abs=0.1)
    return info


def test_talk_json_and_form(client, tmp_path):
    r = client.post("/v1/talk", json={"input": "Hello there.", "voice": "librivox", **FAST})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    check_mp4(r.content, tmp_path, float(r.headers["x-audio-duration"]))
    form = client.post("/v1/talk", data={"input": "Hello there.", "voice": "librivox", "nfe_step": "2", "seed": "7"})
    assert form.status_code == 200 and form.headers["x-seed"] == "7"
    assert form.headers["x-audio-duration"] == r.headers["x-audio-duration"]


def test_animate_upload(client, ref_wav, tmp_path):
    wav, path = ref_wav
    r = client.post("/v1/animate", files={"audio": ("speech.wav", path.read_bytes(), "audio/wav")},
                    data={"transcript": "A test.", "nfe_step": "2"})
    assert r.status_code == 200, r.text
    assert float(r.headers["x-audio-duration"]) == pytest.approx(len(wav) / 24000, abs=1e-3)
    check_mp4(r.content, tmp_path, len(wav) / 24000)


def test_dub_motion_to_mp4_and_wav(client, tmp_path):
    motion = tmp_path / "lips.npy"
    np.save(motion, np.zeros((50, 70), np.float32))  # 2 s at 25 fps
    files = {"motion": ("lips.npy", motion.read_bytes())}
    r = client.post("/v1/dub", data={"input": "Hello there, friend.", **{k: str(v) for k, v in FAST.items()}},
                    files=files)
    assert r.status_code == 200, r.text
    check_mp4(r.content, tmp_path, 2.0)
    w = client.post("/v1/dub", data={"input": "Hello there, friend.", "response_format": "wav", "nfe_step": "2"},
                    files=files)
    assert w.headers["content-type"] == "audio/wav"
    wav, sr = decode_wav(w.content)
    assert sr == 24000 and len(wav) == 50 * 960  # exactly the motion's length


def test_dub_into_uploaded_video(client, tmp_path):
    frames = [np.full((64, 80, 3), 40 * (i % 5), np.uint8) for i in range(50)]
    video = write_mp4(tmp_path / "clip.mp4", frames, fps=25)
    motion = tmp_path / "clip.npy"
    np.save(motion, np.zeros((50, 70), np.float32))
    r = client.post("/v1/dub", data={"input": "New words here.", "nfe_step": "2"},
                    files={"motion": ("clip.npy", motion.read_bytes()), "video": ("clip.mp4", video.read_bytes())})
    assert r.status_code == 200, r.text
    info = check_mp4(r.content, tmp_path, 2.0)
    assert (info["video"]["width"], info["video"]["height"]) == (80, 64)  # the user's video, not the avatar


def test_no_files_left_behind(client, ref_wav, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the request folders are made here
    _, path = ref_wav
    ok = client.post("/v1/animate", files={"audio": ("a.wav", path.read_bytes())}, data={"nfe_step": "2"})
    bad = client.post("/v1/animate", files={"audio": ("a.txt", b"not audio" * 100)})
    refused = client.post("/v1/talk", data={"input": "Hi.", "bogus": "1"})
    assert (ok.status_code, bad.status_code, refused.status_code) == (200, 400, 400)
    assert list(tmp_path.iterdir()) == []
