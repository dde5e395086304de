"""Text layout: how many frames a text gets, how a long text splits into chunks, which frames speak which token.

    text_frames(prompt, text, speed)             generated motion frames for a text (F5's byte-ratio rule)
    chunk_frames(prompt, chunks, speed, fix)     frames per chunk; `fix_duration` shared out by bytes
    chunk_char_budget(...), split_text(...)      a long text -> sentence chunks of about max_chunk_s
    check_rate(text, frames, name)               refuse lengths the model cannot speak a text in
    dub_durations(model, tokenizer, ...)         per-token durations read off the given lips (dub)
    aligned_durations(model, ids, mel)           per-token durations where a given audio speaks them (animate)
    encode_with_durations(model, tokenizer, ...) token ids + text index [b, n] for the sampler
    token_start_frames(...)                      the first mel frame of each token (where a chunk's tail starts)

The weights behind it stay with the model: the mean-duration table (`audio.text_durations`, maths in
jamflow.model.durations) and the duration predictor network (jamflow.model.duration_predictor).
"""
from jamflow.infer.layout.length import (check_rate, chunk_char_budget, chunk_frames, estimate_duration, split_text,
                                         text_frames)
from jamflow.infer.layout.lips import dub_durations, lip_durations, segment_viterbi
from jamflow.infer.layout.tokens import aligned_durations, encode_with_durations, known_voice, token_start_frames

__all__ = ["aligned_durations", "check_rate", "chunk_char_budget", "chunk_frames", "dub_durations",
           "encode_with_durations", "estimate_duration", "known_voice", "lip_durations", "segment_viterbi",
           "split_text", "text_frames", "token_start_frames"]
