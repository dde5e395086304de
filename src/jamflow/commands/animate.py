"""`jamflow animate`: speech audio -> face motion + mp4 (the audio is used as given)."""
from __future__ import annotations

from jamflow.commands import common
from jamflow.errors import UserError


def add_cli(parser):
    parser.add_argument("-a", "--audio", help="speech to animate (wav/flac/mp3)")
    parser.add_argument("-t", "--text", help="optional transcript of --audio: aligned to it, it shapes the lips (docs/inference.md)")
    common.add_source_args(parser)
    parser.add_argument("--ref_motion", help="motion (.npy/.pkl) whose pose/eye channels are used as context")
    common.add_stream_arg(parser)
    common.add_common_args(parser, default_output="animate.mp4")


def run_cli(args) -> int:
    args = common.resolve(args)
    if not args.audio:
        raise UserError("--audio: expected an audio file to animate, got nothing")
    settings = common.settings_from(args).with_seed()
    jam = common.load_model(args)
    common.announce("animate", settings, jam)
    if args.stream:
        return common.run_stream(jam, "animate", args, args.text, settings)
    result = jam.animate(args.audio, text=args.text, source=args.source, ref_motion=args.ref_motion,
                         output=common.output_stem(args), settings=settings)
    return common.report(result)
