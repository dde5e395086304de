"""`jamflow talk`: text -> speech + talking-face motion + mp4 (built-in avatar or a portrait)."""
from __future__ import annotations

from jamflow.commands import common


def add_cli(parser):
    common.add_text_args(parser)
    common.add_source_args(parser)
    parser.add_argument("--ref_motion", help="motion (.npy/.pkl) of the reference clip: prompt + pose/eye context")
    parser.add_argument("--context_motion", help="motion (.npy/.pkl) whose eyes and head pose are looped under the "
                        "generated mouth (default: --ref_motion, else a still neutral head)")
    common.add_stream_arg(parser)
    common.add_common_args(parser, default_output="talk.mp4")


def run_cli(args) -> int:
    args = common.resolve(args)
    text = common.gen_text_from(args)
    settings = common.settings_from(args).with_seed()
    jam = common.load_model(args)
    common.announce("talk", settings, jam)
    if args.stream:
        return common.run_stream(jam, "talk", args, text, settings)
    result = jam.talk(text, args.ref_audio, args.ref_text, source=args.source, ref_motion=args.ref_motion,
                      context_motion=args.context_motion, output=common.output_stem(args), settings=settings)
    return common.report(result)
