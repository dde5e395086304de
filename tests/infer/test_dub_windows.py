"""Dub in windows: the windows speak every motion frame once, every word once and in order, words are
cut where the lips pause, a long dub has the motion's length, a short one is the one-pass dub, and
the seams keep the audio's energy."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from jamflow.audio.tokenizers import ByteTokenizer
from jamflow.infer import dub_windows, engine
from jamflow.infer.dub_windows import DubPlan, choose_cut, dub_spans
from jamflow.infer.jobs import Job
from jamflow.infer.prompt import clean_text, grid, reference_prompt
from jamflow.infer.runner import restore_rms
from jamflow.infer.sampling import JobResult
from jamflow.infer.settings import InferSettings

TEXT = ("One sentence here, with a clause in it. And a second one there. Then a third, a fourth "
        "and a fifth sentence, to make it long enough.")
WINDOWS = dict(window_s=2.0, window_overlap_s=0.5)  # 52 frames a window, 16 of overlap


def lips(frames: int, seed: int = 0) -> np.ndarray:
    """Motion [frames, 70] that wanders a little, its mouth opening and closing about 4 times a second."""
    rng = np.random.default_rng(seed)
    motion = (0.01 * rng.standard_normal((frames, 70))).cumsum(0).astype(np.float32)
    motion[:, 17 * 3 + 1] += 0.05 * (1 + np.sin(2 * np.pi * 4 * np.arange(frames) / 25))  # lower lip down: open
    return motion


def speaks(windows) -> np.ndarray:
    """How many windows speak each frame of the grid-padded motion."""
    count = np.zeros(windows[-1].end, int)
    for w in windows:
        count[w.start: w.end] += 1
    return count


@pytest.mark.parametrize("frames", [30, 52, 53, 100, 156, 183, 1000])  # < 1 window; = 52; 2 x window_s; 3 x 52
def test_windows_speak_every_motion_frame_exactly_once(jam, frames):
    s = InferSettings(**WINDOWS)
    spans = dub_spans(frames, s)
    assert spans[0][0] == 0 and spans[-1][1] == grid(frames) >= frames
    assert all(b - a <= 52 for a, b in spans)  # never longer than window_s
    assert all(before[1] - after[0] == 16 for before, after in zip(spans, spans[1:]))  # overlap exactly
    assert (len(spans) == 1) == (grid(frames) <= 52)
    for windows in ([*DubPlan(jam.engine, TEXT, lips(frames), s).windows()],  # cut at words
                    [*DubPlan(jam.engine, "", lips(frames), s).windows()]):  # no words: cut mid-overlap
        assert len(windows) == len(spans)
        assert (speaks(windows) == 1).all()
        assert all(w.start % 4 == 0 and w.end > w.start for w in windows)
        for before, after, w in zip(spans, spans[1:], windows[1:]):
            assert after[0] <= w.start <= before[1]  # each cut inside its overlap


@pytest.mark.parametrize("frames, settings", [(183, WINDOWS), (400, dict(window_s=3.0, window_overlap_s=1.5)),
                                              (300, dict(window_s=2.0, window_overlap_s=0.0))])
def test_every_word_lands_in_exactly_one_window_in_order(jam, frames, settings):
    windows = list(DubPlan(jam.engine, TEXT, lips(frames), InferSettings(**settings)).windows())
    assert len(windows) >= 3
    assert " ".join(w.text for w in windows if w.text).split() == TEXT.split()
    assert sum(len(w.text.split()) for w in windows) == len(TEXT.split())


def runs_layout(model, tokenizer, text, lips, part_mel, voice=None):
    """A stand-in for the lip layout that is always right, for texts of "aa" words: word i is spoken on the
    i-th opening of the mouth (its two tokens share it) and the spaces take the gaps; words beyond the
    openings take the last mel frames. -> durations [nt + 2] (lead, tokens, trail), like dub_durations."""
    opening = np.diff(np.r_[0, (lips[:, 17 * 3 + 1] > 0).astype(int), 0])
    runs = [(round(a * 3.75), round(b * 3.75)) for a, b in zip(np.flatnonzero(opening == 1),
                                                               np.flatnonzero(opening == -1))]
    n = len(text.split())
    spans = [runs[i] if i < len(runs) else (part_mel - 2 * (n - i), part_mel - 2 * (n - i) + 2) for i in range(n)]
    d = [spans[0][0]]
    for i, (a, b) in enumerate(spans):
        d += [(a + b) // 2 - a, b - (a + b) // 2] + ([spans[i + 1][0] - b] if i + 1 < n else [])
    return np.array(d + [part_mel - spans[-1][1]])


def test_the_cut_falls_in_the_pause_the_lips_make_not_where_the_characters_would_put_it(monkeypatch):
    """Ten quick words, the lips shut over frames [59, 76) inside the first overlap [56, 84], then twelve slow
    words: by characters the boundary after the tenth word would be at frame 91; the plan takes the words'
    places from the lip layout and cuts in the pause's middle, after the tenth word."""
    motion = np.zeros((200, 70), np.float32)
    for start, length in [(2 + 6 * i, 3) for i in range(10)] + [(76 + 10 * i, 5) for i in range(12)]:
        motion[start: start + length, 17 * 3 + 1] = 0.05  # the lower lip down: the mouth open
    text = " ".join(["aa"] * 22)
    monkeypatch.setattr(dub_windows, "dub_durations", runs_layout)
    table = {"frames_per_token": [5.0] * 256, "lead_frames": 4.0, "trail_frames": 4.0}
    layout = SimpleNamespace(model=SimpleNamespace(cfg=SimpleNamespace(audio=SimpleNamespace(text_durations=table)),
                                                   duration_predictor=None), tokenizer=ByteTokenizer())
    s = InferSettings(window_s=4.0, window_overlap_s=1.0)
    assert dub_spans(200, s)[:2] == [(0, 84), (56, 144)]
    first = next(DubPlan(layout, text, motion, s).windows())
    assert (first.end, len(first.text.split())) == (68, 10)
    even = SimpleNamespace(model=SimpleNamespace(cfg=SimpleNamespace(audio=SimpleNamespace(text_durations=None))),
                           tokenizer=ByteTokenizer())  # no lip layout: the tokens spread evenly
    assert len(next(DubPlan(even, text, motion, s).windows()).text.split()) < 10


