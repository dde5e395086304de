"""A real uvicorn server in its own process: concurrency against the bounded queue, /health while busy,
memory over many requests, and a client that goes away freeing its slot."""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_helpers import FAST, decode_wav, rss_bytes

pytestmark = pytest.mark.multiprocess  # every test talks to a uvicorn server in a child process

SPEECH = "/v1/audio/speech"


def test_concurrent_requests_get_audio_or_429(server):
    url, _ = server
    body = {"input": "Hello there, how are you today?", **FAST}
    stop = threading.Event()
    health = []

    def watch_health():
        with httpx.Client(base_url=url, timeout=10) as c:
            while not stop.is_set():
                health.append(c.get("/health").json()["queue"])
                time.sleep(0.05)

    def one(_):
        with httpx.Client(base_url=url, timeout=120) as c:
            return c.post(SPEECH, json=body)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(one, range(16)))
    finally:
        stop.set()
        watcher.join()
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code in (429, 503)]
    assert len(ok) + len(refused) == 16, [r.status_code for r in responses]
    assert ok and refused  # capacity is 1 running + 2 waiting: 16 at once cannot all be admitted
    first = ok[0].content
    for r in ok:
        wav, sr = decode_wav(r.content)
        assert sr == 24000 and len(wav) > 0 and r.content == first  # same seed, same audio
    for r in refused:
        assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["type"] == "queue_full"
    assert health and any(h["running"] == 1 for h in health)  # answered while a job ran
    assert all(h["running"] <= 1 and h["waiting"] <= 2 for h in health)
    after = httpx.get(url + "/health").json()["queue"]
    assert after == {"running": 0, "waiting": 0, "capacity": 3}


def test_memory_stays_flat_over_50_requests(server):
    url, proc = server
    body = {"input": "Hi there.", **FAST}
    with httpx.Client(base_url=url, timeout=60) as c:
        for _ in range(5):  # warm-up: allocator pools, caches
            assert c.post(SPEECH, json=body).status_code == 200
        before = rss_bytes(proc.pid)
        for i in range(50):
            fmt = ("wav", "pcm", "flac")[i % 3]
            assert c.post(SPEECH, json={**body, "response_format": fmt}).status_code == 200
        after = rss_bytes(proc.pid)
    assert after <= 1.10 * before, (before, after)


def test_client_that_disconnects_frees_its_slot(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    payload = ('{"input": "' + "The quick brown fox jumps over the lazy dog. " * 6 +
               '", "nfe_step": 1000, "max_chunk_s": 1.0, "seed": 1}').encode()
    head = (f"POST {SPEECH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    with httpx.Client(base_url=url, timeout=10) as c:
        sock = socket.create_connection((host, int(port)))
        sock.sendall(head + payload)
        deadline = time.monotonic() + 20
        while c.get("/health").json()["queue"]["running"] == 0:  # the long job has started
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sock.close()
        # 1000 steps per chunk would run for minutes; the slot must come back within a few seconds
        deadline = time.monotonic() + 10
        while c.get("/health").json()["queue"] != {"running": 0, "waiting": 0, "capacity": 3}:
            assert time.monotonic() < deadline, "the disconnected request still holds its slot"
            time.sleep(0.05)
        assert c.post(SPEECH, json={"input": "Hi there.", **FAST}).status_code == 200


def test_stream_client_that_leaves_mid_way_frees_its_slot(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    text = "The quick brown fox jumps over the lazy dog. " * 24  # ~24 chunks of 1 s: far longer than the wait below
    payload = ('{"input": "' + text + '", "nfe_step": 20, "max_chunk_s": 1.0, "stream": true, '
               '"response_format": "pcm", "seed": 1}').encode()
    head = (f"POST {SPEECH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    with httpx.Client(base_url=url, timeout=10) as c:
        sock = socket.create_connection((host, int(port)))
        sock.settimeout(60)
        sock.sendall(head + payload)
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < 1000:
            chunk = sock.recv(65536)  # the headers and the start of the first audio chunk
            assert chunk, received[:300]
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        sock.close()
        deadline = time.monotonic() + 10
        while c.get("/health").json()["queue"] != {"running": 0, "waiting": 0, "capacity": 3}:
            assert time.monotonic() < deadline, "the stream's job kept running after its client left"
            time.sleep(0.05)
