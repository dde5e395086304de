"""Speaker augmentation: are warped voices intelligible and distinct?

    python benchmarks/bench_augment.py                    # 8 sentences x 4 warps per source voice
    python benchmarks/bench_augment.py --sentences 4 --warps 2
    python benchmarks/bench_augment.py --transfer         # phone timings carried across voices by DTW

Per source voice (festival's HTS slt, hibari's bundled voice, and the LibriVox reader of Debian's
pocketsphinx-testdata) and per speaker that `speaker_warps` makes of it:
- WER: pocketsphinx word error of the warped speech (the source's own beside it);
- sim to source: speaker similarity (resemblyzer) of a warped clip to the source voice's *other* clips;
- warp vs warp: similarity between two different warps of one voice (other sentences);
- same-voice ceiling: the source's clips against its other clips.
A useful warp keeps WER near the source's and puts "sim to source" and "warp vs warp" well under the ceiling.
"""
from __future__ import annotations

import argparse

import numpy as np

from jamflow.audio.io import load_audio
from jamflow.data.augment import speaker_warps, warp_voice
from jamflow.audio.asr import transcribe
from jamflow.eval.asr import word_error_rate
from jamflow.eval.real_speech import librivox_utterances
from jamflow.eval.speaker import cosine, speaker_embedding
from jamflow.timeline import SAMPLE_RATE

# Harvard sentences, lists 3-4 (IEEE 1969), public domain
SENTENCES = [
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
]


def festival_source(sentences):
    from jamflow.data.speech_engines import Voice, festival_batch

    voice = Voice("festival", "slt_hts")
    return [(s.wav, text) for s, text in zip(festival_batch([(t, voice) for t in sentences]), sentences)]


def hibari_source(sentences):
    from jamflow.data.neural_voices import hibari_speech

    return [(hibari_speech(t, seed=i), t) for i, t in enumerate(sentences)]


def librivox_source(_sentences):
    return [(load_audio(path), text) for path, text in librivox_utterances()]


def mean_to_others(embed: np.ndarray, i: int, against: list[np.ndarray]) -> float:
    """Mean similarity of clip i's embedding to every other clip's (other sentences) in `against`."""
    return float(np.mean([cosine(embed, e) for j, e in enumerate(against) if j != i]))


def measure(clips, warps) -> dict:
    src_emb = [speaker_embedding(w, SAMPLE_RATE) for w, _ in clips]
    out = {"wer_source": float(np.mean([word_error_rate(t, transcribe(w, SAMPLE_RATE)) for w, t in clips])),
           "ceiling": float(np.mean([mean_to_others(e, i, src_emb) for i, e in enumerate(src_emb)]))}
    warped = []  # per warp: embeddings of every clip
    wers, sims = [], []
    for warp in warps:
        embeds = []
        for i, (wav, text) in enumerate(clips):
            w = warp_voice(wav, warp)
            wers.append(word_error_rate(text, transcribe(w, SAMPLE_RATE)))
            embeds.append(speaker_embedding(w, SAMPLE_RATE))
            sims.append(mean_to_others(embeds[-1], i, src_emb))
        warped.append(embeds)
    cross = [cosine(warped[a][i], warped[b][j]) for a in range(len(warps)) for b in range(a + 1, len(warps))
             for i in range(len(clips)) for j in range(len(clips)) if i != j]
    out.update(wer_warped=float(np.mean(wers)), sim_to_source=float(np.mean(sims)),
               warp_vs_warp=float(np.mean(cross)) if cross else float("nan"))
    return out


def transfer_accuracy(sentences) -> None:
    """Timings carried from one festival voice to another (both report true timings) vs the truth."""
    from jamflow.data.speech_engines import Voice, festival_batch
    from jamflow.data.timing_transfer import transfer_phones

    voices = {name: festival_batch([(t, Voice("festival", name)) for t in sentences])
              for name in ("slt_hts", "kal_diphone")}
    print("| from -> to | clips | boundaries | median error ms | <= 20 ms | <= 40 ms (one motion frame) | "
          "uniform stretch <= 40 ms |")
    print("|---|---|---|---|---|---|---|")
    for src, dst in (("slt_hts", "kal_diphone"), ("kal_diphone", "slt_hts")):
        errs, base = [], []
        for ref, tgt in zip(voices[src], voices[dst]):
            if [p for p, _, _ in ref.phones] != [p for p, _, _ in tgt.phones]:
                continue  # the two voices' lexica disagree: no common truth
            out = transfer_phones(ref.wav, ref.phones, tgt.wav)
            errs += [abs(o[1] - t[1]) for o, t in zip(out[1:], tgt.phones[1:])]
            scale = tgt.duration / ref.duration
            base += [abs(r[1] * scale - t[1]) for r, t in zip(ref.phones[1:], tgt.phones[1:])]
        e, b = np.array(errs) * 1000, np.array(base) * 1000
        print(f"| {src} -> {dst} | {len(sentences)} | {len(e)} | {np.median(e):.1f} | {np.mean(e <= 20):.2f} | "
              f"{np.mean(e <= 40):.2f} | {np.mean(b <= 40):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=8)
    ap.add_argument("--warps", type=int, default=4)
    ap.add_argument("--transfer", action="store_true", help="measure DTW timing transfer instead")
    args = ap.parse_args()
    if args.transfer:
        return transfer_accuracy(SENTENCES[: args.sentences])
    sources = {"festival:slt_hts": festival_source, "hibari:heart": hibari_source,
               "librivox:reader": librivox_source}
    print("| source | clips | warps | WER source | WER warped | sim to source | warp vs warp | same-voice ceiling |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make in sources.items():
        clips = make(SENTENCES[: args.sentences])
        warps = speaker_warps(name, args.warps)
        r = measure(clips, warps)
        print(f"| {name} | {len(clips)} | {len(warps)} | {r['wer_source']:.3f} | {r['wer_warped']:.3f} | "
              f"{r['sim_to_source']:.3f} | {r['warp_vs_warp']:.3f} | {r['ceiling']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
