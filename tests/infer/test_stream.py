"""Streaming: the stream equals the non-streamed call, pieces come in order without gap or overlap, an early
stop frees every thread, the files written while streaming are valid at every flush, seams are smooth,
each text chunk is prompted by a bounded tail, and animate's windows generate every frame once."""
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import jamflow
from jamflow.infer import engine, runner, stream
from jamflow.infer.jobs import Job
from jamflow.infer.layout import chunk_frames, split_text
from jamflow.infer.prompt import clean_text
from jamflow.infer.settings import InferSettings
from jamflow.infer.stream_animate import generated_spans, window_spans
from jamflow.progress import Cancelled, watch

TEXT = ("One sentence here, with a clause in it. And a second one there. Then a third, a fourth "
        "and a fifth sentence, to make it long enough.")
DEMO_MOTION = Path(jamflow.__file__).parent / "assets" / "demo_context_motion.npy"
CHUNKED = dict(max_chunk_s=2.0, first_chunk_s=1.0, context_s=1.0)


def joined(pieces):
    return np.concatenate([p.wav for p in pieces]), np.concatenate([p.motion for p in pieces])


def assert_in_order(pieces, total_frames):
    start = 0
    for p in pieces:
        assert p.start == start  # no gap, no overlap
        assert len(p.wav) == len(p.motion) * 960
        assert p.frames is None or len(p.frames) == len(p.motion)
        start += len(p.motion)
    assert start == total_frames


def test_talk_stream_equals_talk_and_arrives_in_order(jam, fast):
    kw = dict(fast, **CHUNKED, motion_smoothing=1.5, head_scale=1.2)
    whole = jam.talk(TEXT, **kw)
    pieces = list(jam.talk_stream(TEXT, **kw))
    assert whole.chunks >= 3 and len(pieces) > whole.chunks
    assert_in_order(pieces, len(whole.motion))
    wav, motion = joined(pieces)
    np.testing.assert_array_equal(wav, whole.wav)
    np.testing.assert_allclose(motion, whole.motion, rtol=0, atol=1e-6)
    assert pieces[0].frames[0].dtype == np.uint8 and pieces[0].frames[0].ndim == 3
    sizes = [len(p.motion) for p in pieces]
    assert sizes[0] == stream.FIRST_PIECE_FRAMES and max(sizes[1:]) == 25  # a short first piece, then seconds


def test_the_first_item_is_made_in_the_callers_thread_then_sampling_runs_ahead():
    events = []

    def produce():
        for k in range(3):
            events.append((f"sampled {k}", threading.current_thread().name))
            yield k

    def finish(k):
        time.sleep(0.05)  # time enough for a producer that did not wait to sample the next item
        events.append((f"out {k}", threading.current_thread().name))
        yield k

    caller = threading.current_thread().name
    assert list(stream.pipeline(produce, finish)) == [0, 1, 2]
    names = [name for name, _ in events]
    assert names[:3] == ["sampled 0", "out 0", "sampled 1"]  # the first output had the CPU to itself
    assert names.index("sampled 2") < names.index("out 1")  # later items are sampled one ahead
    threads = dict(events)
    assert threads["sampled 0"] == caller and threads["sampled 1"] == threads["sampled 2"] != caller
    assert all(threads[f"out {k}"] == caller for k in range(3))


def test_a_stream_stopped_in_its_first_item_closes_its_producer():
    closed = []

    def produce():
        try:
            yield from range(3)
        finally:
            closed.append(True)

    baseline = threading.active_count()
    pieces = stream.pipeline(produce, lambda k: iter([k, k]))
    assert next(pieces) == 0
    pieces.close()
    assert closed == [True] and threading.active_count() == baseline


def test_tts_stream_yields_tuples_that_join_to_tts(jam, fast, ref_wav):
    kw = dict(fast, **CHUNKED)
    whole = jam.tts(TEXT, ref_wav[0], "A reference sentence.", **kw)
    items = list(jam.tts_stream(TEXT, ref_wav[0], "A reference sentence.", **kw))
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 and m.shape[1] == 70 for w, m in items)
    np.testing.assert_array_equal(np.concatenate([w for w, _ in items]), whole.wav)


def test_first_chunk_is_a_short_clause_and_chunks_keep_every_word():
    chunks = split_text(TEXT, budget=60, first_budget=20)
    assert chunks[0] == "One sentence here,"
    assert " ".join(chunks).split() == TEXT.split()
    assert split_text("Short text.", budget=60, first_budget=20) == ["Short text."]
    assert split_text(TEXT, budget=60) == split_text(TEXT, budget=60, first_budget=0)


