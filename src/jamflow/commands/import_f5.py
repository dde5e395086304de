"""`jamflow import-f5`: an F5-TTS checkpoint -> a jamflow checkpoint (F5 audio stream, fresh motion stream)."""
from __future__ import annotations

import argparse
from pathlib import Path

from jamflow.errors import UserError
from jamflow.fileio import write_text_atomic
from jamflow.model.f5_weights import VERSIONS, jam_model_from_f5, load_f5tts
from jamflow.motion.spec import get_spec


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ckpt", help="F5-TTS checkpoint: model_*.safetensors or a training model_*.pt")
    parser.add_argument("out_dir", help="folder to write the jamflow checkpoint into")
    parser.add_argument("--version", choices=sorted(VERSIONS), default="v1",
                        help="v1 = F5TTS_v1_Base (default), v0 = F5TTS_Base (RoPE on head 0, no text padding mask)")
    parser.add_argument("--motion_preset", default="base",
                        help="preset whose Motion-DiT is created fresh next to the F5 audio stream (tiny/small/base), "
                             "or 'none' for an audio-only checkpoint")
    parser.add_argument("--motion_spec", default="lips", help="motion spec: lips (paper) or full")
    parser.add_argument("--vocab", default=None, help="F5's vocab.txt (copied into the checkpoint; tokenizer 'char')")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh motion stream")


def read_vocab(path: str | None) -> list[str] | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise UserError(f"--vocab: expected a vocab.txt file, got {path!r}")
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def run_cli(args) -> int:
    get_spec(args.motion_spec)  # fail before reading a large checkpoint
    out_dir = Path(args.out_dir)
    vocab_lines = read_vocab(args.vocab)
    audio = load_f5tts(args.ckpt, args.version)
    if vocab_lines is not None and len(vocab_lines) != audio.cfg.text_num_embeds:
        raise UserError(f"--vocab: expected {audio.cfg.text_num_embeds} lines to match the checkpoint, got {len(vocab_lines)}")
    preset = None if args.motion_preset == "none" else args.motion_preset
    model = jam_model_from_f5(audio, preset, args.motion_spec, "vocab.txt" if vocab_lines is not None else None,
                              args.seed)
    model.save_pretrained(out_dir)
    if vocab_lines is not None:
        write_text_atomic(out_dir / "vocab.txt", "\n".join(vocab_lines) + "\n")
    counts = model.num_params()
    print(f"wrote {out_dir} (audio {counts['audio'] / 1e6:.1f}M from {Path(args.ckpt).name} [{args.version}], "
          f"motion {counts['motion'] / 1e6:.1f}M fresh, joint layers {model.cfg.joint_layers})")
    return 0
