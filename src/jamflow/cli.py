"""`jamflow` command line: one subcommand per task; each lives in the module that owns the work.

A command module exposes `add_cli(parser)` (its flags) and `run_cli(args) -> int` (exit code).
Modules are imported only when their command runs, so `jamflow --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from jamflow.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("jamflow.infer.cli_demo", "write a short talking-avatar mp4 + wav with the shipped model"),
    "tts": ("jamflow.infer.cli_tts", "text -> speech (F5-style flags)"),
    "talk": ("jamflow.infer.cli_talk", "text -> talking head with speech"),
    "animate": ("jamflow.infer.cli_animate", "audio -> face animation"),
    "dub": ("jamflow.infer.cli_dub", "lip motion/video + text -> speech that follows the motion"),
    "edit": ("jamflow.infer.cli_edit", "regenerate chosen time spans of speech and motion"),
    "ui": ("jamflow.ui.cli", "web page (Gradio) for every task, on this machine by default"),
    "batch": ("jamflow.infer.cli_batch", "run many jobs from a file with the model loaded once"),
    "import-f5": ("jamflow.model.f5_weights", "convert an F5-TTS checkpoint into a jamflow checkpoint"),
    "synth-data": ("jamflow.data.synth", "generate the procedural speech + motion corpus"),
    "render": ("jamflow.render.cli", "render a motion file (+ audio) to an mp4"),
    "prepare": ("jamflow.data.prepare", "cache features of a dataset for training"),
    "align": ("jamflow.data.align", "phoneme durations of a prepared cache (forced alignment) for training"),
    "train": ("jamflow.train.trainer", "train a model from a YAML experiment config"),
    "fit-durations": ("jamflow.train.fit_durations", "fit the phoneme duration predictor into an exported model"),
    "export": ("jamflow.train.checkpoints", "export an EMA inference checkpoint from a training run"),
    "eval": ("jamflow.eval.report", "evaluate generated clips against references"),
    "bench": ("jamflow.eval.bench", "speed and memory benchmarks"),
    "extract-motion": ("jamflow.render.liveportrait.extract", "video -> LivePortrait motion (.npy/.pkl) + audio"),
    "prepare-av": ("jamflow.data.prepare_av", "folders of talking videos -> manifest + card"),
}


def build_parser(load_commands: bool = True, only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jamflow", description="JAM-Flow: joint speech + talking-face generation")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if load_commands and (only is None or only == name):
            importlib.import_module(module_name).add_cli(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        build_parser(load_commands=False).print_help()
        return 0 if command is None else 2
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return int(module.run_cli(args) or 0)
    except UserError as e:
        print(f"jamflow {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jamflow {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
