"""Flags shared by the inference commands (F5-TTS names), config-file merging, model loading, output.

Every flag defaults to None so that precedence is explicit: command line > `-c config.toml` > the
defaults of `InferSettings` (or of the command).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jamflow.errors import UserError
from jamflow.infer.settings import SETTING_NAMES, InferSettings, format_settings, load_config_file, make_settings  # noqa: F401

_SETTING_HELP = {
    "nfe_step": (int, "sampling steps (function evaluations), default 32"),
    "cfg_strength": (float, "classifier-free guidance strength, default 2.0"),
    "cfg_strength_motion": (float, "guidance for the motion stream (default: same as --cfg_strength)"),
    "cfg_until": (float, "guide only steps at flow time t < this (0 noise .. 1 data), default 1.0 = all"),
    "sway_sampling_coef": (float, "sway sampling coefficient, default -1.0"),
    "ode_method": (str, "euler | midpoint"),
    "seed": (int, "random seed (default: drawn and printed)"),
    "speed": (float, "speaking speed factor, default 1.0"),
    "fix_duration": (float, "total seconds (reference + generated), as in F5-TTS"),
    "max_chunk_s": (float, "long text: generated seconds per chunk, default 12"),
    "chunk_prompt": (str, "long text: previous (each chunk continues the last) | reference"),
    "context_s": (float, "long text: seconds of the previous speech that prompt the next chunk, default 3"),
    "first_chunk_s": (float, "seconds of the first chunk (a clause; 0 = off), default 1 with --stream, else off"),
    "cross_fade_s": (float, "seconds of audio cross-fade / motion blend at seams, default 0.16"),
    "window_s": (float, "long audio/motion: window seconds, default 10"),
    "window_overlap_s": (float, "long audio/motion: seconds carried between windows, default 1"),
    "motion_smoothing": (float, "Gaussian smoothing of generated motion (sigma in frames), default 0"),
    "head_scale": (float, "scale of head motion around the mean, default 1"),
    "expression_scale": (float, "scale of expression around the mean, default 1"),
    "face_life": (float, "0..2: blinks, gaze, brows and head motion that follow the speech when no context "
                         "motion is given, default 1 (0: a still face; --head_scale 0: a still head)"),
    "target_rms": (float, "reference loudness target, default 0.1"),
    "timbre_match": (float, "0..1: pull the speech's average spectrum towards the reference's, default 0.5"),
}


def add_common_args(p: argparse.ArgumentParser, default_output: str) -> None:
    p.add_argument("-c", "--config", help="TOML file with any of these flags as keys (flags override it)")
    p.add_argument("--ckpt", help="checkpoint folder (config.json + model.safetensors); default: shipped model")
    p.add_argument("--device", help="cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--dtype", help="float32 | float16 | bfloat16 | int8 (CPU: int8 linears, for CPUs without bf16 "
                                   "hardware) (default: per device)")
    p.add_argument("--vocoder", help="Vocos folder (config.yaml + pytorch_model.bin) or griffinlim "
                                     "(default: Vocos from $JAMFLOW_VOCOS / caches, else griffinlim)")
    p.add_argument("--output_dir", help="folder for the outputs (default: outputs)")
    p.add_argument("--output_file", help=f"output name; .wav/.npy/.mp4 share its stem (default: {default_output})")
    p.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    add_setting_args(p.add_argument_group("sampling settings"), SETTING_NAMES)
    p.set_defaults(_default_output=default_output)


def add_setting_args(group, names, help_prefix: str = "") -> None:
    """--name flags (default None) for the InferSettings fields `names`, typed and described once here."""
    for name in names:
        typ, text = _SETTING_HELP[name]
        group.add_argument(f"--{name}", type=typ, default=None, help=help_prefix + text)


def add_text_args(p: argparse.ArgumentParser, reference: bool = True) -> None:
    p.add_argument("-t", "--gen_text", help="text to speak")
    p.add_argument("-f", "--gen_file", help="file with the text to speak (overrides --gen_text)")
    if reference:
        p.add_argument("-r", "--ref_audio", help="reference voice (wav/flac/mp3); none: text-only generation")
        p.add_argument("-s", "--ref_text", help='transcript of --ref_audio ("auto": optional offline ASR)')


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill flags left unset from the config file; reject unknown config keys."""
    if getattr(args, "config", None):
        data = load_config_file(args.config)
        known = {k for k in vars(args) if not k.startswith("_")} - {"command", "config"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"--config: expected keys among {sorted(known)}, got unknown {unknown}")
        for key, value in data.items():
            if getattr(args, key, None) is None:
                setattr(args, key, value)
    return args


def settings_from(args: argparse.Namespace) -> InferSettings:
    values = {k: getattr(args, k, None) for k in SETTING_NAMES}
    try:
        return make_settings(None, **values)
    except TypeError as e:  # wrong type in a config file
        raise UserError(f"--config: expected values of the flags' types, got {e}") from None


def gen_text_from(args, required: bool = True) -> str | None:
    if getattr(args, "gen_file", None):
        path = Path(args.gen_file)
        if not path.is_file():
            raise UserError(f"--gen_file: expected an existing text file, got {str(path)!r}")
        return path.read_text(encoding="utf-8")
    text = getattr(args, "gen_text", None)
    if required and (text is None or not str(text).strip()):
        raise UserError("--gen_text: expected non-empty text (or --gen_file), got nothing")
    return text


def output_stem(args) -> Path:
    name = args.output_file or args._default_output
    folder = Path(args.output_dir or "outputs")
    out = Path(name) if Path(name).is_absolute() else folder / name
    return out


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="avatar (default) | portrait image | video (LivePortrait renderer)")
    p.add_argument("--liveportrait_weights", help="LivePortrait pretrained_weights folder for a portrait/video "
                                                  "--source (default: $JAMFLOW_LIVEPORTRAIT_WEIGHTS)")


FILE_ARGS = ("ref_audio", "audio", "motion", "ref_motion", "context_motion", "video", "source")


def precheck_files(args) -> None:
    """Missing input files fail before the model is loaded."""
    for name in FILE_ARGS:
        value = getattr(args, name, None)
        if value and not (name == "source" and value == "avatar") and not Path(value).is_file():
            raise UserError(f"--{name}: expected an existing file, got {str(value)!r}")


def load_model(args):
    import warnings

    from jamflow.infer.api import JAMFlow

    precheck_files(args)
    with warnings.catch_warnings(record=True) as caught:  # e.g. "no Vocos weights": one line, not a traceback
        warnings.simplefilter("always")
        jam = JAMFlow.from_pretrained(args.ckpt, device=args.device, dtype=args.dtype, vocoder=args.vocoder,
                                      progress=not args.quiet)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    jam.liveportrait_weights = getattr(args, "liveportrait_weights", None)
    return jam


def announce(command: str, settings: InferSettings, jam=None) -> None:
    where = ""
    if jam is not None:
        precision = "int8" if jam.int8 else str(jam.dtype).replace("torch.", "")
        where = f" on {jam.device} ({precision})"
    print(f"jamflow {command}{where}: seed={settings.seed} | {format_settings(settings)}", flush=True)


def report(result) -> int:
    for kind, path in result.paths.items():
        print(f"wrote {kind}: {path}")
    print(f"duration {result.duration:.2f} s, {result.chunks} chunk(s), seed {result.seed}", file=sys.stdout)
    return 0
