"""`jamflow bench --mode stream`: the streaming talking head end to end, on a real checkpoint.

For each length (`--seconds`, e.g. 5,30,120 s of speech) a text of about that length (the shipped
sentence list) is spoken by `JAMFlow.talk_stream` with a reference voice (`--ref`: the shipped `slt`
example, 3.4 s), rendered by the avatar, and written as the CLI writes it (a wav flushed per piece and
a fragmented mp4 through ffmpeg). Per length it prints:

- first_audio_s / first_frame_s: from the call (model loaded) to the first piece's audio / first
  rendered frame in hand;
- rtf: wall time / seconds of audio, everything included (sampling, vocoder, render, encode);
- sample_s, vocoder_s, render_s: time spent in each stage (after the first chunk, sampling runs in its
  own thread, overlapping the others, so they add up to more than the wall time when the overlap works);
- encode_s: CPU seconds of the H.264/AAC encoder (ffmpeg runs in its own process, beside the stream);
- cpu_s: CPU seconds of the whole call, this process and ffmpeg together (at most wall_s x cores);
- peak_rss_mb: the process's peak resident memory during the call (absolute), rss_rise_mb above the
  start of the call.

Then one row for a single call (`talk`, one chunk) of `--single_s` seconds, the reference point for
the cost of long text, and the ratios: long text's RTF / the single call's, and the peak RSS of the
longest length / the 30 s one. `--cold` adds the CLI's cold start: `jamflow talk --stream` in a new
process, timed from the process start to its printed first audio.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from jamflow.timeline import SAMPLE_RATE
from jamflow.vocoder import NAMES as VOCODER_NAMES, vocoder_label

ASSETS = Path(__file__).resolve().parent.parent / "assets"


STAGES = ("sample_s", "vocoder_s", "render_s")


class StageClock:
    """Seconds spent in named stages, summed over threads (wrapped module functions add to it)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

        return timed


@contextlib.contextmanager
def timed_stages(clock: StageClock):
    """Time the sampler, the vocoder and the renderer where the stream calls them."""
    from jamflow.infer import engine
    from jamflow.render import stream_video  # infer.stream imports render_piece from it at call time

    patches = [(engine, "generate", "sample_s"), (engine.Engine, "vocode", "vocoder_s"),
               (stream_video, "render_piece", "render_s")]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, stage in patches:
            setattr(obj, name, clock.wrap(stage, getattr(obj, name)))
        yield clock
    finally:
        for obj, name, fn in saved:
            setattr(obj, name, fn)


