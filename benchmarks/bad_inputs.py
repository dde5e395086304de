"""Hostile-user sweep: bad (and unusual but legitimate) inputs against every command, one table.

    PYTHONPATH=src python3 benchmarks/bad_inputs.py            # tiny random model, ~2-4 min on 2 cores
    PYTHONPATH=src python3 benchmarks/bad_inputs.py --only tts  # cases whose name starts with "tts"

Each case runs `jamflow.cli.main(argv)` in this process with two hooks: one records whether the model
was loaded, one counts sampler calls (over `--max_calls` = "unbounded": the run would go on and on).
Outcome per case:
    clean       exit 2, one stderr line `jamflow CMD: error: ...`, no traceback, nothing written,
                and (where the problem is knowable from the arguments and file headers) before model load
    late        a clean error, but only after the model loaded or sampling started
    weak        a clean error that names an internal variable (path:, wav:, mel:) instead of the flag
    ok          a legitimate case that ran (exit 0)
    traceback   an exception escaped, or a traceback was printed
    unbounded   sampling went past --max_calls calls / --max_s seconds
    silent      a bad input that ran to exit 0 (garbage or an accepted invalid value)
    escaped     something was written outside the output folder
    noisy       a clean exit 2 with more than one line on stderr
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import signal
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


@dataclass
class Case:
    name: str
    argv: list
    bad: bool = True  # False: unusual but legitimate, must run
    early: bool = True  # knowable from the arguments and the files' headers; False: only from decoded content


def _png_header(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels (the pixel data is a few bytes: a decompression bomb shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _long_flac(path: Path, seconds: float) -> None:
    with sf.SoundFile(path, "w", 24000, 1, format="FLAC") as f:
        block = np.zeros(24000 * 60, np.float32)
        for _ in range(int(seconds // 60)):
            f.write(block)


def make_fixtures(root: Path) -> dict:
    from jamflow.testing import save_tiny_checkpoint, tiny_motion_stats

    ckpt = save_tiny_checkpoint(root / "ckpt")
    mean = np.asarray(tiny_motion_stats()["mean"])
    f = {"ckpt": str(ckpt), "root": str(root)}

    def bad_ckpt(name, mutate):
        d = root / name
        d.mkdir()
        for n in ("config.json", "model.safetensors"):
            (d / n).write_bytes((ckpt / n).read_bytes())
        mutate(d)
        f[name] = str(d)

    bad_ckpt("ckpt_trunc", lambda d: (d / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:5000]))
    bad_ckpt("ckpt_badjson", lambda d: (d / "config.json").write_text("{not json"))
    bad_ckpt("ckpt_latin1", lambda d: (d / "config.json").write_bytes(b"{\"config\": \"\xff\xfe\"}"))
    bad_ckpt("ckpt_extra", lambda d: (d / "config.json").write_text(
        json.dumps({**json.loads((ckpt / "config.json").read_text()), "bogus_key": 1})))
    bad_ckpt("ckpt_cfgtype", lambda d: (d / "config.json").write_text(json.dumps({"config": [1, 2]})))

    t = np.arange(int(1.6 * 24000)) / 24000
    wav = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(root / "ref.wav", (0.1 * wav / np.abs(wav).max()).astype(np.float32), 24000)
    f["ref"] = str(root / "ref.wav")
    sf.write(root / "ref15.wav", np.tile((0.1 * wav / np.abs(wav).max()).astype(np.float32), 9), 24000)
    f["ref15"] = str(root / "ref15.wav")
    nan = np.zeros(24000, np.float32)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, 24000, subtype="FLOAT")
    f["nanwav"] = str(root / "nan.wav")
    sf.write(root / "silent.wav", np.zeros(24000, np.float32), 24000)
    f["silent"] = str(root / "silent.wav")
    (root / "empty.wav").write_bytes(b"")
    f["empty"] = str(root / "empty.wav")
    (root / "notaudio.wav").write_text("hello, I am text\n" * 50)
    f["notaudio"] = str(root / "notaudio.wav")
    _long_flac(root / "hour.flac", 3600)
    f["hour"] = str(root / "hour.flac")
    (root / "latin1.txt").write_bytes("Caf\xe9 au lait, tr\xe8s bien.".encode("latin-1"))
    f["latin1"] = str(root / "latin1.txt")
    (root / "cfg_latin1.toml").write_bytes(b"speed = 1.0 # \xff\xfe\n")
    f["cfg_latin1"] = str(root / "cfg_latin1.toml")
    (root / "cfg_nan.toml").write_text("speed = nan\n")
    f["cfg_nan"] = str(root / "cfg_nan.toml")
    (root / "cfg_type.toml").write_text('speed = "fast"\n')
    f["cfg_type"] = str(root / "cfg_type.toml")

    motion = np.tile(mean, (40, 1)).astype(np.float32)
    np.save(root / "motion.npy", motion)
    f["motion"] = str(root / "motion.npy")
    np.save(root / "huge_motion.npy", np.full((40, 70), 1e30, np.float32))
    f["huge_motion"] = str(root / "huge_motion.npy")
    (root / "trunc_motion.npy").write_bytes((root / "motion.npy").read_bytes()[:300])
    f["trunc_motion"] = str(root / "trunc_motion.npy")
    (root / "evil.pkl").write_bytes(pickle.dumps({"a": os.system}))  # refers to os.system; must not be loaded
    f["evil_pkl"] = str(root / "evil.pkl")
    np.save(root / "long_motion.npy", np.tile(mean, (25 * 3600, 1)).astype(np.float32))
    f["long_motion"] = str(root / "long_motion.npy")

    _png_header(root / "bomb.png", 16000, 16000)
    f["bomb"] = str(root / "bomb.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    f["corrupt_png"] = str(root / "corrupt.png")
    (root / "corrupt.mp4").write_bytes(os.urandom(4000))
    f["corrupt_mp4"] = str(root / "corrupt.mp4")
    np.save(root / "corrupt.npy", motion)  # sidecar motion of corrupt.mp4, so dub reaches the video
    (root / "afile").write_text("x")
    f["afile"] = str(root / "afile")

    def jobs(name, lines):
        p = root / name
        p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
        f[name.split(".")[0]] = str(p)

    jobs("jobs_dotdot.jsonl", [{"gen_text": "Hi there.", "output": "../../escaped_batch"}])
    jobs("jobs_abs.jsonl", [{"gen_text": "Hi there.", "output": str(root / "escaped_abs")}])
    jobs("jobs_badline.jsonl", [{"gen_text": "Hi there.", "output": "a"}, {"gen_text": "x", "speed": "fast"}])
    jobs("jobs_chinese.jsonl", [{"gen_text": "\u4f60\u597d\u4e16\u754c\u3002", "output": "a"}])
    jobs("jobs_ok.jsonl", [{"gen_text": "Hi there.", "output": "sub/a"}, {"gen_text": "Bye now.", "output": "b"}])
    (root / "jobs_latin1.txt").write_bytes("Caf\xe9.\n".encode("latin-1"))
    f["jobs_latin1"] = str(root / "jobs_latin1.txt")
    big = root / "jobs_many.txt"
    big.write_text("Hello.\n" * 20000)
    f["jobs_many"] = str(big)
    return f


def cases() -> list[Case]:
    long_text = " ".join(["The quick brown fox jumps over the lazy dog."] * 460)  # ~20k characters
    huge_text = "word " * 20000  # 100k characters
    no_punct = " ".join(["the quick brown fox jumps over the lazy dog"] * 70)  # ~3k characters
    medium = " ".join(["This sentence is here to make a longer text, and it has commas."] * 8)
    C = Case
    return [
        # text
        C("tts-gen_file-not-utf8", ["tts", "-f", "{latin1}"]),
        C("tts-text-20k-chars", ["tts", "-t", long_text]),
        C("tts-text-100k-chars", ["tts", "-t", huge_text]),
        C("tts-text-nothing-to-speak", ["tts", "-t", "!!! ??? ,,,"]),
        C("tts-text-chinese", ["tts", "-t", "\u4f60\u597d\u4e16\u754c\u3002"]),
        C("tts-text-mixed-script", ["tts", "-t", "Hello \u043f\u0440\u0438\u0432\u0435\u0442 there."]),
        C("tts-text-zero-width-only", ["tts", "-t", "\u200b\u200b"]),
        C("tts-text-control-chars", ["tts", "-t", "Hi\x00\x07 there."]),
        C("tts-ref_text-too-long", ["tts", "-t", "Hello there.", "-r", "{ref}", "-s", medium * 2]),
        C("tts-ref_text-too-short", ["tts", "-t", "Hello there.", "-r", "{ref15}", "-s", "Hi."], early=False),
        # settings
        C("tts-target_rms-negative", ["tts", "-t", "Hi there.", "--target_rms", "-1"]),
        C("tts-sway-nan", ["tts", "-t", "Hi there.", "--sway_sampling_coef", "nan"]),
        C("tts-fix_duration-inf", ["tts", "-t", "Hi there.", "--fix_duration", "inf"]),
        C("tts-cfg-1e30", ["tts", "-t", "Hi there.", "--cfg_strength", "1e30"]),
        C("tts-cfg_motion-inf", ["tts", "-t", "Hi there.", "--cfg_strength_motion", "inf"]),
        C("tts-speed-nan", ["tts", "-t", "Hi there.", "--speed", "nan"]),
        C("tts-nfe-0", ["tts", "-t", "Hi there.", "--nfe_step", "0"]),
        C("tts-seed-negative", ["tts", "-t", "Hi there.", "--seed", "-1"]),
        C("tts-max_chunk_s-huge", ["tts", "-t", "Hi there.", "--max_chunk_s", "1e9"]),
        C("tts-head_scale-1e30", ["tts", "-t", "Hi there.", "--head_scale", "1e30"]),
        C("tts-motion_smoothing-inf", ["tts", "-t", "Hi there.", "--motion_smoothing", "inf"]),
        C("tts-nfe-not-int", ["tts", "-t", "Hi there.", "--nfe_step", "two"]),
        C("tts-config-not-utf8", ["tts", "-t", "Hi there.", "-c", "{cfg_latin1}"]),
        C("tts-config-nan", ["tts", "-t", "Hi there.", "-c", "{cfg_nan}"]),
        C("tts-config-wrong-type", ["tts", "-t", "Hi there.", "-c", "{cfg_type}"]),
        # outputs
        C("tts-output_dir-is-file", ["tts", "-t", "Hi there.", "--output_dir", "{afile}"]),
        C("tts-output_dir-proc", ["tts", "-t", "Hi there.", "--output_dir", "/proc/jamflow_out"]),
        C("tts-output_dir-sys", ["tts", "-t", "Hi there.", "--output_dir", "/sys/kernel/jamflow_out"]),
        C("tts-output_file-dotdot", ["tts", "-t", "Hi there.", "--output_file", "../../escaped.wav"]),
        C("tts-output_file-nested-ok", ["tts", "-t", "Hi there.", "--output_file", "sub/dir/x.wav"], bad=False),
        # checkpoints
        C("tts-ckpt-truncated-weights", ["tts", "-t", "Hi there.", "--ckpt", "{ckpt_trunc}"]),
        C("tts-ckpt-invalid-json", ["tts", "-t", "Hi there.", "--ckpt", "{ckpt_badjson}"]),
        C("tts-ckpt-json-not-utf8", ["tts", "-t", "Hi there.", "--ckpt", "{ckpt_latin1}"]),
        C("tts-ckpt-unknown-top-key", ["tts", "-t", "Hi there.", "--ckpt", "{ckpt_extra}"]),
        C("tts-ckpt-config-wrong-type", ["tts", "-t", "Hi there.", "--ckpt", "{ckpt_cfgtype}"]),
        # reference audio
        C("tts-ref-not-audio", ["tts", "-t", "Hi there.", "-r", "{notaudio}", "-s", "Hello."]),
        C("tts-ref-empty", ["tts", "-t", "Hi there.", "-r", "{empty}", "-s", "Hello."]),
        C("tts-ref-nan", ["tts", "-t", "Hi there.", "-r", "{nanwav}", "-s", "Hello."], early=False),
        C("tts-ref-silent", ["tts", "-t", "Hi there.", "-r", "{silent}", "-s", "Hello."], early=False),
        C("tts-ref-one-hour", ["tts", "-t", "Hi there.", "-r", "{hour}", "-s", "Hello."]),
        C("tts-ref-15s-ok", ["tts", "-t", "Hi there.", "-r", "{ref15}", "-s", no_punct[:190]], bad=False),
        # animate / dub / edit / talk
        C("animate-one-hour", ["animate", "-a", "{hour}"]),
        C("animate-not-audio", ["animate", "-a", "{notaudio}"]),
        C("animate-15s-ok", ["animate", "-a", "{ref15}"], bad=False),
        C("dub-corrupt-video", ["dub", "-t", "Hi there.", "--video", "{corrupt_mp4}", "--motion", "{motion}"]),
        C("dub-motion-1e30", ["dub", "-t", "Hi there.", "--motion", "{huge_motion}"]),
        C("dub-motion-truncated", ["dub", "-t", "Hi there.", "--motion", "{trunc_motion}"]),
        C("dub-motion-evil-pickle", ["dub", "-t", "Hi there.", "--motion", "{evil_pkl}"]),
        C("dub-motion-one-hour", ["dub", "-t", "Hi there.", "--motion", "{long_motion}"]),
        C("talk-source-16000px-png", ["talk", "-t", "Hi there.", "--source", "{bomb}"]),
        C("talk-source-corrupt-png", ["talk", "-t", "Hi there.", "--source", "{corrupt_png}"]),
        C("talk-ref_motion-1e30", ["talk", "-t", "Hi there.", "--ref_motion", "{huge_motion}", "-r", "{ref}",
                                   "-s", "Hello."]),
        C("edit-extend-nan", ["edit", "-a", "{ref}", "--text", "Hello there.", "--extend_s", "nan"]),
        C("edit-spans-garbage", ["edit", "-a", "{ref}", "--text", "Hello there.", "--audio_spans", "a-b"]),
        C("edit-spans-inf", ["edit", "-a", "{ref}", "--text", "Hello there.", "--audio_spans", "0-inf"]),
        # batch
        C("batch-output-dotdot", ["batch", "{jobs_dotdot}"]),
        C("batch-output-absolute", ["batch", "{jobs_abs}"]),
        C("batch-bad-setting-line-2", ["batch", "{jobs_badline}"]),
        C("batch-chinese-job", ["batch", "{jobs_chinese}"]),
        C("batch-txt-not-utf8", ["batch", "{jobs_latin1}"]),
        C("batch-20000-jobs", ["batch", "{jobs_many}"]),
        C("batch-batch_size-0", ["batch", "{jobs_ok}", "--batch_size", "0"]),
        C("batch-batch_size-1e6", ["batch", "{jobs_ok}", "--batch_size", "1000000"]),
        C("batch-nested-output-ok", ["batch", "{jobs_ok}"], bad=False),
        # render
        C("render-size-100000", ["render", "--motion", "{motion}", "--out", "{out}/r.mp4", "--size", "100000"]),
        C("render-size-negative", ["render", "--motion", "{motion}", "--out", "{out}/r.mp4", "--size", "-5"]),
        C("render-motion-1e30", ["render", "--motion", "{huge_motion}", "--out", "{out}/r.mp4"]),
        C("render-motion-truncated", ["render", "--motion", "{trunc_motion}", "--out", "{out}/r.mp4"]),
        C("render-motion-evil-pickle", ["render", "--motion", "{evil_pkl}", "--out", "{out}/r.mp4"]),
        C("render-audio-not-audio", ["render", "--motion", "{motion}", "--audio", "{notaudio}", "--out", "{out}/r.mp4"]),
        C("render-out-under-file", ["render", "--motion", "{motion}", "--out", "{afile}/r.mp4"]),
        C("render-every-0", ["render", "--motion", "{motion}", "--out", "{out}/frames", "--png", "--every", "0"]),
        # the command line itself
        C("unknown-subcommand", ["frobnicate", "--x"]),
    ]


MODEL_COMMANDS = {"tts", "talk", "animate", "dub", "edit", "batch", "demo"}


def names_what_user_gave(line: str) -> bool:
    """The error names a flag (--ref_audio), a jobs-file line or the command, not an internal variable."""
    said = line.split(" error: ", 1)[-1]
    return said.startswith(("--", "jobs", "COMMAND"))


class Unbounded(BaseException):
    pass


def run_case(case: Case, f: dict, out: Path, max_calls: int, max_s: float) -> dict:
    import jamflow.infer.runner as runner
    from jamflow.cli import main
    from jamflow.model.jam import JAMModel

    state = {"loaded": False, "calls": 0}
    real_load, real_generate = JAMModel.from_pretrained.__func__, runner.generate

    def load(cls, *a, **k):
        state["loaded"] = True
        return real_load(cls, *a, **k)

    def generate(*a, **k):
        state["calls"] += 1
        if state["calls"] > max_calls:
            raise Unbounded()
        return real_generate(*a, **k)

    argv = [a.format(**f, out=out) for a in case.argv]
    if argv[0] in MODEL_COMMANDS and argv[0] != "frobnicate":
        defaults = {"--output_dir": str(out), "--vocoder": "griffinlim", "--nfe_step": "2", "--seed": "1",
                    "--ckpt": f["ckpt"]}
        for flag, value in defaults.items():  # a case's own value of a flag is kept
            if flag not in argv:
                argv += [flag, value]
        argv += ["--quiet"]
    before = set(Path(f["root"]).parent.rglob("*"))
    err, code, exc = io.StringIO(), None, None
    JAMModel.from_pretrained, runner.generate = classmethod(load), generate

    def alarm(*_):
        raise Unbounded()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max_s)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except Unbounded:
        exc = "unbounded"
    except SystemExit as e:  # argparse
        code = e.code
    except BaseException as e:  # noqa: BLE001 - a traceback is the finding
        exc = f"{type(e).__name__}: {str(e)[:100]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        JAMModel.from_pretrained, runner.generate = classmethod(real_load), real_generate
    seconds = time.perf_counter() - t0
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip() and not ln.startswith("note:")]
    after = set(Path(f["root"]).parent.rglob("*"))
    written_out = [p for p in after - before if out in p.parents and p.is_file()]
    escaped = [p for p in after - before if out not in p.parents and p != out and p.is_file()]
    if exc == "unbounded":
        outcome = "unbounded"
    elif exc is not None or any("Traceback" in ln for ln in lines):
        outcome = "traceback"
    elif escaped:
        outcome = "escaped"
    elif not case.bad:
        outcome = "ok" if code == 0 else "refused"
    elif code == 0:
        outcome = "silent"
    elif code == 2 and len(lines) == 1 and lines[0].startswith("jamflow") and " error: " in lines[0] \
            and not written_out:
        late = case.early and (state["loaded"] or state["calls"] > 0)
        outcome = "late" if late else "clean" if names_what_user_gave(lines[0]) else "weak"
    else:
        outcome = "noisy"
    for p in sorted(after - before, reverse=True):  # leave the next case a clean slate
        if p.is_file() or p.is_symlink():
            p.unlink()
        elif p.is_dir():
            p.rmdir()
    return dict(name=case.name, outcome=outcome, code=code, loaded=state["loaded"], calls=state["calls"],
                seconds=seconds, error=(exc or (lines[0] if lines else ""))[:150], lines=len(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="run the cases whose name starts with this (comma-separated list)")
    ap.add_argument("--max_calls", type=int, default=40, help="sampler calls after which a case counts as unbounded")
    ap.add_argument("--max_s", type=float, default=90, help="seconds after which a case counts as unbounded")
    ap.add_argument("--json", help="write the rows here too")
    a = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        f = make_fixtures(root)
        rows = []
        for case in cases():
            if not any(case.name.startswith(x) for x in a.only.split(",")):
                continue
            out = Path(tmp) / "w" / "x" / "out"  # ../../ from here stays inside tmp, where escapes are looked for
            r = run_case(case, f, out, a.max_calls, a.max_s)
            rows.append(r)
            print(f"{r['name']:32s} {r['outcome']:10s} exit={r['code']!s:5s} load={int(r['loaded'])} "
                  f"calls={r['calls']:<3d} {r['seconds']:6.1f}s  {r['error']}", flush=True)
    counts = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    legit = [r for r in rows if r["name"].endswith("-ok")]
    print(f"\n{len(rows)} cases ({len(rows) - len(legit)} bad inputs, {len(legit)} legitimate): "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    good = sum(r["outcome"] in ("clean", "ok") for r in rows)
    print(f"{good} of {len(rows)} end cleanly (bad input: one-line error, exit 2, nothing written, before model "
          f"load where knowable; legitimate: exit 0)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
