"""The bounded prompt of the next text chunk: the last whole words of what came before, at most `context_s`.

Chunk k is prompted by the tail of chunk k-1's timeline (which may reach back into chunk k-1's own
prompt when chunk k-1 was short), not by the whole previous chunk, so every sampler call holds at
most `context_s` of prompt and the cost per second of speech does not grow with the chunk size.

Where the tail starts: at a word, so that the prompt's text and audio say the same words. The
model's text layout tells which mel frames speak which token (`layout.token_start_frames`: the
duration predictor or table); without one, each part's tokens are spread evenly over its frames, as
the F5 layout assumes. A candidate tail is the last j words, accepted when their tokens are exactly
the last tokens of the job's text (so the token the cut starts at is known). The cut is moved back
to the 4-frame grid (at most 0.16 s, which lands in the word gap or the previous word's last sound;
the prompt's leading silence in the layout absorbs it). Among the tails that fit in `context_s`, one
that starts a sentence is preferred, then one that starts a clause, when it is at least half as long
as the longest that fits: whole sentences give the next chunk a complete prosodic phrase to continue.
"""
from __future__ import annotations

from jamflow.infer.jobs import Job
from jamflow.infer.layout import token_start_frames
from jamflow.infer.prompt import GRID, Prompt
from jamflow.infer.sampling import JobResult

SENTENCE_END, CLAUSE_END = tuple(".!?"), tuple(",;:")


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