def test_a_cut_prefers_the_longest_pause_inside_the_overlap_else_its_middle():
    # (words before, frame, pause)
    bounds = [(1, 8, 3.0), (2, 16, 6.0), (3, 24, 1.0), (4, 28, 6.0), (5, 32, 2.0), (6, 44, 9.0)]
    assert choose_cut(bounds, 16, 32) == (28, 4)  # the longest pause inside (6.0 twice: the one nearer 24)
    assert choose_cut([(1, 8, 3.0), (2, 40, 1.0)], 16, 32) == (24, 1)  # none inside: the middle, 1 word before


def test_a_long_dub_has_the_motions_length_and_bounded_sampler_calls(jam, fast, ref_wav, sampler_jobs):
    jobs = sampler_jobs
    motion = lips(183)  # 7.3 s: five windows of 2 s
    out = jam.dub(TEXT, motion, ref_wav[0], "A reference sentence.", **fast, **WINDOWS)
    assert out.chunks == len(dub_spans(183, InferSettings(**WINDOWS))) == len(jobs) == 5
    assert len(out.wav) == 183 * 960 and out.wav.dtype == np.float32 and np.isfinite(out.wav).all()
    assert np.abs(out.wav).max() > 0
    np.testing.assert_array_equal(out.motion, motion)
    ref_frames = reference_prompt(jam.engine, ref_wav[0], "A reference sentence.", None).frames
    assert jobs[0].frames <= ref_frames + 52
    for job in jobs[1:]:  # a window's timeline: its own <= 52 frames after a prompt of at most the overlap
        assert job.frames - 52 <= round(job.parts[0][1] / 3.75) <= 16
        assert job.motion_known[:-1].all()  # the prompt's lips and the window's: all given
    assert [bool(j.motion_known[-1]) for j in jobs[1:]] == [True, True, True, False]  # the grid's padding is not


def test_a_window_where_no_word_starts_is_silence(jam, fast, monkeypatch):
    """The second window given no words: it is silence (the first fading out into it), the third continues
    the first's voice, and the audio keeps the motion's length."""
    real = dub_windows.choose_cut
    seams = []

    def second_window_silent(bounds, lo, hi):
        cut, n = real(bounds, lo, hi)
        seams.append(cut)
        return (cut, 0) if len(seams) == 2 else (cut, n)

    monkeypatch.setattr(dub_windows, "choose_cut", second_window_silent)
    out = dub_windows.run_dub(jam.engine, clean_text(TEXT, "gen_text"), lips(183), None, None,
                              InferSettings(**fast, **WINDOWS))
    assert list(out.seams) == seams and len(out.wav) == 183 * 960 and np.isfinite(out.wav).all()
    a, b = seams[0] * 960, seams[1] * 960
    assert out.wav[:a].any() and not out.wav[a:b].any() and out.wav[b:].any()


def one_pass_as_it_was(jam, text, motion, ref_wav, ref_text, s):
    """The one-pass dub: the reference, then the text over the whole motion, one sampler call."""
    e = jam.engine
    prompt = reference_prompt(e, ref_wav, ref_text, None)
    frames, gen = len(motion), grid(len(motion))
    held = np.concatenate([motion, np.repeat(motion[-1:], gen - frames, 0)])
    job = Job.for_dub(prompt, text, gen, *e.codec.normalize(held), given=frames)
    res = e.sample([job], s)[0]
    wav = e.vocode(res.mel, job.frames)[prompt.frames * 960: (prompt.frames + frames) * 960]
    return restore_rms(wav, prompt.rms, s.target_rms)


