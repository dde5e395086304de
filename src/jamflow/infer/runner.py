"""Task flows behind the API: long text in chunks, long audio in windows, dub, edit, and file output.

Lengths are counted in motion frames on the `GRID` of `infer/prompt.py`, which also turns the
user's reference into the known prefix (`Prompt`).

Long text (tts/talk): the text is split into sentence chunks of about `max_chunk_s` seconds, the
first one optionally a short clause (`first_chunk_s`, for streaming). Chunk 0 continues the
reference (or starts from nothing). With `chunk_prompt="previous"` (default) chunk k continues the
tail of what came before: the last whole words, at most `context_s` seconds, of audio, motion and
text (`infer/stream_context.py`), so voice, prosody and head motion carry over at a bounded cost per
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
from jamflow.infer.longform import Piece, Stitcher, chunk_char_budget, concat_pieces, plan_text_chunks, seconds_to_frames
from jamflow.infer.prompt import GRID, Prompt, clean_text, grid, reference_prompt
from jamflow.infer.settings import MEL_PER_MOTION, MOTION_FPS, SAMPLES_PER_MOTION, InferSettings
from jamflow.infer.tasks import generate, known_voice, make_job, mel_frames
from jamflow.limits import MAX_CHARS_PER_S, MIN_CHARS_PER_S  # speaking rates outside this are refused

MAX_JOB_S = 60.0  # longest single sampler call (prompt + generated); longer work is chunked/windowed
VOCODER_CONTEXT = 8  # motion frames (0.32 s, 30 mel frames) vocoded before a chunk's kept audio, for context


@dataclass
class Output:
    wav: np.ndarray | None  # [s]
    motion: np.ndarray | None  # [T, 70] denormalised
    chunks: int = 1
    motion_given: bool = False  # True: motion is the user's, returned unchanged (no post-processing)
    seams: tuple[int, ...] = ()


# ---------------------------------------------------------------------------------------------
# text -> speech (+ motion), chunk by chunk


@dataclass
class TextJob:
    chunks: list[str]
    prompt: Prompt  # the reference (frames 0 when none)
    context_motion: np.ndarray | None  # denormalised [T, 70] for context channels; None = neutral

    @classmethod
    def build(cls, jam, gen_text, ref_audio, ref_text, ref_motion, context_motion):
        gen_text = clean_text(gen_text, "gen_text")
        prompt = reference_prompt(jam, ref_audio, ref_text, ref_motion)
        return cls([gen_text], prompt, context_motion)


def estimate_frames(prompt: Prompt, text: str, speed: float) -> int:
    """Generated motion frames for `text` at the prompt's speaking rate: F5's byte-ratio rule
    (`audio.duration.estimate_duration`; ~15 bytes/s without a prompt, short texts slowed down)."""
    from jamflow.audio.duration import estimate_duration

    ref_mel = mel_frames(prompt.frames) if prompt.frames and prompt.text else 0
    total = estimate_duration(ref_mel, prompt.text if ref_mel else "", text, speed)
    return grid((total - ref_mel) / MEL_PER_MOTION)


def plan_chunk_frames(job: TextJob, s: InferSettings) -> list[int]:
    """Generated frames per chunk; with fix_duration the total is split in proportion to the text."""
    if s.fix_duration is None:
        return [estimate_frames(job.prompt, c, s.speed) for c in job.chunks]
    gen_s = s.fix_duration - job.prompt.frames / MOTION_FPS
    if gen_s < 0.2:
        raise UserError(f"fix_duration: expected more than the reference's {job.prompt.frames / MOTION_FPS:.2f} s "
                        f"(it counts reference + generated, as in F5-TTS), got {s.fix_duration} s")
    sizes = np.array([len(c.encode("utf-8")) for c in job.chunks], np.float64)
    return [grid(gen_s * MOTION_FPS * w) for w in sizes / sizes.sum()]


def check_rate(text: str, frames: int, name: str):
    rate = len(text) / (frames / MOTION_FPS)
    if not MIN_CHARS_PER_S <= rate <= MAX_CHARS_PER_S:
        seconds = frames / MOTION_FPS
        raise UserError(f"{name}: expected a duration the model can speak {len(text)} characters in "
                        f"({len(text) / MAX_CHARS_PER_S:.1f}-{len(text) / MIN_CHARS_PER_S:.0f} s), got {seconds:.1f} s")


@dataclass
class SampledChunk:
    """One chunk's sampler output, handed from the sampling thread to the one that vocodes and stitches."""

    index: int
    job: "object"  # tasks.Job: the prompt + the chunk
    result: "object"  # tasks.JobResult
    start: int  # first motion frame of the job's output that is kept (the seam's overlap included)
    overlap: int  # frames of that start that re-render the end of the previous chunk


