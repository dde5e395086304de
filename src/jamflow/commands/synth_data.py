"""`jamflow synth-data`: generate the procedural speech + motion corpus (data/synth.py)."""
from __future__ import annotations

import time
from pathlib import Path

from jamflow.data.sentences import SHIPPED_SEED, generate_sentences
from jamflow.data.synth import DEFAULT_HELDOUT_VOICES, render_previews, synth_corpus
from jamflow.errors import UserError
from jamflow.motion.spec import SPECS
from jamflow.validate import writable_folder


def add_cli(parser) -> None:
    parser.add_argument("--out", required=True, help="output folder (manifest.jsonl, card.json, wavs/, motion/, align/)")
    parser.add_argument("--num_clips", type=int, default=200)
    parser.add_argument("--sentences", default=None, help="text file, one sentence per line (default: the shipped list)")
    parser.add_argument("--num_sentences", type=int, default=None,
                        help="draw from N generated sentences instead of the shipped 3000 (the first 3000 are those)")
    parser.add_argument("--voices", default="espeak,festival", help="voice families: comma list of espeak, festival, hibari, kokoro")
    parser.add_argument("--festival_share", type=float, default=0.5,
                        help="fraction of clips from festival when the families are espeak and festival")
    parser.add_argument("--voice_shares", default=None,
                        help="family=weight comma list, e.g. festival=0.4,hibari=0.4,espeak=0.2 (default: equal)")
    parser.add_argument("--augment_share", type=float, default=0.0,
                        help="fraction of clips spoken by a warped speaker of their voice (needs pyworld)")
    parser.add_argument("--warps_per_voice", type=int, default=8, help="warped speakers made of each voice")
    parser.add_argument("--heldout_voices", default=",".join(DEFAULT_HELDOUT_VOICES),
                        help="comma list of engine:voice kept out of train ('' for none)")
    parser.add_argument("--heldout_fraction", type=float, default=0.05, help="fraction of sentences (by hash) kept for test")
    parser.add_argument("--remake_motion", action="store_true",
                        help="clips already written keep their audio and get their motion made again (same seeds)")
    parser.add_argument("--motion_spec", default="full", choices=sorted(SPECS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--preview", type=int, default=0, help="also render this many avatar mp4s into preview/")


def parse_shares(text: str) -> dict[str, float]:
    shares = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UserError(f"voice_shares: expected family=weight pairs like festival=0.5,hibari=0.5, got {text!r}")
    return shares


def run_cli(args) -> int:
    writable_folder(args.out, "--out")  # a read-only or pseudo file system fails now, not after synthesis
    families = [f.strip() for f in args.voices.split(",") if f.strip()]
    if not families:
        raise UserError("voices: expected a comma list of espeak, festival, hibari, kokoro, got nothing")
    shares = parse_shares(args.voice_shares) if args.voice_shares else None
    heldout = tuple(v.strip() for v in args.heldout_voices.split(",") if v.strip())
    sentences = args.sentences
    if args.num_sentences is not None:
        if args.sentences is not None:
            raise UserError("num_sentences: expected either --sentences FILE or --num_sentences N, got both")
        if args.num_sentences < 1:
            raise UserError(f"num_sentences: expected >= 1, got {args.num_sentences}")
        sentences = generate_sentences(args.num_sentences, seed=SHIPPED_SEED)
    start = time.time()
    rows = synth_corpus(args.out, args.num_clips, sentences, families, args.seed, args.workers,
                        args.festival_share, heldout, args.heldout_fraction, args.motion_spec, shares=shares,
                        augment_share=args.augment_share, warps_per_voice=args.warps_per_voice,
                        remake_motion=args.remake_motion)
    took = time.time() - start
    hours = sum(r["duration"] for r in rows) / 3600
    tests = sum(r["split"] == "test" for r in rows)
    print(f"wrote {len(rows)} clips ({hours * 60:.1f} min of speech, {tests} test) to {args.out} in {took:.1f} s "
          f"({hours * 3600 / max(took, 1e-9):.1f}x real time)")
    if args.preview:
        for p in render_previews(Path(args.out), rows, args.preview):
            print(f"preview: {p}")
    return 0
