"""Dub: speech for a text timed to given motion, of any length, in overlapping windows.

Windows (`dub_spans`). The motion, padded to the 4-frame grid, is covered by the fewest windows of at
most `window_s` that overlap by exactly `window_overlap_s`, spread evenly (so no last window is a
sliver). A motion that fits one window is dubbed in one pass (`one_pass`). Otherwise each overlap
holds one cut, and window k speaks the frames from its cut to the next one (`DubWindow`): the
windows' own frames cover the motion once, without gap or overlap.

Text (`DubPlan`). A window speaks the words that start on its lips. Where a word starts is the dub
layout (`layout.dub_durations`: the phones segmented over the mouth's opening) of the stretch from
the window's cut to the end of the next window, over as many of the remaining words as the stretch's
share of the remaining speech puts there (`speech_weights`: frames weighted by how fast the mouth
moves, so that still lips hold few words; the layout needs about the right words to place them
well). One layout of the whole motion would hold T x tokens scores (gigabytes for ten minutes). The
cut goes to the word boundary inside the overlap after the longest pause between two words' sounds
(marks and spaces included; ties: the one nearest the overlap's middle), so that windows meet where
little is said. With no word boundary inside the overlap the cut is the overlap's middle, and each
word goes to the window it starts in. Without a lip layout (a model without a durations table, lips
that do not move) the stretch's tokens are spread evenly, as such a model lays out its own text.

Speech (`run_dub`). Window 0 continues the reference; window k continues window k-1's last whole
words (`runner.tail_prompt`, at most `window_overlap_s`): their audio, their text and the given lips
under them are known, and window k's own words are laid out over its own lips as in one pass. Window
k re-renders the last `cross_fade_s` of that prompt and the audio is cross-faded there
(`longform.Stitcher`, as long text is). A window on whose lips no word starts is silence, the speech
before it fading out into it. Only the current window's tensors, the next prompt and the cross-fade
tail are held from one window to the next; the audio is kept as numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from tqdm import tqdm

from jamflow.errors import UserError
from jamflow.infer.jobs import Job
from jamflow.infer.layout import check_rate, dub_durations, known_voice
from jamflow.infer.longform import Piece, Stitcher, seconds_to_frames
from jamflow.infer.prompt import GRID, Prompt, grid, reference_prompt
from jamflow.infer.runner import VOCODER_CONTEXT, restore_rms, tail_prompt
from jamflow.infer.settings import InferSettings
from jamflow.model.duration_predictor import voice_features
from jamflow.motion.mouth import mouth_aperture
from jamflow.progress import report
from jamflow.timeline import MEL_PER_MOTION, MOTION_FPS, mel_frames_for

STILL_WEIGHT = 0.05  # a frame of still lips holds this much of an average frame's words


@dataclass
class DubWindow:
    start: int  # its cut: the first motion frame it speaks over
    end: int  # the next window's cut (the grid-padded motion length for the last window)
    text: str  # the words that start on its lips; "" = none (silence)


def dub_spans(frames: int, s: InferSettings) -> list[tuple[int, int]]:
    """[(start, end)] windows over a motion of `frames`, padded to the grid: at most `window_s` each,
    consecutive ones overlapping by exactly `window_overlap_s` (both on the grid), spread evenly."""
    total = grid(frames)
    window = grid(s.window_s * MOTION_FPS)
    overlap = min(grid(s.window_overlap_s * MOTION_FPS), window // 2 // GRID * GRID) if s.window_overlap_s > 0 else 0
    if total <= window:
        return [(0, total)]
    count = math.ceil((total - overlap) / (window - overlap))
    stride = (total - overlap) / count  # <= window - overlap, so no window is longer than `window`
    starts = [GRID * round(k * stride / GRID) for k in range(count)]
    return [(a, b + overlap) for a, b in zip(starts, starts[1:])] + [(starts[-1], total)]


class DubPlan:
    """Which frames and words each window speaks. `windows()` yields the DubWindows in order, laying
    out each seam's stretch only when its window comes (a long plan holds nothing ahead)."""

    def __init__(self, engine, text: str, motion: np.ndarray, s: InferSettings, voice=None):
        self.engine, self.motion, self.voice = engine, motion, voice  # voice: the duration predictor's, or None
        self.words = text.split()
        self.spans = dub_spans(len(motion), s)
        self.speech = np.concatenate([[0.0], np.cumsum(speech_weights(motion))])  # [T + 1] speech before each frame

    def windows(self) -> Iterator[DubWindow]:
        spans, frames = self.spans, len(self.motion)
        start, first = 0, 0  # the current window's cut, and its first word
        for k in range(1, len(spans)):
            lo, hi = max(spans[k][0], start + GRID), spans[k - 1][1]  # the overlap (at least a grid step on)
            end = min(frames, spans[k][1])
            rest = self.words[first:]
            last = end >= frames
            share = (self.speech[end] - self.speech[start]) / (self.speech[frames] - self.speech[start])
            count = len(rest) if last or not rest else _words_in(rest, share)
            cut, n = choose_cut(self.boundaries(rest[:count], start, end, last), lo, hi)
            yield DubWindow(start, cut, " ".join(rest[:n]))
            start, first = cut, first + n
        yield DubWindow(start, grid(frames), " ".join(self.words[first:]))

    def boundaries(self, words: list[str], start: int, end: int, last: bool) -> list[tuple[int, int, float]]:
        """(j, frame, pause) per word boundary of `words` laid out over the motion [start, end): the
        first j words come before motion `frame` (on the grid, the pause's middle), after `pause` mel
        frames without a sound. `last`: the words end the text (the boundary after them counts too)."""
        if not words:
            return []
        tokenizer, model = self.engine.tokenizer, self.engine.model
        text = " ".join(words)
        tokens, ids = tokenizer.tokenize(text), list(tokenizer.encode(text))  # one id per token
        lips = self.motion[start:end]
        mel = mel_frames_for(len(lips))
        durations = None
        if model.cfg.audio.text_durations is not None:
            durations = dub_durations(model, tokenizer, text, lips, mel, self.voice)  # [nt + 2] or None
        # edges[i]: the mel frame where token i starts (edges[nt]: where the last one ends)
        edges = np.linspace(0, mel, len(tokens) + 1) if durations is None else np.cumsum(durations)[:-1]
        sound = [i for i, t in enumerate(tokens) if _is_sound(t)]
        out = []
        for j in range(len(words) + (1 if last else 0)):
            p = _prefix_tokens(tokenizer, words, j, ids)
            if p is None:
                continue  # the tokenizer joins across this word gap: no clean cut here
            before, after = [i for i in sound if i < p], [i for i in sound if i >= p]
            quiet_from = float(edges[before[-1] + 1]) if before else 0.0
            quiet_to = float(edges[after[0]]) if after else float(mel)
            frame = start + GRID * round((quiet_from + quiet_to) / 2 / MEL_PER_MOTION / GRID)
            out.append((j, frame, round(quiet_to - quiet_from, 2)))  # rounded: even spreads tie exactly
        return out


