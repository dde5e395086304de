"""`jamflow serve` under load: throughput, latency and time to first audio byte of /v1/audio/speech.

    python benchmarks/bench_server.py                                  # shipped model, 1,2,4 clients
    python benchmarks/bench_server.py --clients 1,2 --requests 2 --nfe 16 --threads 2

Starts `jamflow serve` (the shipped model unless --ckpt; its default vocoder: Vocos if found, else
Griffin-Lim) on a free 127.0.0.1 port with --queue at least the largest client count, then for each
client count N runs N clients at once, each sending --requests requests one after another, first as
plain responses, then with `stream: true` (pcm). Every request uses the same settings, so the two
modes return the same audio. Printed per row:

    req/s       requests answered per wall second        audio s/s   seconds of speech per wall second
    p50/p95     request latency (send -> last byte)      TTFB p50    send -> first audio byte

Texts cycle through the shipped example texts (one to two sentences each); `max_chunk_s` (default 4)
splits them into chunks, which is what lets a stream start before the whole text is done.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, queue: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "jamflow.cli", "serve", "--port", str(port), "--queue", str(queue),
           "--log_level", "warning"]
    for flag in ("ckpt", "device", "dtype", "vocoder"):
        if getattr(args, flag):
            cmd += [f"--{flag}", getattr(args, flag)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def one_request(client, body: dict) -> dict:
    """(status, latency, time to first audio byte, seconds of audio) of one request."""
    t0 = time.perf_counter()
    first, size = None, 0
    with client.stream("POST", "/v1/audio/speech", json=body) as r:
        for chunk in r.iter_raw():
            if first is None and chunk:
                first = time.perf_counter() - t0
            size += len(chunk)
    latency = time.perf_counter() - t0
    return {"status": r.status_code, "latency": latency, "ttfb": first or latency,
            "audio_s": size / 2 / 24000 if r.status_code == 200 else 0.0}


def run_round(url: str, clients: int, requests: int, texts: list[str], base: dict) -> tuple[list[dict], float]:
    import httpx

    results, lock = [], threading.Lock()

    def client_loop(k: int):
        with httpx.Client(base_url=url, timeout=3600) as c:
            for i in range(requests):
                res = one_request(c, {**base, "input": texts[(k * requests + i) % len(texts)]})
                with lock:
                    results.append(res)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def row(clients: int, mode: str, results: list[dict], wall: float) -> str:
    ok = [r for r in results if r["status"] == 200]
    refused = sum(r["status"] in (429, 503) for r in results)
    lat = np.array([r["latency"] for r in ok]) if ok else np.zeros(1)
    ttfb = np.array([r["ttfb"] for r in ok]) if ok else np.zeros(1)
    audio = sum(r["audio_s"] for r in ok)
    return (f"| {clients} | {mode} | {len(results)} | {len(ok)} | {refused} | {len(ok) / wall:.3f} | "
            f"{audio / wall:.3f} | {np.percentile(lat, 50):.2f} | {np.percentile(lat, 95):.2f} | "
            f"{np.percentile(ttfb, 50):.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="checkpoint folder (default: the shipped model)")
    p.add_argument("--device")
    p.add_argument("--dtype")
    p.add_argument("--vocoder")
    p.add_argument("--clients", default="1,2,4", help="comma-separated client counts (default 1,2,4)")
    p.add_argument("--requests", type=int, default=2, help="requests per client per mode (default 2)")
    p.add_argument("--nfe", type=int, default=16, help="nfe_step of every request (default 16)")
    p.add_argument("--max_chunk_s", type=float, default=4.0, help="max_chunk_s of every request (default 4)")
    p.add_argument("--threads", type=int, default=2, help="OMP threads of the server process (default 2)")
    p.add_argument("--voice", default="slt")
    args = p.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    import json

    texts = json.loads((ROOT / "src/jamflow/assets/examples/examples.json").read_text())["texts"]
    base = {"voice": args.voice, "nfe_step": args.nfe, "max_chunk_s": args.max_chunk_s, "seed": 0,
            "response_format": "pcm"}
    proc, url = start_server(args, queue=max(counts))
    try:
        import httpx

        health = httpx.get(url + "/health").json()
        one_request(httpx.Client(base_url=url, timeout=3600), {**base, "input": "Warm up."})
        print(f"jamflow serve: model {health['model']['name']}, {health['model']['device']} "
              f"({health['model']['dtype']}), vocoder {health['model']['vocoder']}, nfe {args.nfe}, "
              f"max_chunk_s {args.max_chunk_s}, {args.threads} threads, {os.cpu_count()} CPUs visible")
        print("| clients | mode | requests | ok | 429 | req/s | audio s/s | p50 s | p95 s | TTFB p50 s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n in counts:
            for mode, extra in (("plain", {}), ("stream", {"stream": True})):
                results, wall = run_round(url, n, args.requests, texts, {**base, **extra})
                print(row(n, mode, results, wall), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