class TextStream:
    """Iterate the final audio/motion pieces of a long text as soon as each is ready (streaming): a
    worker thread samples chunk k+1 while this one vocodes and stitches chunk k (`infer/stream.py`).
    `chunks` is known on construction, `seams` once the iteration has finished."""

    def __init__(self, jam, job: TextJob, s: InferSettings):
        self.jam, self.job, self.s = jam, job, s
        text = job.chunks[0]
        self.budget = chunk_char_budget(job.prompt.text, job.prompt.frames, s.max_chunk_s, s.speed)
        first = chunk_char_budget(job.prompt.text, job.prompt.frames, s.first_chunk_s, s.speed) if s.first_chunk_s else 0
        job.chunks = plan_text_chunks(text, self.budget, first)
        self.frames = plan_chunk_frames(job, s)
        if s.fix_duration is not None:
            check_rate(text, sum(self.frames), "fix_duration")
        for chunk, f in zip(job.chunks, self.frames):
            if f / MOTION_FPS > MAX_JOB_S:
                raise UserError(f"fix_duration: expected at most ~{MAX_JOB_S:.0f} s per {self.budget}-character "
                                f"chunk, got {f / MOTION_FPS:.0f} s for {chunk[:30]!r}...")
        self.chunks = len(job.chunks)
        self.seams: list[int] = []

    def __iter__(self):
        from jamflow.infer.stream import pipeline

        xf = seconds_to_frames(self.s.cross_fade_s)
        self._stitcher = Stitcher(hold=xf, smooth=xf)
        return pipeline(self.sample, self.finish)

    def sample(self):
        """The sampling side: one SampledChunk per chunk, each prompted by the previous one's tail."""
        from jamflow.infer.stream_context import tail_prompt

        jam, job, s = self.jam, self.job, self.s
        xf = seconds_to_frames(s.cross_fade_s)
        prev, offset = None, 0
        chained = s.chunk_prompt == "previous"
        bar = tqdm(total=self.chunks, desc="chunks", unit="chunk", disable=not jam.progress or self.chunks < 2)
        for k, (chunk, gen_frames) in enumerate(zip(job.chunks, self.frames)):
            prompt = prev if (chained and prev is not None) else job.prompt
            ctx_gen = jam.codec.context_for(job.context_motion, gen_frames, start=offset) if jam.has_motion else None
            jb = prompted_job(jam, prompt, chunk, gen_frames, ctx_gen)
            res = generate(jam.model, [jb], s, jam.tokenizer, jam.device, jam.dtype, jam.progress)[0]
            from_prev = chained and prev is not None
            overlap = min(xf, prompt.frames) if from_prev else (xf if k > 0 else 0)
            start = prompt.frames - overlap if from_prev else prompt.frames
            if chained and k + 1 < self.chunks:
                prev = tail_prompt(jam, jb, res, s.context_s)
            offset += gen_frames
            bar.update(1)
            report("chunks", k + 1, self.chunks)
            yield SampledChunk(k, jb, res, start, overlap)
        bar.close()

    def finish(self, c: SampledChunk):
        """The output side: vocode, restore loudness, denormalise, cross-fade; yields final Pieces."""
        jam = self.jam
        # with several chunks, the prompt before the kept part is vocoded only for context (a single
        # chunk vocodes its whole timeline, as it always has)
        v0 = max(0, (c.start - VOCODER_CONTEXT) // GRID * GRID) if self.chunks > 1 else 0  # on the grid: whole mel frames
        wav = vocode(jam, c.result.mel[mel_frames(v0):], c.job.frames - v0)
        wav = restore_rms(wav, self.job.prompt.rms, self.s.target_rms)
        motion = jam.codec.denormalize(c.result.motion, c.job.context) if c.result.motion is not None else None
        piece = Piece(wav[(c.start - v0) * SAMPLES_PER_MOTION:], None if motion is None else motion[c.start:])
        done = self._stitcher.add(piece, c.overlap)
        if done is not None:
            yield done
        if c.index == self.chunks - 1:
            self.seams = list(self._stitcher.seams)
            tail = self._stitcher.finish()
            if tail is not None and tail.frames:
                yield tail


def run_text(jam, job: TextJob, s: InferSettings) -> Output:
    stream = TextStream(jam, job, s)
    out = concat_pieces(list(stream))
    return Output(out.wav, out.motion, chunks=stream.chunks, seams=tuple(stream.seams))


def run_text_batch(jam, task: str, texts: list[str], ref_audio, ref_text, s: InferSettings, outputs: list) -> list:
    """Several texts with one reference and one settings: those that fit one chunk share a padded
    sampler batch (same start noise per item as alone); longer ones run through the chunk loop."""
    prompt = reference_prompt(jam, ref_audio, ref_text, None)
    texts = [clean_text(t, "gen_text") for t in texts]
    budget = chunk_char_budget(prompt.text, prompt.frames, s.max_chunk_s, s.speed)
    results: list = [None] * len(texts)
    fits = lambda t: len(t.encode("utf-8")) <= budget and not s.first_chunk_s  # a first chunk splits every text
    short = [i for i, t in enumerate(texts) if fits(t)]
    jobs = []
    for i in short:
        gen = plan_chunk_frames(TextJob([texts[i]], prompt, None), s)[0]
        jobs.append(prompted_job(jam, prompt, texts[i], gen, None))
    renderer = jam._renderer(None) if task == "talk" else None
    batch = generate(jam.model, jobs, s, jam.tokenizer, jam.device, jam.dtype, jam.progress) if jobs else []
    for i, jb, res in zip(short, jobs, batch):
        wav = vocode(jam, res.mel, jb.frames)[prompt.frames * SAMPLES_PER_MOTION:]
        motion = None if res.motion is None else jam.codec.denormalize(res.motion, jb.context)[prompt.frames:]
        out = Output(restore_rms(wav, prompt.rms, s.target_rms), motion)
        results[i] = jam._finish(out, s, outputs[i], write_video=task == "talk", renderer=renderer, face_life=True)
    for i in set(range(len(texts))) - set(short):
        results[i] = getattr(jam, task)(texts[i], ref_audio, ref_text, output=outputs[i], settings=s)
    return results


def prompted_job(jam, prompt: Prompt, text: str, gen_frames: int, ctx_gen):
    """The continuation job: prompt (known audio, and motion if any) followed by gen_frames to generate."""
    if jam.has_motion and ctx_gen is None:
        ctx_gen = torch.zeros(gen_frames, jam.codec.spec.context_dim)
    sep = " " if prompt.text and not prompt.text.endswith(" ") else ""
    return make_job(
        prompt.text + sep + text, prompt.frames + gen_frames,
        mel=prompt.mel if prompt.frames else None,
        audio_known=torch.ones(mel_frames(prompt.frames), dtype=torch.bool) if prompt.frames else None,
        motion=prompt.motion,
        motion_known=torch.ones(prompt.frames, dtype=torch.bool) if prompt.motion is not None else None,
        context=torch.cat([prompt.context, ctx_gen]) if jam.has_motion and prompt.frames else ctx_gen,
        gen_dim=jam.codec.spec.gen_dim if jam.has_motion else 0,
        context_dim=jam.codec.spec.context_dim, prompt=(prompt.text, prompt.frames))


def vocode(jam, mel: torch.Tensor, frames: int) -> np.ndarray:
    """mel [n, 100] -> wav [frames * 960] (the vocoder's length is trimmed / padded to the grid)."""
    with torch.inference_mode():
        wav = jam.vocoder.decode(mel.T[None].to(jam.device, torch.float32))
    wav = wav.reshape(-1).float().cpu().numpy()
    want = frames * SAMPLES_PER_MOTION
    if len(wav) < want:
        wav = np.pad(wav, (0, want - len(wav)))
    return wav[:want].astype(np.float32)


def restore_rms(wav: np.ndarray, ref_rms: float | None, target_rms: float) -> np.ndarray:
    """F5: a quiet reference was raised to target_rms; bring the output back down (no reference: unchanged)."""
    from jamflow.audio.io import restore_loudness

    return (wav if ref_rms is None else restore_loudness(wav, ref_rms, target_rms)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# audio -> motion, in overlapping windows


def run_animate(jam, wav: np.ndarray, text: str | None, context_motion: np.ndarray | None, s: InferSettings) -> Output:
    from jamflow.infer.stream_animate import AnimateStream

    stream = AnimateStream(jam, wav, text, context_motion, s)
    out = concat_pieces(list(stream))
    return Output(out.wav, out.motion, chunks=stream.chunks, seams=tuple(stream.seams))


# ---------------------------------------------------------------------------------------------
# motion + text -> speech


def dub_durations(jam, gen_text: str, motion: np.ndarray, part_mel: int, voice=None):
    """The new text's durations [nt + 2] over the given lips (then held frames: trailing silence), or
    None (the table lays it out) when the phones do not fit or the mouth does not move. With a
    duration predictor its durations (in the voice vector `voice`, tasks.known_voice) are the prior."""
    from jamflow.motion.mouth import mouth_aperture
    from jamflow.infer.lip_layout import lip_durations

    lips_mel = min(mel_frames(len(motion)), part_mel)
    tokens, ids = jam.tokenizer.tokenize(gen_text), jam.tokenizer.encode(gen_text)  # one id per token
    predictor = jam.model.duration_predictor
    weights = predictor.frames(ids, voice) if predictor is not None else None
    d = lip_durations(tokens, ids, mouth_aperture(motion), lips_mel, jam.model.cfg.audio.text_durations, weights)
    if d is None:
        return None
    d[-1] += part_mel - lips_mel
    return d


def run_dub(jam, gen_text: str, motion: np.ndarray, ref_audio, ref_text, s: InferSettings) -> Output:
    gen_text = clean_text(gen_text, "gen_text")
    prompt = reference_prompt(jam, ref_audio, ref_text, None)
    frames = len(motion)
    check_rate(gen_text, frames, "motion")
    if (prompt.frames + frames) / MOTION_FPS > MAX_JOB_S:
        raise UserError(f"motion: expected at most {MAX_JOB_S - prompt.frames / MOTION_FPS:.0f} s for dub in one "
                        f"pass, got {frames / MOTION_FPS:.1f} s; split the video into shorter clips")
    gen_frames = grid(frames)
    total = prompt.frames + gen_frames
    held = np.concatenate([motion, np.repeat(motion[-1:], gen_frames - frames, 0)])
    m_gen, m_ctx = jam.codec.normalize(held)
    motion_known = torch.zeros(total, dtype=torch.bool)
    motion_known[prompt.frames: prompt.frames + frames] = True
    pre_ctx = prompt.context if prompt.frames else torch.zeros(0, m_ctx.shape[1])
    jb = make_job(
        (prompt.text + " " if prompt.text else "") + gen_text, total,
        mel=prompt.mel if prompt.frames else None,
        audio_known=torch.ones(mel_frames(prompt.frames), dtype=torch.bool) if prompt.frames else None,
        motion=torch.cat([torch.zeros(prompt.frames, m_gen.shape[1]), m_gen]), motion_known=motion_known,
        context=torch.cat([pre_ctx, m_ctx]), gen_dim=jam.codec.spec.gen_dim, context_dim=jam.codec.spec.context_dim,
        prompt=(prompt.text, prompt.frames))
    if jam.model.cfg.audio.text_durations is not None:
        jb.last_durations = dub_durations(jam, gen_text, motion, mel_frames(total) - mel_frames(prompt.frames),
                                          known_voice(jb) if jam.model.duration_predictor is not None else None)
    res = generate(jam.model, [jb], s, jam.tokenizer, jam.device, jam.dtype, jam.progress)[0]
    wav = vocode(jam, res.mel, total)[prompt.frames * SAMPLES_PER_MOTION: (prompt.frames + frames) * SAMPLES_PER_MOTION]
    return Output(restore_rms(wav, prompt.rms, s.target_rms), motion, motion_given=True)


# ---------------------------------------------------------------------------------------------
# edit / continue


def spans_to_mask(spans, frames: int, name: str) -> torch.Tensor:
    """[(start_s, end_s)] -> bool [frames], True = regenerate."""
    mask = torch.zeros(frames, dtype=torch.bool)
    for span in spans:
        try:
            a, b = float(span[0]), float(span[1])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{name}: expected (start_s, end_s) pairs, got {span!r}") from None
        if not (0 <= a < b) or not math.isfinite(b):
            raise UserError(f"{name}: expected 0 <= start < end, got {a}-{b}")
        if a * MOTION_FPS >= frames:
            raise UserError(f"{name}: expected spans inside the {frames / MOTION_FPS:.2f} s input, got {a}-{b}")
        mask[int(math.floor(a * MOTION_FPS)): int(math.ceil(b * MOTION_FPS))] = True
    return mask


def run_edit(jam, text, wav, motion, audio_spans, motion_spans, extend_s: float, s: InferSettings) -> Output:
    text = clean_text(text, "text")
    if not audio_spans and not motion_spans and extend_s <= 0:
        raise UserError("spans: expected --audio_spans, --motion_spans or --extend_s, got nothing to regenerate")
    if not (0 <= extend_s <= MAX_JOB_S):
        raise UserError(f"extend_s: expected 0..{MAX_JOB_S:.0f} seconds, got {extend_s}")
    frames = len(wav) // SAMPLES_PER_MOTION
    if frames < 1:
        raise UserError("audio: expected at least 40 ms of audio, got less")
    if motion is not None and abs(len(motion) - frames) > 2:
        raise UserError(f"motion: expected {frames} frames to match the audio's {frames / MOTION_FPS:.2f} s, "
                        f"got {len(motion)}")
    extra = seconds_to_frames(extend_s)
    total = frames + extra
    if total / MOTION_FPS > MAX_JOB_S:
        raise UserError(f"audio: expected at most {MAX_JOB_S:.0f} s (with extend_s) for edit, got {total / MOTION_FPS:.1f} s")
    from jamflow.audio.mel import mel_spectrogram

    audio_regen = torch.cat([spans_to_mask(audio_spans, frames, "audio_spans"), torch.ones(extra, dtype=torch.bool)])
    mel_in = mel_spectrogram(torch.as_tensor(wav[: frames * SAMPLES_PER_MOTION])[None])[0].T
    n = mel_frames(total)
    audio_known = torch.ones(n, dtype=torch.bool)
    for f in torch.nonzero(audio_regen).flatten().tolist():  # motion frame f covers mel [f*3.75, (f+1)*3.75)
        audio_known[int(f * 3.75): int(math.ceil((f + 1) * 3.75))] = False
    kw = {}
    if jam.has_motion:
        base = motion if motion is not None else np.repeat(jam.codec.neutral[None], frames, 0)
        base = np.concatenate([base[:frames], np.repeat(base[-1:], total - min(len(base), frames), 0)])[:total]
        m_gen, m_ctx = jam.codec.normalize(base)
        motion_regen = torch.cat([spans_to_mask(motion_spans, frames, "motion_spans"), torch.ones(extra, dtype=torch.bool)])
        if motion is None:
            motion_regen[:] = True  # nothing known: generate the motion for the whole clip
        kw = dict(motion=m_gen, motion_known=~motion_regen, context=m_ctx,
                  gen_dim=jam.codec.spec.gen_dim, context_dim=jam.codec.spec.context_dim)
    jb = make_job(text, total, mel=mel_in, audio_known=audio_known, **kw)
    res = generate(jam.model, [jb], s, jam.tokenizer, jam.device, jam.dtype, jam.progress)[0]
    out_wav = vocode(jam, res.mel, total)
    # untouched audio is returned as given (the vocoder only fills the regenerated spans)
    keep = ~audio_regen[:frames].repeat_interleave(SAMPLES_PER_MOTION).numpy()
    orig = np.asarray(wav[: frames * SAMPLES_PER_MOTION], np.float32)
    out_wav[: frames * SAMPLES_PER_MOTION][keep] = orig[keep]
    out_wav = np.concatenate([out_wav, wav[frames * SAMPLES_PER_MOTION:]]) if extra == 0 else out_wav
    out_motion = jam.codec.denormalize(res.motion, jb.context) if res.motion is not None else None
    if out_motion is not None and motion is not None:  # known frames are returned exactly as given
        known = jb.motion_known.numpy()[:frames]
        given = min(frames, len(motion))
        out_motion[:given][known[:given]] = motion[:given][known[:given]]
    return Output(out_wav, out_motion)