def test_single_chunk_is_one_sampler_call_as_before(jam, fast, ref_wav):
    """A text that fits one chunk: the reference prompt, one sampler call, the vocoder; no tail, no split."""
    out = jam.tts("Just one short sentence.", ref_wav[0], "A reference sentence.", **fast)
    s = InferSettings(**fast)
    request = runner.TextRequest.for_tts(jam.engine, clean_text("Just one short sentence.", "gen_text"),
                                        np.asarray(ref_wav[0], np.float32), "A reference sentence.")
    gen = chunk_frames(request.prompt, [request.text], s.speed, s.fix_duration)[0]
    job = Job.continuing(request.prompt, request.text, gen, None, jam.engine.dims)
    res = jam.engine.sample([job], s)[0]
    wav = jam.engine.vocode(res.mel, job.frames)[request.prompt.frames * 960:]
    np.testing.assert_array_equal(out.wav, runner.restore_rms(wav, request.prompt.rms, s.target_rms))


def test_each_chunk_is_prompted_by_a_bounded_tail_of_whole_words(jam, fast, sampler_jobs):
    jobs = sampler_jobs
    jam.tts(TEXT, **fast, **CHUNKED)
    assert len(jobs) >= 3
    for before, job in zip(jobs, jobs[1:]):
        prompt_text, prompt_mel = job.parts[0]
        assert prompt_mel <= 1.0 * 93.75 + 1  # context_s = 1 s
        assert before.text.endswith(prompt_text) and before.text.split()[-len(prompt_text.split()):] == prompt_text.split()


def test_early_stop_joins_the_sampling_thread(jam, fast):
    baseline = threading.active_count()
    stream = jam.talk_stream(TEXT, **fast, **CHUNKED)
    next(stream)
    stream.close()
    assert threading.active_count() == baseline
    for _ in jam.tts_stream(TEXT, **fast, **CHUNKED):
        break  # a for loop left early: the generator is closed when dropped
    assert threading.active_count() == baseline


def test_cancel_from_a_watcher_reaches_the_caller_and_frees_the_thread(jam, fast):
    baseline = threading.active_count()
    seen = []

    def stop_in_second_chunk(stage, done, total):
        seen.append(stage)
        if stage == "chunks" and done == 2:  # the first chunk is sampled in this thread, the second not
            raise Cancelled("client went away")

    with pytest.raises(Cancelled), watch(stop_in_second_chunk):
        list(jam.talk_stream(TEXT, **fast, **CHUNKED))
    assert seen.count("chunks") == 2  # the caller's watcher saw the worker thread's steps
    assert threading.active_count() == baseline


def _windows(x, frames_per_window, seams, radius):
    """Every window of 2*radius motion frames (samples or frames of x) centred on a seam or clear of all
    seams: (is it centred on a seam, its values)."""
    per = len(x) // frames_per_window
    centres = list(seams) + [c for c in range(radius, per - radius) if all(abs(c - s) >= 2 * radius for s in seams)]
    return [(c in seams, x[(c - radius) * frames_per_window: (c + radius) * frames_per_window]) for c in centres]


def _seam_vs_interior(x, frames_per_window, seams, stat, radius=3):
    values = [(at_seam, stat(w)) for at_seam, w in _windows(x, frames_per_window, seams, radius)]
    seam = [v for at, v in values if at]
    inside = [v for at, v in values if not at]
    return min(seam), max(seam), min(inside), max(inside)


def _steady_sampler(jam):
    """A stand-in for the sampler whose content is steady: one fixed spectrum and motion that walks on
    smoothly from the last known frame, with known frames pasted back as the real one does. Whatever
    happens at a seam then comes from the stitching (tail prompt, re-rendered overlap, cross-fade, blend)."""
    from jamflow.infer.sampling import JobResult

    rng = np.random.default_rng(0)
    spectrum = torch.as_tensor(np.log(1e-3 + np.exp(-((np.arange(100) % 12) - 6.0) ** 2 / 4)), dtype=torch.float32)

    def generate(model, jobs, *a, **k):
        out = []
        for j in jobs:
            mel = torch.where(j.audio_known[:, None], j.mel, spectrum.expand(j.mel_len, 100))
            motion = j.motion.clone()
            for t in range(j.frames):
                if not j.motion_known[t]:
                    last = motion[t - 1] if t else torch.zeros(motion.shape[1])
                    motion[t] = last + torch.as_tensor(rng.normal(0, 0.05, motion.shape[1]), dtype=torch.float32)
            out.append(JobResult(mel, motion))
        return out

    return generate


