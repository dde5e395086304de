"""`jamflow` command line: one subcommand per task, each in its own module of `jamflow.commands`.

A command module exposes `add_cli(parser)` (its flags) and `run_cli(args) -> int` (exit code); it parses
flags and calls the domain code, which knows nothing of argparse.
Modules are imported only when their command runs, so `jamflow --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading
import warnings

from jamflow.errors import Terminated, UserError
from jamflow.native_memory import bound_native_caches

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("jamflow.commands.demo", "write a short talking-avatar mp4 + wav with the shipped model"),
    "tts": ("jamflow.commands.tts", "text -> speech (F5-style flags)"),
    "talk": ("jamflow.commands.talk", "text -> talking head with speech"),
    "animate": ("jamflow.commands.animate", "audio -> face animation"),
    "dub": ("jamflow.commands.dub", "lip motion/video + text -> speech that follows the motion"),
    "edit": ("jamflow.commands.edit", "regenerate chosen time spans of speech and motion"),
    "voice": ("jamflow.commands.voice", "fit a voice to a reference clip (a file for --voice): clones it closer"),
    "ui": ("jamflow.commands.ui", "web page (Gradio) for every task, on this machine by default"),
    "batch": ("jamflow.commands.batch", "run many jobs from a file with the model loaded once"),
    "serve": ("jamflow.commands.serve", "HTTP API (OpenAI-style /v1/audio/speech, talk, animate, dub) on one loaded model"),
    "import-f5": ("jamflow.commands.import_f5", "convert an F5-TTS checkpoint into a jamflow checkpoint"),
    "synth-data": ("jamflow.commands.synth_data", "generate the procedural speech + motion corpus"),
    "render": ("jamflow.commands.render", "render a motion file (+ audio) to an mp4"),
    "prepare": ("jamflow.commands.prepare", "cache features of a dataset for training"),
    "align": ("jamflow.commands.align", "phoneme durations of a prepared cache (forced alignment) for training"),
    "train": ("jamflow.commands.train", "train a model from a YAML experiment config"),
    "fit-durations": ("jamflow.commands.fit_durations", "fit the phoneme duration predictor into an exported model"),
    "export": ("jamflow.commands.export", "export an EMA inference checkpoint from a training run"),
    "eval": ("jamflow.commands.eval", "evaluate generated clips against references"),
    "bench": ("jamflow.commands.bench", "speed and memory benchmarks"),
    "extract-motion": ("jamflow.commands.extract_motion", "video -> LivePortrait motion (.npy/.pkl) + audio"),
    "prepare-av": ("jamflow.commands.prepare_av", "folders of talking videos -> manifest + card"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr in the package's form (no usage dump), exit 2."""

    def error(self, message: str):
        m = re.match(r"argument (\S+?)(?:/\S+)?: invalid (\w+) value: (.*)", message)
        if m:
            kind = {"int": "an integer", "float": "a number"}.get(m.group(2), m.group(2))
            message = f"{m.group(1)}: expected {kind}, got {m.group(3)}"
        else:
            message = re.sub(r"^argument (\S+?)(?:/\S+)?: ", r"\1: ", message)
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser(load_commands: bool = True, only: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="jamflow", description="JAM-Flow: joint speech + talking-face generation")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if load_commands and (only is None or only == name):
            importlib.import_module(module_name).add_cli(p)
            parser.command_flags = set(p._option_string_actions)  # for naming flags in errors (_as_flag)
    return parser


def _as_flag(message: str, parser: argparse.ArgumentParser) -> str:
    """An error raised by the Python API names the argument ("ref_audio: ..."); on the command line it
    names the flag the user typed ("--ref_audio: ...")."""
    name, sep, rest = message.partition(":")
    head = name.split(" ")[0]
    if sep and not head.startswith("-") and f"--{head}" in getattr(parser, "command_flags", ()):
        return f"--{name}{sep}{rest}"
    return message


_HANDLER_PID = [None]  # the process that installed _terminate


def _terminate(signum, frame):
    if os.getpid() != _HANDLER_PID[0]:
        # a forked worker (a multiprocessing Pool's) inherits the handler; its pool ends it with SIGTERM,
        # which would print a Terminated traceback per worker: it dies of the signal instead, quietly
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated(signum)


def _default_signals_in_child():
    """After a fork (a multiprocessing Pool's worker): SIGTERM / SIGHUP end the child at once, by the
    kernel's default action. Left to the inherited Python handler, a Pool's terminate() now and then
    waited for ever on a worker blocked on its task queue's lock."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is _terminate:
            try:
                signal.signal(sig, signal.SIG_DFL)
            except ValueError:  # forked from a thread other than the main one: the handler stays
                pass


_AT_FORK_REGISTERED = [False]


def install_signal_handlers() -> dict:
    """SIGTERM / SIGHUP raise `Terminated` in the main thread, so a stopped command unwinds like Ctrl-C:
    temp files are removed and no partial result appears. (`train` installs its own graceful stop on top.)
    Returns the previous handlers; signals ignored by the parent (nohup) stay ignored."""
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    _HANDLER_PID[0] = os.getpid()
    if not _AT_FORK_REGISTERED[0]:
        os.register_at_fork(after_in_child=_default_signals_in_child)
        _AT_FORK_REGISTERED[0] = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        old = signal.getsignal(sig)
        if old is None or old == signal.SIG_IGN:
            continue
        previous[sig] = old
        signal.signal(sig, _terminate)
    return previous


def main(argv: list[str] | None = None) -> int:
    bound_native_caches()  # before any command imports torch: a long stream's memory stays flat
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        if command is None and any(a in ("-h", "--help") for a in argv) or not argv:
            build_parser(load_commands=False).print_help()
            return 0
        what = f"unknown command {command!r}" if command else f"no command (got {' '.join(argv)!r})"
        print(f"jamflow: error: COMMAND: expected one of {', '.join(COMMANDS)}, got {what}; see jamflow --help",
              file=sys.stderr)
        return 2
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[command][0])
    previous = install_signal_handlers()
    formatwarning = warnings.formatwarning  # a warning is one "note:" line, not a file:line + source dump
    warnings.formatwarning = lambda message, *a, **k: f"note: {' '.join(str(message).split())}\n"
    try:
        return int(module.run_cli(args) or 0)
    except UserError as e:
        print(f"jamflow {command}: error: {_as_flag(' '.join(str(e).split()), parser)}", file=sys.stderr)
        return 2
    except Terminated as e:
        print(f"jamflow {command}: stopped by {signal.Signals(e.signum).name}; nothing partial was left", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print(f"jamflow {command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning
        for sig, old in previous.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