@pytest.mark.parametrize("frames", [45, 52])  # inside one window; exactly one window
def test_a_dub_within_one_window_is_the_one_pass_dub(jam, fast, ref_wav, sampler_jobs, frames):
    jobs = sampler_jobs
    motion, text = lips(frames, seed=1), "These words fit the lips."
    out = jam.dub(text, motion, ref_wav[0], "A reference sentence.", **fast, **WINDOWS)
    assert len(jobs) == 1 and out.chunks == 1
    want = one_pass_as_it_was(jam, text, motion, ref_wav[0], "A reference sentence.", InferSettings(**fast))
    np.testing.assert_array_equal(out.wav, want)


def _steady_generate(model, jobs, *a, **k):
    """A stand-in for the sampler with steady content: one fixed spectrum where the audio is unknown, known
    frames pasted back as the real sampler does. What happens at a seam then comes from the windows."""
    spectrum = torch.as_tensor(np.log(1e-3 + np.exp(-((np.arange(100) % 12) - 6.0) ** 2 / 4)), dtype=torch.float32)
    return [JobResult(torch.where(j.audio_known[:, None], j.mel, spectrum.expand(j.mel_len, 100)), j.motion.clone())
            for j in jobs]


class _LocalVocoder:
    """Like Vocos, the same mel gives the same wave wherever it sits in a call: a 250 Hz tone at each mel
    frame's loudness (10 periods a motion frame, so calls cut on motion frames agree in phase)."""

    def decode(self, mel):  # [b, 100, n] -> [b, n * 256]
        amp = mel.exp().mean(1).repeat_interleave(256, dim=-1)
        return 0.1 * amp * torch.sin(2 * np.pi * (torch.arange(amp.shape[-1]) % 96) / 96)


def _seam_vs_interior(wav, seams, stat, radius=3):
    """(min, max) of stat over the windows of +- radius motion frames centred on each seam, and over
    those clear of every seam."""
    frames = len(wav) // 960
    inside = [c for c in range(radius, frames - radius) if all(abs(c - s) >= 2 * radius for s in seams)]
    at = lambda c: stat(wav[(c - radius) * 960: (c + radius) * 960])
    seam, interior = [at(c) for c in seams], [at(c) for c in inside]
    return min(seam), max(seam), min(interior), max(interior)


class _NoiseVocoder:
    """Like Griffin-Lim, every call draws new phases: white noise at each mel frame's loudness, new per call."""

    def __init__(self):
        self.generator = torch.Generator().manual_seed(0)

    def decode(self, mel):  # [b, 100, n] -> [b, n * 256]
        amp = mel.exp().mean(1).repeat_interleave(256, dim=-1)
        return 0.1 * amp * torch.randn(amp.shape, generator=self.generator)


class _PhaseVocoder:
    """The tone of _LocalVocoder, its phase 30 degrees ahead in one call and behind in the next: consecutive
    calls render the same mel 60 degrees apart, so a hard cut between them is a click, a cross-fade is not."""

    def __init__(self):
        self.calls = 0

    def decode(self, mel):
        self.calls += 1
        amp = mel.exp().mean(1).repeat_interleave(256, dim=-1)
        phase = np.pi / 6 * (-1) ** self.calls
        return 0.1 * amp * torch.sin(2 * np.pi * (torch.arange(amp.shape[-1]) % 96) / 96 + phase)


@pytest.mark.parametrize("vocoder", [_LocalVocoder, _PhaseVocoder, _NoiseVocoder])
def test_seams_keep_the_energy_of_the_window_interiors(jam, fast, monkeypatch, vocoder):
    """Around each seam (+- 3 frames) the audio's energy lies within its range over the window interiors
    (1% either side for rounding), and with a tonal vocoder so does its largest sample step (a click). The
    content is steady, so the interiors' range is narrow: a gap, a doubled overlap or a hard cut between
    two renderings out of phase is far outside it, and so is a plain linear fade between two renderings
    with unrelated phases (the noise vocoder: up to 3 dB down mid-seam)."""
    monkeypatch.setattr(engine, "generate", _steady_generate)
    monkeypatch.setattr(jam, "vocoder", vocoder())
    out = dub_windows.run_dub(jam.engine, clean_text(TEXT, "gen_text"), lips(183), None, None,
                              InferSettings(**fast, **WINDOWS))
    cuts = [w.start for w in DubPlan(jam.engine, clean_text(TEXT, "gen_text"), lips(183),
                                     InferSettings(**WINDOWS)).windows()][1:]
    assert len(out.wav) == 183 * 960 and list(out.seams) == cuts and len(cuts) >= 3  # the audio's seams are the cuts
    checks = [lambda w: float(np.mean(w ** 2))]
    if vocoder is not _NoiseVocoder:
        checks.append(lambda w: float(np.abs(np.diff(w)).max()))
    for stat in checks:
        seam_lo, seam_hi, lo, hi = _seam_vs_interior(out.wav, out.seams, stat)
        assert 0.99 * lo <= seam_lo and seam_hi <= 1.01 * hi, (seam_lo, seam_hi, lo, hi)