class _LocalVocoder:
    """Like Vocos, the same mel gives the same wave wherever it sits in a call: a 250 Hz tone (10 periods per
    motion frame, so the phase agrees across calls cut on motion frames) at each mel frame's loudness."""

    def decode(self, mel):  # [b, 100, n] -> [b, n * 256]
        amp = mel.exp().mean(1).repeat_interleave(256, dim=-1)
        period = torch.arange(amp.shape[-1]) % 96  # 250 Hz = 96 samples: exact phase however long the call
        return 0.1 * amp * torch.sin(2 * np.pi * period / 96)


def test_seams_are_within_the_range_of_chunk_interiors(jam, fast, monkeypatch):
    """Around each seam (± 3 motion frames = 120 ms): the audio's energy and largest sample step (a click)
    and the motion's largest frame-to-frame speed (a jump) lie within their range over the chunk interiors.
    The audio is steady (one spectrum), so its interior range is narrow: 1% either side is allowed for
    rounding; a click or a fade dip is far more (a hard cut between two Griffin-Lim renderings: -30%)."""
    monkeypatch.setattr(engine, "generate", _steady_sampler(jam))
    monkeypatch.setattr(jam, "vocoder", _LocalVocoder())
    request = runner.TextRequest.for_tts(jam.engine, clean_text(TEXT, "gen_text"), None, None)
    stream = runner.TextStream(jam.engine, request, InferSettings(**fast, **CHUNKED))
    pieces = list(stream)
    wav, motion = np.concatenate([p.wav for p in pieces]), np.concatenate([p.motion for p in pieces])
    assert len(stream.seams) == stream.chunks - 1 >= 2
    energy = _seam_vs_interior(wav, 960, stream.seams, lambda w: float(np.mean(w ** 2)))
    step = _seam_vs_interior(wav, 960, stream.seams, lambda w: float(np.abs(np.diff(w)).max()))
    speed = _seam_vs_interior(motion, 1, stream.seams, lambda w: float(np.linalg.norm(np.diff(w, axis=0), axis=1).max()))
    for seam_lo, seam_hi, lo, hi in (energy, step):
        assert 0.99 * lo <= seam_lo and seam_hi <= 1.01 * hi
    seam_lo, seam_hi, lo, hi = speed
    assert seam_hi <= hi


def test_audio_crossfade_keeps_the_energy_of_unrelated_renderings():
    """Griffin-Lim renders the overlap again with new phases: a plain linear fade of two unrelated signals
    dips by up to 3 dB mid-seam, join_audio does not; for the same wave on both sides it is the linear fade."""
    from jamflow.infer.longform import join_audio, join_overlap

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20000).astype(np.float32), rng.normal(size=20000).astype(np.float32)
    n = 3840
    energy = lambda x: float(np.mean(x[20000 - n: 20000] ** 2))
    assert energy(join_overlap(a, b, n)) < 0.75 and 0.9 < energy(join_audio(a, b, n)) < 1.1
    same = np.concatenate([a[len(a) - n:], b[n:]])  # starts with a's last n samples
    np.testing.assert_allclose(join_audio(a, same, n), join_overlap(a, same, n), rtol=1e-5)


@pytest.mark.parametrize("seconds, window_s, overlap_s", [(0.3, 2, 0.5), (7.3, 2, 0.5), (31.0, 10, 1.0), (9.9, 3, 1.5)])
def test_animate_windows_generate_every_frame_once(seconds, window_s, overlap_s):
    s = InferSettings(window_s=window_s, window_overlap_s=overlap_s)
    total = int(np.ceil(seconds * 25))
    spans = window_spans(total, s)
    count = np.zeros(spans[-1][1], int)
    for a, b in generated_spans(spans):
        count[a:b] += 1
    assert (count == 1).all() and spans[-1][1] >= total


def test_animate_stream_equals_animate(jam, fast):
    rng = np.random.default_rng(0)
    wav = (0.1 * rng.standard_normal(24000 * 5 + 123)).astype(np.float32)
    kw = dict(fast, window_s=2.0, window_overlap_s=0.5)
    whole = jam.animate(wav, **kw)
    pieces = list(jam.animate_stream(wav, render=False, **kw))
    assert whole.chunks >= 3
    np.testing.assert_array_equal(np.concatenate([p.wav for p in pieces]), wav)
    np.testing.assert_array_equal(np.concatenate([p.motion for p in pieces]), whole.motion)
    assert [p.start for p in pieces] == list(np.cumsum([0] + [len(p.motion) for p in pieces[:-1]]))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe (Debian ffmpeg)")
