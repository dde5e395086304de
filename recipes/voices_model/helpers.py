"""Steps of the voices recipe that no jamflow command does.

    python recipes/voices_model/helpers.py unseen-sets OUT [--clips_per_voice 6] [--dev]
    python recipes/voices_model/helpers.py model-stats corpus/card.json MODEL

`unseen-sets`: evaluation sets of voices that are in no training corpus. It writes
    OUT/librivox/manifest.jsonl   a real human reader: the 5 LibriVox utterances of Debian's
                                  pocketsphinx-testdata (public domain, 16 kHz, 3.0-7.1 s), at 24 kHz
    OUT/flite/manifest.jsonl      flite's awb (Scottish male) and rms (US male) voices, N clips each,
                                  speaking held-out sentences
    OUT/flite_dev/manifest.jsonl  with --dev: the same voices on the next sentences (choosing settings)

Each clip is scored with another clip of its own speaker as the prompt (`jamflow eval --ref
OUT/x/manifest.jsonl --task tts --prompt_seconds 3,5`), so the report's ground-truth row is the
speaker's own recordings: word error on the same sentences, and similarity between their own clips.
flite's slt and kal voices are left out: festival's slt_hts and kal_diphone, both in training, are built
from the same speakers' recordings. No motion: these sets score tts.

`model-stats`: a model fine-tuned on a new corpus must keep the motion normalisation it was trained
with; `jamflow prepare` normalises by the corpus card's stats, so this writes the model's stats into the
card (before `prepare`). The card's own stats are kept under `corpus_stats`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from jamflow.errors import UserError

FLITE_VOICES = ("awb", "rms")


def librivox_rows(out: Path) -> list[dict]:
    from jamflow.audio.io import load_audio, save_wav

    from jamflow.eval.real_speech import LIBRIVOX_DIR, librivox_utterances

    utterances = librivox_utterances()
    if not utterances:
        raise UserError(f"librivox: expected Debian's pocketsphinx-testdata in {LIBRIVOX_DIR} (apt-get install pocketsphinx-testdata)")
    rows = []
    for path, text in utterances:
        wav = load_audio(path)
        rows.append(_row(path.stem, save_wav(out / "wavs" / path.name, wav), text, "librivox:reader", wav))
    return rows


def flite_rows(out: Path, per_voice: int, offset: int = 0) -> list[dict]:
    """per_voice clips of each voice; `offset` skips that many sentences per voice (a development set)."""
    from jamflow.audio.io import load_audio, save_wav
    from jamflow.data.sentences import heldout_sentences

    texts = heldout_sentences()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for v, voice in enumerate(FLITE_VOICES):
            for i in range(per_voice):
                text = texts[len(FLITE_VOICES) * offset + v * per_voice + i]
                raw = Path(tmp) / "clip.wav"
                subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
                wav = load_audio(raw)
                name = f"flite_{voice}_{i:02d}"
                rows.append(_row(name, save_wav(out / "wavs" / f"{name}.wav", wav), text, f"flite:{voice}", wav))
    return rows


def _row(name: str, path: Path, text: str, speaker: str, wav) -> dict:
    from jamflow.audio.io import SAMPLE_RATE

    return {"id": name, "audio": str(Path(path).resolve()), "text": text, "motion": None, "speaker": speaker,
            "duration": round(len(wav) / SAMPLE_RATE, 4), "alignment": None, "split": "test"}


def write(out: Path, rows: list[dict]) -> Path:
    from jamflow.data.manifest import write_manifest

    return write_manifest(out / "manifest.jsonl", rows)  # validated, paths relative to out, atomic


def model_stats(card_path: str, model: str) -> dict:
    from jamflow.data.manifest import read_card, write_card
    from jamflow.model.jam import read_checkpoint_meta

    card = read_card(card_path)
    stats = read_checkpoint_meta(Path(model)).get("motion_stats")
    if not stats or len(stats.get("mean", [])) != len(card["stats"]["mean"]):
        raise UserError(f"model: expected an exported model with motion stats of {len(card['stats']['mean'])} "
                        f"channels, got {model}")
    card.setdefault("corpus_stats", card["stats"])
    card["stats"] = {"mean": list(stats["mean"]), "std": list(stats["std"])}
    write_card(Path(card_path), card)
    return card


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("unseen-sets", help="LibriVox and flite evaluation sets")
    p.add_argument("out")
    p.add_argument("--clips_per_voice", type=int, default=6)
    p.add_argument("--dev", action="store_true",
                   help="also flite_dev/: the same voices on the next sentences, for choosing settings")
    p = sub.add_parser("model-stats", help="write a model's motion stats into a corpus card")
    p.add_argument("card")
    p.add_argument("model")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "unseen-sets":
            out = Path(args.out)
            print(write(out / "librivox", librivox_rows(out / "librivox")))
            print(write(out / "flite", flite_rows(out / "flite", args.clips_per_voice)))
            if args.dev:
                n = args.clips_per_voice
                print(write(out / "flite_dev", flite_rows(out / "flite_dev", n, offset=n)))
        else:
            model_stats(args.card, args.model)
            print(f"{args.card}: motion stats of {args.model}")
    except UserError as e:
        print(f"helpers.py {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