def choose_cut(bounds: list[tuple[int, int, float]], lo: int, hi: int) -> tuple[int, int]:
    """-> (cut frame, words before it): the boundary in [lo, hi] after the longest pause (ties: the one
    nearest the middle), else the middle of [lo, hi] with the words whose boundary comes before it."""
    mid = (lo + hi) / 2
    inside = [(pause, -abs(frame - mid), j, frame) for j, frame, pause in bounds if lo <= frame <= hi]
    if inside:
        _, _, j, frame = max(inside)
        return frame, j
    cut = GRID * round(mid / GRID)
    return cut, max([j for j, frame, _ in bounds if frame <= cut], default=0)


def speech_weights(motion: np.ndarray) -> np.ndarray:
    """[T] how much each frame of motion [T, 70] looks like speech: how fast the mouth's opening changes
    (over a 0.44 s box), relative to the clip's mean; still lips count a twentieth of an average frame."""
    aperture = mouth_aperture(motion)
    change = np.convolve(np.abs(np.diff(aperture, prepend=aperture[:1])), np.ones(11) / 11, mode="same")
    mean = change.mean()
    return (change / mean if mean > 0 else np.ones_like(change)) + STILL_WEIGHT


def _words_in(words: list[str], fraction: float) -> int:
    """How many of `words` hold `fraction` of their characters (at least one)."""
    ends = np.cumsum([len(w) + 1 for w in words])
    return min(len(words), max(1, int(np.searchsorted(ends, fraction * ends[-1])) + 1))


def _prefix_tokens(tokenizer, words: list[str], j: int, ids: list[int]) -> int | None:
    """The tokens of the first j words, when they are exactly the first tokens of all the words."""
    if j in (0, len(words)):
        return 0 if j == 0 else len(ids)
    try:
        head = list(tokenizer.encode(" ".join(words[:j])))
    except UserError:  # e.g. a char vocabulary that knows none of these characters
        return None
    return len(head) if ids[: len(head)] == head else None


def _is_sound(token: str) -> bool:
    """A token spoken as a sound (a letter or digit; IPA stress and length marks are not)."""
    return token.isdigit() or (len(token) == 1 and token.lower().isalpha() and token not in "ˈˌːˑ")


# ---------------------------------------------------------------------------------------------
# speech