def test_streamed_files_are_valid_after_every_flush(tmp_path):
    from jamflow.infer.stream_output import StreamFiles

    files = StreamFiles(tmp_path / "s", video=True)
    t = np.arange(24000) / 24000
    for k in range(4):  # four one-second pieces
        frames = [np.full((64, 96, 3), 40 * k + i, np.uint8) for i in range(25)]
        files.write((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), np.zeros((25, 70), np.float32), frames)
        assert sf.info(str(tmp_path / "s.wav")).frames == 24000 * (k + 1)
        if k:  # ffmpeg writes the fragment of second k-1 once second k's keyframe is in
            assert _probe_frames(tmp_path / "s.mp4", at_least=25 * k) >= 25 * k
    paths = files.close()
    assert _probe_frames(paths["video"], at_least=100) == 100
    assert len(np.load(paths["motion"])) == 100
    # frame k shows at k / 25 s: the AAC encoder's priming sits in an edit list, not in the video's timeline
    res = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                          "-of", "csv=p=0", str(paths["video"])], capture_output=True, text=True, check=True)
    np.testing.assert_allclose(sorted(map(float, res.stdout.split())), np.arange(100) / 25, atol=1e-3)


def _probe_frames(path, at_least: int, timeout: float = 20.0) -> int:
    """Video frames ffprobe decodes from a (possibly growing) file, polled until at_least or timeout."""
    deadline, frames = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        res = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                              "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip().isdigit():
            frames = int(res.stdout.strip())
            if frames >= at_least:
                return frames
        time.sleep(0.1)
    return frames


def test_closing_does_not_wait_on_ffmpeg_for_ever_when_the_audio_runs_past_the_video(tmp_path):
    """ffmpeg leaves the audio pipe unread once the audio is far ahead of the video, until it sees the
    video end: closing must end the video before it waits for the audio feeder (15 s of frames, then
    5 s of audio-only pieces)."""
    from jamflow.render.avatar import AvatarRenderer
    from jamflow.render.stream_video import FragmentedMp4Writer

    motion = np.load(DEMO_MOTION)
    frames = list(AvatarRenderer(size=64).frames(np.resize(motion, (375, motion.shape[1]))))
    writer = FragmentedMp4Writer(tmp_path / "long.mp4")

    def write_and_close():
        for i in range(0, 500, 25):
            writer.write(frames[i: i + 25], np.zeros(25 * 960, np.float32))
        writer.close()

    closer = threading.Thread(target=write_and_close, daemon=True)
    closer.start()
    closer.join(timeout=20)
    stuck = closer.is_alive()
    if stuck:
        writer.abort()  # frees the feeder thread and ffmpeg
    assert not stuck
    assert _probe_frames(tmp_path / "long.mp4", at_least=375) == 375


