"""The tasks (tts/talk, animate, edit) as flows of jobs through the engine: long text in chunks, long
audio in windows, edit of spans (dub over given lips, in windows: `infer/dub_windows.py`). Each returns
the final audio/motion as a `longform.Piece`; the API checks the arguments before and writes the files
after.

Lengths are counted in motion frames on the `GRID` of `infer/prompt.py`, which also turns the
user's reference into the known prefix (`Prompt`); how long a text is spoken and where it splits is
`infer/layout`.

Long text (tts/talk): the text is split into sentence chunks of about `max_chunk_s` seconds, the
first one optionally a short clause (`first_chunk_s`, for streaming). Chunk 0 continues the
reference (or starts from nothing). With `chunk_prompt="previous"` (default) chunk k continues the
tail of what came before: the last whole words, at most `context_s` seconds, of audio, motion and
text (`tail_prompt`), so voice, prosody and head motion carry over at a bounded cost per
call; the last `cross_fade_s` of chunk k-1 is re-rendered by chunk k and cross-faded (no content is
duplicated or lost). With `"reference"` every chunk continues the reference, and chunks are
cross-faded F5-style (each seam overlaps by `cross_fade_s`). `TextStream` samples in a worker thread
ahead of the vocoder (`infer/stream.py`); `run_text` collects it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from jamflow.errors import UserError
from jamflow.progress import report
from jamflow.infer.jobs import Job
from jamflow.infer.layout import check_rate, chunk_char_budget, chunk_frames, split_text, token_start_frames
from jamflow.infer.longform import Piece, Stitcher, concat_pieces, seconds_to_frames
from jamflow.infer.prompt import GRID, Prompt, clean_text, reference_prompt
from jamflow.infer.sampling import JobResult
from jamflow.infer.settings import InferSettings
from jamflow.timeline import mel_frames_for

MAX_JOB_S = 60.0  # longest single sampler call (prompt + generated); longer work is chunked/windowed
VOCODER_CONTEXT = 8  # motion frames (0.32 s, 30 mel frames) vocoded before a chunk's kept audio, for context
SENTENCE_END, CLAUSE_END = tuple(".!?"), tuple(",;:")


# ---------------------------------------------------------------------------------------------
# text -> speech (+ motion), chunk by chunk


@dataclass
class TextRequest:
    """A text to speak after a reference: what tts and talk hand the chunk loop."""

    text: str  # normalised (prompt.clean_text)
    prompt: Prompt  # the reference (frames 0 when none)
    context_motion: np.ndarray | None  # denormalised [T, 70] for context channels; None = neutral

    @classmethod
    def for_tts(cls, engine, text: str, ref_wav: np.ndarray | None, ref_text) -> "TextRequest":
        return cls(text, reference_prompt(engine, ref_wav, ref_text, None), None)

    @classmethod
    def for_talk(cls, engine, text: str, ref_wav: np.ndarray | None, ref_text, ref_motion: np.ndarray | None,
                 context_motion: np.ndarray | None) -> "TextRequest":
        """`context_motion` None: the reference motion's context channels are looped (neutral without one)."""
        return cls(text, reference_prompt(engine, ref_wav, ref_text, ref_motion),
                   ref_motion if context_motion is None else context_motion)


@dataclass
class SampledChunk:
    """One chunk's sampler output, handed from the sampling thread to the one that vocodes and stitches."""

    index: int
    job: Job  # the prompt + the chunk
    result: JobResult
    start: int  # first motion frame of the job's output that is kept (the seam's overlap included)
    overlap: int  # frames of that start that re-render the end of the previous chunk