def text_of(seconds: float, chars_per_s: float) -> str:
    """Sentences from the shipped list until about `seconds` of speech at `chars_per_s`."""
    lines = [ln.strip() for ln in (ASSETS / "sentences_en.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    out, n = [], 0
    for line in lines:
        if n >= seconds * chars_per_s:
            break
        out.append(line)
        n += len(line) + 1
    return " ".join(out)


def reference(name: str) -> tuple[Path, str, float]:
    import json

    import soundfile as sf

    voices = {v["name"]: v for v in json.loads((ASSETS / "examples" / "examples.json").read_text())["voices"]}
    voice = voices[name]
    path = ASSETS / "examples" / voice["audio"]
    return path, voice["text"], sf.info(str(path)).duration


def cpu_seconds() -> tuple[float, float]:
    """(this process, its finished child processes): user + system CPU seconds so far."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def stream_once(jam, text: str, ref, settings, out_dir: Path) -> dict:
    """One talk_stream call written to wav + fragmented mp4; timings and memory."""
    from jamflow.eval.timing import RssPeak
    from jamflow.infer.stream_output import StreamFiles

    clock = StageClock()
    own0, children0 = cpu_seconds()
    with RssPeak() as rss, timed_stages(clock):
        t0 = time.perf_counter()
        pieces = jam.talk_stream(text, str(ref[0]), ref[1], settings=settings)
        files = StreamFiles(out_dir / "bench", video=True)
        first_audio = first_frame = None
        audio = 0
        for piece in pieces:
            if first_audio is None and len(piece.wav):
                first_audio = time.perf_counter() - t0
            if first_frame is None and piece.frames:
                first_frame = time.perf_counter() - t0
            files.write(piece.wav, piece.motion, piece.frames)
            audio += len(piece.wav)
        files.close()  # waits for ffmpeg, whose CPU time then counts among the children's
        wall = time.perf_counter() - t0
    own, children = (now - before for now, before in zip(cpu_seconds(), (own0, children0)))
    seconds = audio / SAMPLE_RATE
    return {"audio_s": seconds, "first_audio_s": first_audio, "first_frame_s": first_frame, "wall_s": wall,
            "rtf": wall / seconds, **{k: clock.seconds.get(k, 0.0) for k in STAGES}, "encode_s": children,
            "cpu_s": own + children, "peak_rss_mb": rss.peak / 2**20, "rss_rise_mb": rss.used / 2**20}


def single_call(jam, seconds: float, ref, settings, chars_per_s: float, out_dir: Path) -> dict:
    """`talk` of one chunk (no short first chunk), written as the CLI writes it: the cost reference."""
    from dataclasses import replace

    text = text_of(seconds, chars_per_s)
    s = replace(settings, first_chunk_s=0.0, max_chunk_s=max(settings.max_chunk_s, seconds * 1.5))
    t0 = time.perf_counter()
    out = jam.talk(text, str(ref[0]), ref[1], output=out_dir / "single.mp4", settings=s)
    wall = time.perf_counter() - t0
    return {"audio_s": out.duration, "wall_s": wall, "rtf": wall / out.duration, "chunks": out.chunks}


def cold_cli(checkpoint: str | None, ref, nfe: int | None, seconds: float, chars_per_s: float, out_dir: Path,
             student: str | None = None) -> dict:
    """`jamflow talk --stream` in a fresh process: seconds from its start to its 'first audio' line."""
    cmd = [sys.executable, "-m", "jamflow.cli", "talk", "--stream", "--quiet", "-t", text_of(seconds, chars_per_s),
           "-r", str(ref[0]), "-s", ref[1], "--seed", "0", "--output_dir", str(out_dir)]
    cmd += ["--fast", student] if student else ["--nfe_step", str(nfe)]
    if checkpoint:
        cmd += ["--ckpt", checkpoint]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = None
    for line in proc.stdout:
        if first is None and line.startswith("first audio"):
            first = time.perf_counter() - t0
    code = proc.wait()
    return {"first_audio_s": first, "wall_s": time.perf_counter() - t0, "exit": code}


def bench_model(args, lengths: list[float], ref, nfe: int, student: str | None, tmp: Path) -> tuple[list[dict], object]:
    """Every row of one model (the teacher at `nfe` steps, or a student at its own) -> (rows, the JAMFlow)."""
    from jamflow.infer.api import JAMFlow
    from jamflow.infer.settings import make_settings

    vocoder = args.vocoder if args.vocoder in VOCODER_NAMES else None  # None: what the CLI loads
    jam = JAMFlow.from_pretrained(args.checkpoint, device=args.device, dtype=args.dtype, vocoder=vocoder,
                                  progress=False, student=student)
    settings = make_settings(nfe_step=nfe, seed=0, cfg_until=args.cfg_until).for_stream()
    chars_per_s = len(ref[1]) / ref[2]
    model, steps = ("student", jam.model.student.steps) if student else ("teacher", nfe)
    calls = steps if student else steps * 2  # model evaluations per sample: guidance doubles the teacher's
    jam.talk("Warm up.", str(ref[0]), ref[1], settings=make_settings(nfe_step=2, seed=0))  # first-call costs
    rows = []
    for seconds in lengths:
        row = stream_once(jam, text_of(seconds, chars_per_s), ref, settings, tmp)
        rows.append({"mode": "stream", "model": model, "vocoder": vocoder_label(jam.vocoder), "text_s": seconds,
                     "nfe": calls, **row})
        print(f"bench: done {model} stream {seconds} s", file=sys.stderr, flush=True)
    single = single_call(jam, args.single_s, ref, settings, chars_per_s, tmp)
    rows.append({"mode": "single call", "model": model, "text_s": args.single_s, "nfe": calls, **single})
    if args.cold:
        rows.append({"mode": "cli cold start", "model": model, "text_s": lengths[0], "nfe": calls,
                     **cold_cli(args.checkpoint, ref, nfe, lengths[0], chars_per_s, tmp, student)})
    return rows, jam


def run(args, lengths: list[float]) -> int:
    """The stream benchmark at each of `lengths` seconds of text (flags of `jamflow bench`), for the teacher
    and, with --fast, its student; prints the table and writes the JSON."""
    import torch

    from jamflow.eval.bench import format_table
    from jamflow.fileio import write_json_atomic

    if args.threads:
        torch.set_num_threads(args.threads)
    nfe = int(args.nfe.split(",")[0])
    ref = reference(args.ref)
    rows, summary = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        models = (args.fast,) if args.skip_teacher else (None, args.fast) if args.fast else (None,)
        for student in models:
            model_rows, jam = bench_model(args, lengths, ref, nfe, student, Path(tmp))
            rows += model_rows
            summary[model_rows[0]["model"]] = _summary(model_rows, args.single_s)
    precision = "int8" if jam.int8 else str(jam.dtype).replace("torch.", "")
    device = f"{jam.device} ({precision}), {torch.get_num_threads()} threads"
    print(f"{args.checkpoint or 'shipped model'} on {device}, reference {args.ref} ({ref[2]:.1f} s); "
          "nfe = model evaluations per sample")
    print(format_table(rows))
    for model, figures in summary.items():
        print(f"{model}: cost per second of audio, longest stream / single call: {figures['long_vs_single_rtf']:.3f}"
              + (f"; peak RSS, longest / 30 s: {figures['peak_rss_longest_vs_30s']:.3f}"
                 if "peak_rss_longest_vs_30s" in figures else ""))
    path = write_json_atomic(args.json or "bench_stream.json", {"device": device, "rows": rows, "summary": summary})
    print(f"wrote {path}")
    return 0


def _summary(rows: list[dict], single_s: float) -> dict:
    """Long text against a single call, and peak memory of the longest stream against 30 s."""
    streams = [r for r in rows if r["mode"] == "stream"]
    single = next(r for r in rows if r["mode"] == "single call")
    longest = max(streams, key=lambda r: r["text_s"])
    summary = {"long_vs_single_rtf": longest["rtf"] / single["rtf"]}
    at30 = [r for r in streams if r["text_s"] == 30]
    if at30 and longest is not at30[0]:
        summary["peak_rss_longest_vs_30s"] = longest["peak_rss_mb"] / at30[0]["peak_rss_mb"]
    return summary