def run_dub(engine, text: str, motion: np.ndarray, ref_wav: np.ndarray | None, ref_text, s: InferSettings) -> Piece:
    """Speech for `text` timed to the given motion [T, 70] (returned unchanged): wav [T * 960]."""
    prompt = reference_prompt(engine, ref_wav, ref_text, None)
    check_rate(text, len(motion), "motion")
    if len(dub_spans(len(motion), s)) == 1:
        return one_pass(engine, text, motion, prompt, s)
    return in_windows(engine, text, motion, prompt, s)


def one_pass(engine, text: str, motion: np.ndarray, prompt: Prompt, s: InferSettings) -> Piece:
    """One sampler call: the reference, then the text over the whole motion [T, 70]."""
    frames = len(motion)
    job = window_job(engine, prompt, DubWindow(0, grid(frames), text), motion)
    res = engine.sample([job], s)[0]
    spm = engine.timeline.samples_per_motion
    wav = engine.vocode(res.mel, job.frames)[prompt.frames * spm: (prompt.frames + frames) * spm]
    return Piece(restore_rms(wav, prompt.rms, s.target_rms), motion, motion_given=True)


def window_job(engine, prompt: Prompt, win: DubWindow, motion: np.ndarray) -> Job:
    """The sampler job of one window: `prompt`, then the window's words over its lips."""
    lips = motion[win.start: min(len(motion), win.end)]  # [f, 70] the given motion it speaks over
    gen = win.end - win.start
    held = np.concatenate([lips, np.repeat(lips[-1:], gen - len(lips), 0)])  # the grid's padding holds the last frame
    job = Job.for_dub(prompt, win.text, gen, *engine.codec.normalize(held), given=len(lips))
    model = engine.model
    if model.cfg.audio.text_durations is not None:
        voice = known_voice(job) if model.duration_predictor is not None else None
        job.last_durations = dub_durations(model, engine.tokenizer, win.text, lips,
                                           mel_frames_for(job.frames) - mel_frames_for(prompt.frames), voice)
    return job


def in_windows(engine, text: str, motion: np.ndarray, ref: Prompt, s: InferSettings) -> Piece:
    """Window by window (`DubPlan`), each prompted by the one before, the seams cross-faded."""
    spm, xf = engine.timeline.samples_per_motion, seconds_to_frames(s.cross_fade_s)
    model = engine.model
    voice = None
    if model.cfg.audio.text_durations is not None and model.duration_predictor is not None and ref.frames:
        voice = voice_features(ref.mel)  # the reference's: later windows' voices are not known yet
    plan = DubPlan(engine, text, motion, s, voice)
    stitcher, out = Stitcher(hold=xf), []
    prompt, chained = ref, False  # chained: `prompt` is the tail of the window just before
    count = len(plan.spans)
    bar = tqdm(total=count, desc="windows", unit="win", disable=not engine.progress)
    for k, win in enumerate(plan.windows()):
        if win.text:
            overlap = min(xf, prompt.frames) if chained else 0
            wav, prompt = speak(engine, prompt, win, motion, overlap, ref.rms, s)
            chained = True
        else:  # no word starts on these lips: silence, into which the speech before fades
            overlap = xf if chained else 0
            wav, chained = np.zeros((win.end - win.start + overlap) * spm, np.float32), False
        done = stitcher.add(Piece(wav, None), overlap)
        if done is not None:
            out.append(done.wav)
        bar.update(1)
        report("windows", k + 1, count)
    bar.close()
    tail = stitcher.finish()
    wav = np.concatenate(out + ([] if tail is None else [tail.wav]))[: len(motion) * spm]
    return Piece(wav, motion, chunks=count, seams=tuple(stitcher.seams), motion_given=True)


def speak(engine, prompt: Prompt, win: DubWindow, motion: np.ndarray, overlap: int, ref_rms: float | None,
          s: InferSettings) -> tuple[np.ndarray, Prompt]:
    """One window -> (its audio [(overlap + frames) * 960] from `overlap` frames before its cut, the
    next window's prompt). The window's tensors go out of scope on return."""
    job = window_job(engine, prompt, win, motion)
    res = engine.sample([job], s)[0]
    start = prompt.frames - overlap  # the first frame kept: the re-rendered end of the prompt
    v0 = max(0, (start - VOCODER_CONTEXT) // GRID * GRID)  # the prompt before it only as the vocoder's context
    wav = engine.vocode(res.mel[mel_frames_for(v0):], job.frames - v0)
    wav = restore_rms(wav, ref_rms, s.target_rms)[(start - v0) * engine.timeline.samples_per_motion:]
    return wav, tail_prompt(engine, job, res, s.window_overlap_s)
