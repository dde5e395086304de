"""`jamflow voice`: fit a voice to a reference clip, for `--voice` on tts, talk and dub (infer/voice_fit.py)."""
from __future__ import annotations

from pathlib import Path

from jamflow import validate
from jamflow.commands import common
from jamflow.errors import UserError

FLAGS = {"voice_steps": "--steps", "voice_rank": "--rank", "voice_lr": "--lr", "voice_strength": "--strength",
         "voice_batch": "--batch"}  # VoiceFitConfig's names for these flags, in its error messages


def add_cli(parser):
    parser.add_argument("-r", "--ref_audio", help="the voice: a 3-12 s clip of one speaker (wav/flac/mp3)")
    parser.add_argument("-s", "--ref_text", help='transcript of --ref_audio ("auto": optional offline ASR)')
    parser.add_argument("-o", "--output", help="the voice file to write (.safetensors)")
    parser.add_argument("--steps", type=int, default=40, help="adapter updates (~1.5 s each on 2 CPU cores), default 40")
    parser.add_argument("--strength", type=float, default=0.5, help="how much of the fitted update tts/talk/dub "
                        "apply, 0 < x <= 1, default 0.5 (1: the voice closer, fewer words understood)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=8, help="adapter rank, default 8")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ckpt", help="the model the voice is for (default: the shipped whole-face model; lips: "
                                       "the shipped lips model); a voice only serves the model it was fitted to")
    parser.add_argument("--device", help="cpu | cuda | cuda:N | mps (default: auto)")
    parser.add_argument("--dtype", help="float32 | float16 | bfloat16: the compute precision of the fit (default: "
                                        "per device)")
    parser.add_argument("--quiet", action="store_true", default=None, help="no progress bar")
    common.add_limit_arg(parser)
    parser.set_defaults(vocoder="griffinlim", fast=None)  # a fit vocodes nothing; no student can be fitted


def check_args(args):
    """Every flag before the model loads -> the fit config."""
    from jamflow.infer.voice_fit import SUFFIX, VoiceFitConfig

    for flag in ("ref_audio", "ref_text", "output"):
        if not getattr(args, flag):
            raise UserError(f"--{flag}: expected a value, got nothing")
    if Path(args.output).suffix != SUFFIX:
        raise UserError(f"--output: expected a voice file name ending in {SUFFIX}, got {Path(args.output).name!r}")
    validate.writable_folder(Path(args.output).resolve().parent, "--output")
    if args.dtype == "int8":
        raise UserError("--dtype: expected float32, float16 or bfloat16 to fit a voice, got int8 (quantised weights)")
    try:
        return VoiceFitConfig(args.steps, args.rank, args.lr, seed=args.seed, strength=args.strength).check()
    except UserError as e:
        name, _, rest = str(e).partition(":")
        raise UserError(f"{FLAGS.get(name, name)}:{rest}") from None


def run_cli(args) -> int:
    cfg = check_args(args)
    jam = common.load_model(args)
    print(f"jamflow voice on {jam.device}: fitting {cfg.steps} updates to {args.ref_audio}", flush=True)
    voice = jam.fit_voice(args.ref_audio, args.ref_text, output=args.output, steps=cfg.steps,
                          strength=cfg.strength, seed=cfg.seed, rank=cfg.rank, lr=cfg.lr)
    fit = voice.fit
    print(f"loss {fit['loss_first']:.3f} -> {fit['loss_last']:.3f} in {fit['seconds']:.0f} s")
    print(f"wrote voice: {args.output} (use: jamflow tts --voice {args.output} -t \"...\")")
    return 0
