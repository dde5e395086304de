"""Import an F5-style metadata.csv as a manifest, or check a manifest (data/manifest.py):

    python -m jamflow.commands.manifest metadata.csv manifest.jsonl
    python -m jamflow.commands.manifest --check manifest.jsonl
"""
from __future__ import annotations

import argparse
from pathlib import Path

from jamflow.data.manifest import import_metadata_csv, read_card, read_manifest
from jamflow.errors import UserError


def main(argv=None) -> int:
    """`python -m jamflow.commands.manifest metadata.csv manifest.jsonl` (F5 import) or `--check manifest.jsonl`."""
    p = argparse.ArgumentParser(prog="python -m jamflow.commands.manifest", description=main.__doc__)
    p.add_argument("input", help="metadata.csv to import, or manifest.jsonl with --check")
    p.add_argument("output", nargs="?", help="manifest.jsonl to write")
    p.add_argument("--check", action="store_true", help="validate a manifest (and card.json beside it)")
    p.add_argument("--speaker", default=None)
    p.add_argument("--heldout_fraction", type=float, default=0.0)
    args = p.parse_args(argv)
    try:
        if args.check:
            rows = read_manifest(args.input)
            card = Path(args.input).parent / "card.json"
            if card.exists():
                read_card(card)
            print(f"ok: {len(rows)} clips, {sum(r['duration'] for r in rows) / 3600:.3f} h")
        else:
            if not args.output:
                raise UserError("output: expected a manifest.jsonl path to write, got none")
            rows = import_metadata_csv(args.input, args.output, args.speaker, args.heldout_fraction)
            print(f"wrote {args.output}: {len(rows)} clips")
    except UserError as e:
        print(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
