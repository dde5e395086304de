"""Kokoro's voices and blends as corpus speakers: intelligible, and distinct from one another?

    python benchmarks/bench_kokoro_voices.py                  # 6 blends, 4 Harvard sentences each
    python benchmarks/bench_kokoro_voices.py --blends 10 --sentences 6

For each blend `a+b@w` of `data.kokoro.blends()` (the corpus's own) and for its two parent voices:
- WER: pocketsphinx word error of the speech (parents and blends averaged separately);
- same-voice ceiling: a voice's clips against its own other clips (other sentences);
- blend to nearer / farther parent: the blend's clips against each parent's clips, the parent nearer
  in weight first;
- parent vs parent: the two parents against each other (two different Kokoro voices).
A blend is a new speaker when it sits well under the ceiling against both parents.
"""
from __future__ import annotations

import argparse

import numpy as np

from jamflow.audio.asr import transcribe
from jamflow.data import kokoro
from jamflow.eval.asr import word_error_rate
from jamflow.eval.speaker import cosine, speaker_embedding
from jamflow.timeline import SAMPLE_RATE

# Harvard sentences, lists 5-6 (IEEE 1969), public domain
SENTENCES = [
    "A king ruled the state in the early days.", "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.", "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.", "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.", "Hop over the fence and plunge in.",
]


def speak(voice: str, sentences: list[str]) -> tuple[list[np.ndarray], float]:
    """-> (one speaker embedding per sentence, mean WER)."""
    embeds, wers = [], []
    for text in sentences:
        wav = kokoro.kokoro_speech(text, voice)
        embeds.append(speaker_embedding(wav, SAMPLE_RATE))
        wers.append(word_error_rate(text, transcribe(wav, SAMPLE_RATE)))
    return embeds, float(np.mean(wers))


def cross(a: list[np.ndarray], b: list[np.ndarray], same: bool = False) -> float:
    """Mean similarity of a's clips to b's, other sentences only."""
    return float(np.mean([cosine(x, y) for i, x in enumerate(a) for j, y in enumerate(b) if i != j or not same]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blends", type=int, default=6)
    p.add_argument("--sentences", type=int, default=4)
    a = p.parse_args()
    if not kokoro.available():
        raise SystemExit(f"bench_kokoro_voices: expected Kokoro's model and voices ({kokoro.INSTALL})")
    sentences = SENTENCES[:a.sentences]
    cache: dict[str, tuple[list[np.ndarray], float]] = {}
    rows = []
    for name in kokoro.blends()[:a.blends]:
        (pa, wa), (pb, wb) = kokoro.parse_voice(name)
        for v in (name, pa, pb):
            cache.setdefault(v, speak(v, sentences))
        near, far = (pa, pb) if wa >= wb else (pb, pa)
        rows.append({"blend": name, "wer": cache[name][1], "parents_wer": (cache[pa][1] + cache[pb][1]) / 2,
                     "ceiling": cross(cache[name][0], cache[name][0], same=True),
                     "near": cross(cache[name][0], cache[near][0]), "far": cross(cache[name][0], cache[far][0]),
                     "parents": cross(cache[pa][0], cache[pb][0])})
    print("| blend | WER | parents' WER | same-voice ceiling | to nearer parent | to farther parent "
          "| parent vs parent |")
    print("|---|---|---|---|---|---|---|")
    for r in rows + [{"blend": "mean", **{k: np.mean([x[k] for x in rows]) for k in rows[0] if k != "blend"}}]:
        print(f"| {r['blend']} | {r['wer']:.3f} | {r['parents_wer']:.3f} | {r['ceiling']:.3f} | {r['near']:.3f} "
              f"| {r['far']:.3f} | {r['parents']:.3f} |")


if __name__ == "__main__":
    main()