@pytest.mark.parametrize("size", [(64, 96), (63, 97)])  # even: handed over as YUV 4:2:0; odd: as RGB, padded
def test_streamed_video_keeps_the_frames_colours(tmp_path, size):
    from jamflow.render.stream_video import FragmentedMp4Writer
    from jamflow.render.video import read_video

    h, w = size
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:] = (40, 70, 120)  # the avatar's background tones
    frame[h // 4: h // 2, w // 4: w // 2] = (233, 190, 160)  # skin
    frame[h // 2:, w // 2:] = (196, 96, 98)  # lips
    writer = FragmentedMp4Writer(tmp_path / "colours.mp4")
    writer.write([frame] * 25, np.zeros(25 * 960, np.float32))
    writer.close()
    decoded = list(read_video(tmp_path / "colours.mp4"))
    got = decoded[5][:h, :w].astype(int)  # an odd size comes back padded by one row and column
    inner = lambda a: np.concatenate([a[h // 4 + 3: h // 2 - 3, w // 4 + 3: w // 2 - 3].reshape(-1, 3),
                                      a[h // 2 + 3:, w // 2 + 3:].reshape(-1, 3), a[:h // 4 - 3, :].reshape(-1, 3)])
    assert np.abs(inner(got) - inner(frame.astype(int))).mean() < 4  # a range or matrix mix-up is ~10-30 levels


def test_writer_reports_an_encoder_that_died_and_abort_frees_its_threads(tmp_path):
    """write() only queues a piece (feeder threads hand it to ffmpeg): once ffmpeg is gone, a later
    write must raise rather than queue for ever, and abort() must end both feeders."""
    from jamflow.render.stream_video import FragmentedMp4Writer

    writer = FragmentedMp4Writer(tmp_path / "dead.mp4")
    frames = [np.zeros((32, 32, 3), np.uint8)] * 25
    writer.write(frames, np.zeros(25 * 960, np.float32))
    writer.proc.kill()
    writer.proc.wait()
    with pytest.raises(RuntimeError, match="ffmpeg stopped early"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            writer.write(frames, np.zeros(25 * 960, np.float32))
            time.sleep(0.01)
    writer.abort()
    assert not writer.video.thread.is_alive() and not writer.audio.thread.is_alive()
    assert not (tmp_path / "dead.mp4").exists()


def test_stream_abort_removes_partial_files(tmp_path):
    from jamflow.infer.stream_output import StreamFiles

    files = StreamFiles(tmp_path / "a", video=True)
    files.write(np.zeros(960 * 5, np.float32), None, [np.zeros((32, 32, 3), np.uint8)] * 5)
    files.abort()
    assert list(tmp_path.iterdir()) == []


def test_talk_cli_stream_writes_wav_mp4_motion_and_prints_time_to_first_audio(capsys, tiny_ckpt, tmp_path):
    from jamflow.cli import main

    code = main(["talk", "--stream", "--ckpt", str(tiny_ckpt), "--gen_text", "Hello there, streamed from the CLI.",
                 "--nfe_step", "2", "--seed", "3", "--vocoder", "griffinlim", "--quiet", "--output_dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "first audio and video frame after" in out
    motion = np.load(tmp_path / "talk.npy")
    assert sf.info(str(tmp_path / "talk.wav")).frames == len(motion) * 960
    assert _probe_frames(tmp_path / "talk.mp4", at_least=len(motion)) == len(motion)


def test_animate_cli_stream_writes_the_given_audio_and_every_frame(capsys, tiny_ckpt, ref_wav, tmp_path):
    from jamflow.cli import main

    code = main(["animate", "--stream", "--ckpt", str(tiny_ckpt), "--audio", str(ref_wav[1]), "--window_s", "2",
                 "--window_overlap_s", "0.5", "--nfe_step", "2", "--seed", "3", "--quiet", "--output_dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    wav, sr = sf.read(tmp_path / "animate.wav", dtype="float32")
    np.testing.assert_allclose(wav, ref_wav[0], atol=1 / 32767)  # the input, as 16-bit PCM
    motion = np.load(tmp_path / "animate.npy")
    assert len(motion) == int(np.ceil(len(ref_wav[0]) / 960))
    assert _probe_frames(tmp_path / "animate.mp4", at_least=len(motion)) == len(motion)


@pytest.mark.parametrize("cross_fade_s", [0.16, 0.2])
def test_vocoding_only_the_kept_part_of_a_chunk_stays_aligned(jam, fast, monkeypatch, cross_fade_s):
    """Chunks after the first vocode their prompt only from VOCODER_CONTEXT before the kept audio: with a
    local vocoder the result is the one of vocoding the whole timeline, sample for sample."""
    monkeypatch.setattr(jam, "vocoder", _LocalVocoder())
    s = InferSettings(**fast, **CHUNKED, cross_fade_s=cross_fade_s)
    run = lambda: np.concatenate([p.wav for p in runner.TextStream(jam.engine, runner.TextRequest.for_tts(
        jam.engine, clean_text(TEXT, "gen_text"), None, None), s)])
    trimmed = run()
    monkeypatch.setattr(runner, "VOCODER_CONTEXT", 10**6)
    np.testing.assert_allclose(trimmed, run(), rtol=0, atol=1e-6)


def test_a_stream_slower_than_real_time_gets_a_note_naming_the_faster_choices_not_taken():
    from jamflow.commands.common import realtime_note

    assert realtime_note(10.0, 9.0, fast=False, vocoder="HiFi-GAN") is None
    note = realtime_note(10.0, 13.4, fast=False, vocoder="HiFi-GAN")
    assert note.startswith("note: the stream ran slower than real time (RTF 1.34)")
    assert note.endswith("--fast and --vocoder harmonic would be faster")
    assert realtime_note(10.0, 13.4, fast=True, vocoder="Harmonic").endswith("would stall")
    assert realtime_note(10.0, 13.4, fast=True, vocoder="Griffin-Lim").endswith("; --vocoder harmonic would be faster")
    assert realtime_note(10.0, 13.4, fast=True, vocoder="HiFi-GAN").endswith("; --vocoder harmonic would be faster")
    assert realtime_note(10.0, 13.4, fast=False, vocoder=None).endswith("; --fast would be faster")  # animate