class TextStream:
    """Iterate the final audio/motion pieces of a long text as soon as each is ready (streaming): a
    worker thread samples chunk k+1 while this one vocodes and stitches chunk k (`infer/stream.py`).
    `chunks` is known on construction, `seams` once the iteration has finished."""

    def __init__(self, engine, request: TextRequest, s: InferSettings):
        self.engine, self.request, self.s = engine, request, s
        prompt = request.prompt
        self.budget = chunk_char_budget(prompt.text, prompt.frames, s.max_chunk_s, s.speed)
        first = chunk_char_budget(prompt.text, prompt.frames, s.first_chunk_s, s.speed) if s.first_chunk_s else 0
        self.texts = split_text(request.text, self.budget, first)
        self.frames = chunk_frames(prompt, self.texts, s.speed, s.fix_duration)
        if s.fix_duration is not None:
            check_rate(request.text, sum(self.frames), "fix_duration")
        for chunk, f in zip(self.texts, self.frames):
            if f / engine.timeline.motion_fps > MAX_JOB_S:
                raise UserError(f"fix_duration: expected at most ~{MAX_JOB_S:.0f} s per {self.budget}-character "
                                f"chunk, got {f / engine.timeline.motion_fps:.0f} s for {chunk[:30]!r}...")
        self.chunks = len(self.texts)
        self.seams: list[int] = []

    def __iter__(self):
        from jamflow.infer.stream import pipeline

        xf = seconds_to_frames(self.s.cross_fade_s)
        self._stitcher = Stitcher(hold=xf, smooth=xf)
        return pipeline(self.sample, self.finish)

    def sample(self):
        """The sampling side: one SampledChunk per chunk, each prompted by the previous one's tail."""
        engine, request, s = self.engine, self.request, self.s
        xf = seconds_to_frames(s.cross_fade_s)
        prev, offset = None, 0
        chained = s.chunk_prompt == "previous"
        bar = tqdm(total=self.chunks, desc="chunks", unit="chunk", disable=not engine.progress or self.chunks < 2)
        for k, (chunk, gen_frames) in enumerate(zip(self.texts, self.frames)):
            prompt = prev if (chained and prev is not None) else request.prompt
            context = (engine.codec.context_for(request.context_motion, gen_frames, start=offset)
                       if engine.has_motion else None)
            job = Job.continuing(prompt, chunk, gen_frames, context, engine.dims)
            res = engine.sample([job], s)[0]
            from_prev = chained and prev is not None
            overlap = min(xf, prompt.frames) if from_prev else (xf if k > 0 else 0)
            start = prompt.frames - overlap if from_prev else prompt.frames
            offset += gen_frames
            bar.update(1)
            report("chunks", k + 1, self.chunks)
            yield SampledChunk(k, job, res, start, overlap)
            if chained and k + 1 < self.chunks:  # once the chunk is handed over: its output need not wait
                prev = tail_prompt(engine, job, res, s.context_s)
        bar.close()

    def finish(self, c: SampledChunk):
        """The output side: vocode, restore loudness, denormalise, cross-fade; yields final Pieces."""
        engine = self.engine
        # with several chunks, the prompt before the kept part is vocoded only for context (a single
        # chunk vocodes its whole timeline)
        v0 = max(0, (c.start - VOCODER_CONTEXT) // GRID * GRID) if self.chunks > 1 else 0  # on the grid: whole mel frames
        wav = engine.vocode(c.result.mel[mel_frames_for(v0):], c.job.frames - v0)
        wav = restore_rms(wav, self.request.prompt.rms, self.s.target_rms)
        motion = engine.codec.denormalize(c.result.motion, c.job.context) if c.result.motion is not None else None
        spm = engine.timeline.samples_per_motion
        piece = Piece(wav[(c.start - v0) * spm:], None if motion is None else motion[c.start:])
        done = self._stitcher.add(piece, c.overlap)
        if done is not None:
            yield done
        if c.index == self.chunks - 1:
            self.seams = list(self._stitcher.seams)
            tail = self._stitcher.finish()
            if tail is not None and tail.frames:
                yield tail


# ---------------------------------------------------------------------------------------------
# The bounded prompt of the next text chunk: the last whole words of what came before, at most `context_s`.
#
# Chunk k is prompted by the tail of chunk k-1's timeline (which may reach back into chunk k-1's own
# prompt when chunk k-1 was short), not by the whole previous chunk, so every sampler call holds at
# most `context_s` of prompt and the cost per second of speech does not grow with the chunk size.
#
# Where the tail starts: at a word, so that the prompt's text and audio say the same words. The
# model's text layout tells which mel frames speak which token (`layout.token_start_frames`: the
# duration predictor or table); without one, each part's tokens are spread evenly over its frames, as
# the F5 layout assumes. A candidate tail is the last j words, accepted when their tokens are exactly
# the last tokens of the job's text (so the token the cut starts at is known). The cut is moved back
# to the 4-frame grid (at most 0.16 s, which lands in the word gap or the previous word's last sound;
# the prompt's leading silence in the layout absorbs it). Among the tails that fit in `context_s`, one
# that starts a sentence is preferred, then one that starts a clause, when it is at least half as long
# as the longest that fits: whole sentences give the next chunk a complete prosodic phrase to continue.


def tail_prompt(engine, job: Job, result: JobResult, context_s: float) -> Prompt:
    """The prompt for the chunk after `job`: its last words (audio, motion, text) up to `context_s` seconds."""
    tl = engine.timeline
    parts = job.parts or ((job.text, job.mel_len),)
    encode = lambda t: list(engine.tokenizer.encode(t)) if t else []
    all_ids = [i for text, _ in parts for i in encode(text)]
    starts = token_start_frames(engine.model, engine.tokenizer, job, len(all_ids))  # mel frame where each token starts
    words = [(p, w) for p, (text, _) in enumerate(parts) for w in range(len(text.split()))]
    candidates = []  # (seconds, cut frame, text, kind)
    for j in range(1, len(words) + 1):
        p, w = words[-j]
        texts = [" ".join(parts[p][0].split()[w:])] + [t for t, _ in parts[p + 1:]]
        tail_ids = [i for t in texts for i in encode(t)]
        if not tail_ids or all_ids[len(all_ids) - len(tail_ids):] != tail_ids:
            continue  # the tokenizer joins across this word gap: its tokens are not the text's last ones
        mel_start = starts[len(all_ids) - len(tail_ids)]
        cut = int(mel_start / tl.mel_per_motion) // GRID * GRID
        seconds = (job.frames - cut) / tl.motion_fps
        if seconds > context_s and candidates:
            break
        before = parts[p][0].split()[w - 1] if w > 0 else (parts[p - 1][0] if p > 0 else ".")
        kind = 2 if before.endswith(SENTENCE_END) else 1 if before.endswith(CLAUSE_END) else 0
        candidates.append((seconds, cut, " ".join(texts), kind))
        if seconds > context_s:  # even the last word alone is longer: keep it rather than nothing
            break
    seconds, cut, text, _ = _prefer_boundaries(candidates)
    m0 = int(round(cut * tl.mel_per_motion))
    motion = None if result.motion is None else result.motion[cut:]
    context = None if job.context is None else job.context[cut:]
    return Prompt(text, job.frames - cut, result.mel[m0:], motion, context)


def _prefer_boundaries(candidates: list[tuple]) -> tuple:
    longest = candidates[-1]
    for kind in (2, 1):
        fitting = [c for c in candidates if c[3] == kind and c[0] >= 0.5 * longest[0]]
        if fitting:
            return fitting[-1]
    return longest


def run_text(engine, request: TextRequest, s: InferSettings) -> Piece:
    stream = TextStream(engine, request, s)
    out = concat_pieces(list(stream))
    return Piece(out.wav, out.motion, chunks=stream.chunks, seams=tuple(stream.seams))


def run_text_batch(engine, texts: list[str], ref_wav: np.ndarray | None, ref_text, s: InferSettings) -> list:
    """Several texts with one reference and one settings: those that fit one chunk share a padded
    sampler batch (same start noise per item as alone) -> their Pieces; None for a text that needs the
    chunk loop (`run_text`)."""
    prompt = reference_prompt(engine, ref_wav, ref_text, None)
    texts = [clean_text(t, "gen_text") for t in texts]
    budget = chunk_char_budget(prompt.text, prompt.frames, s.max_chunk_s, s.speed)
    fits = lambda t: len(t.encode("utf-8")) <= budget and not s.first_chunk_s  # a first chunk splits every text
    short = [i for i, t in enumerate(texts) if fits(t)]
    jobs = [Job.continuing(prompt, texts[i], chunk_frames(prompt, [texts[i]], s.speed, s.fix_duration)[0], None,
                           engine.dims) for i in short]
    results: list = [None] * len(texts)
    spm = engine.timeline.samples_per_motion
    for i, job, res in zip(short, jobs, engine.sample(jobs, s) if jobs else []):
        wav = engine.vocode(res.mel, job.frames)[prompt.frames * spm:]
        motion = None if res.motion is None else engine.codec.denormalize(res.motion, job.context)[prompt.frames:]
        results[i] = Piece(restore_rms(wav, prompt.rms, s.target_rms), motion)
    return results


def restore_rms(wav: np.ndarray, ref_rms: float | None, target_rms: float) -> np.ndarray:
    """F5: a quiet reference was raised to target_rms; bring the output back down (no reference: unchanged)."""
    from jamflow.audio.io import restore_loudness

    return (wav if ref_rms is None else restore_loudness(wav, ref_rms, target_rms)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# audio -> motion, in overlapping windows


def run_animate(engine, wav: np.ndarray, text: str | None, context_motion: np.ndarray | None,
                s: InferSettings) -> Piece:
    from jamflow.infer.stream_animate import AnimateStream

    stream = AnimateStream(engine, wav, text, context_motion, s)
    out = concat_pieces(list(stream))
    return Piece(out.wav, out.motion, chunks=stream.chunks, seams=tuple(stream.seams))


# ---------------------------------------------------------------------------------------------
# edit / continue


def spans_to_mask(spans, frames: int, name: str, fps: float) -> torch.Tensor:
    """[(start_s, end_s)] -> bool [frames], True = regenerate."""
    mask = torch.zeros(frames, dtype=torch.bool)
    for span in spans:
        try:
            a, b = float(span[0]), float(span[1])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{name}: expected (start_s, end_s) pairs, got {span!r}") from None
        if not (0 <= a < b) or not math.isfinite(b):
            raise UserError(f"{name}: expected 0 <= start < end, got {a}-{b}")
        if a * fps >= frames:
            raise UserError(f"{name}: expected spans inside the {frames / fps:.2f} s input, got {a}-{b}")
        mask[int(math.floor(a * fps)): int(math.ceil(b * fps))] = True
    return mask


def _check_edit(engine, wav, motion, audio_spans, motion_spans, extend_s: float) -> tuple[int, int]:
    """-> (given frames, total frames with the extension)."""
    fps = engine.timeline.motion_fps
    if not audio_spans and not motion_spans and extend_s <= 0:
        raise UserError("spans: expected --audio_spans, --motion_spans or --extend_s, got nothing to regenerate")
    if not (0 <= extend_s <= MAX_JOB_S):
        raise UserError(f"extend_s: expected 0..{MAX_JOB_S:.0f} seconds, got {extend_s}")
    frames = len(wav) // engine.timeline.samples_per_motion
    if frames < 1:
        raise UserError("audio: expected at least 40 ms of audio, got less")
    if motion is not None and abs(len(motion) - frames) > 2:
        raise UserError(f"motion: expected {frames} frames to match the audio's {frames / fps:.2f} s, "
                        f"got {len(motion)}")
    total = frames + seconds_to_frames(extend_s)
    if total / fps > MAX_JOB_S:
        raise UserError(f"audio: expected at most {MAX_JOB_S:.0f} s (with extend_s) for edit, got {total / fps:.1f} s")
    return frames, total


def _edit_job(engine, text, wav, motion, audio_regen, motion_spans, frames: int, total: int) -> Job:
    from jamflow.audio.mel import recording_mel

    tl = engine.timeline
    mel_in = recording_mel(torch.as_tensor(wav[: frames * tl.samples_per_motion])[None])[0].T
    audio_known = torch.ones(mel_frames_for(total), dtype=torch.bool)
    for f in torch.nonzero(audio_regen).flatten().tolist():  # motion frame f covers mel [f*3.75, (f+1)*3.75)
        audio_known[int(f * tl.mel_per_motion): int(math.ceil((f + 1) * tl.mel_per_motion))] = False
    if not engine.has_motion:
        return Job.for_edit(text, total, mel_in, audio_known)
    base = motion if motion is not None else np.repeat(engine.codec.neutral[None], frames, 0)
    base = np.concatenate([base[:frames], np.repeat(base[-1:], total - min(len(base), frames), 0)])[:total]
    m_gen, m_ctx = engine.codec.normalize(base)
    motion_regen = torch.cat([spans_to_mask(motion_spans, frames, "motion_spans", tl.motion_fps),
                              torch.ones(total - frames, dtype=torch.bool)])
    if motion is None:
        motion_regen[:] = True  # nothing known: generate the motion for the whole clip
    return Job.for_edit(text, total, mel_in, audio_known, m_gen, ~motion_regen, m_ctx, engine.dims)


def run_edit(engine, text: str, wav, motion, audio_spans, motion_spans, extend_s: float, s: InferSettings) -> Piece:
    """Regenerate the spans of `wav` [s] (and `motion` [T, 70]) and continue both by `extend_s`."""
    frames, total = _check_edit(engine, wav, motion, audio_spans, motion_spans, extend_s)
    spm = engine.timeline.samples_per_motion
    audio_regen = torch.cat([spans_to_mask(audio_spans, frames, "audio_spans", engine.timeline.motion_fps),
                             torch.ones(total - frames, dtype=torch.bool)])
    job = _edit_job(engine, text, wav, motion, audio_regen, motion_spans, frames, total)
    res = engine.sample([job], s)[0]
    out_wav = engine.vocode(res.mel, total)
    # untouched audio is returned as given (the vocoder only fills the regenerated spans)
    keep = ~audio_regen[:frames].repeat_interleave(spm).numpy()
    orig = np.asarray(wav[: frames * spm], np.float32)
    out_wav[: frames * spm][keep] = orig[keep]
    out_wav = np.concatenate([out_wav, wav[frames * spm:]]) if total == frames else out_wav
    out_motion = engine.codec.denormalize(res.motion, job.context) if res.motion is not None else None
    if out_motion is not None and motion is not None:  # known frames are returned exactly as given
        known = job.motion_known.numpy()[:frames]
        given = min(frames, len(motion))
        out_motion[:given][known[:given]] = motion[:given][known[:given]]
    return Piece(out_wav, out_motion)
