"""The shipped whole-face model from the recipe's export: its motion stream, motion spec and motion
statistics on the lips model's speech side (Audio-DiT, duration predictor, text layout rules, phone
aligner), written
as a checkpoint stored over the lips model (src/jamflow/model/checkpoint_files.py).

    python3 recipes/face_model/package.py EXPORT LIPS OUT [--standalone]

EXPORT: the recipe's `export/` (trained with the Audio-DiT frozen, so its speech side is the lips
model's but for the duration predictor that fit-durations refitted). LIPS: the lips model it started
from. OUT: the folder to write; --standalone writes every tensor (for evaluating it anywhere).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import save_file

from jamflow.audio.phone_align import ALIGNER_NAME
from jamflow.model.checkpoint_files import CONFIG_NAME, WEIGHTS_NAME, read_tensors, store_over_base

MOTION_PREFIX = "motion."
MOTION_CONFIG = ("motion_spec",)  # the config entries that belong to the motion side


def compose(export: Path, lips: Path, out: Path) -> None:
    face_meta = json.loads((export / CONFIG_NAME).read_text())
    meta = json.loads((lips / CONFIG_NAME).read_text())
    if face_meta["config"]["motion"] != meta["config"]["motion"]:
        sys.exit(f"package: expected {export}'s motion stream to have the lips model's shape")
    for key in MOTION_CONFIG:
        meta["config"][key] = face_meta["config"][key]
    meta["motion_stats"] = face_meta["motion_stats"]
    face, speech = read_tensors(export / WEIGHTS_NAME), read_tensors(lips / WEIGHTS_NAME)
    frozen = [k for k in speech if k.startswith("audio.") and not speech[k].equal(face[k])]
    if frozen:
        sys.exit(f"package: expected the Audio-DiT frozen in {export}, got {len(frozen)} changed tensors, "
                 f"e.g. {frozen[0]}")
    state = {k: v for k, v in speech.items() if not k.startswith(MOTION_PREFIX)}
    state.update({k: v for k, v in face.items() if k.startswith(MOTION_PREFIX)})
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    save_file(state, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    (out / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
    if (lips / ALIGNER_NAME).is_file():  # the speech side's phone aligner (0.35 MB) travels with it
        shutil.copy2(lips / ALIGNER_NAME, out / ALIGNER_NAME)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("lips", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--standalone", action="store_true", help="every tensor in OUT, no base")
    args = parser.parse_args()
    compose(args.export, args.lips, args.out)
    if not args.standalone:
        shared = store_over_base(args.out, args.lips)
        print(f"{args.out}: {shared} tensors read from {args.lips}")
    size = (args.out / WEIGHTS_NAME).stat().st_size
    print(f"{args.out / WEIGHTS_NAME}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
