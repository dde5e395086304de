"""`jamflow dub`: lip motion (or a video + its motion) + text -> speech that follows the motion."""
from __future__ import annotations

from jamflow.commands import common
from jamflow.errors import UserError


def add_cli(parser):
    common.add_text_args(parser)
    parser.add_argument("--video", help="video to dub; the new speech is muxed into it (motion: --motion or "
                                        "<video>.npy beside it, from `jamflow extract-motion`)")
    parser.add_argument("--motion", help="motion file (.npy [T, 70] at 25 fps, or LivePortrait .pkl)")
    common.add_common_args(parser, default_output="dub.mp4")


def run_cli(args) -> int:
    args = common.resolve(args)
    text = common.gen_text_from(args)
    if not args.video and not args.motion:
        raise UserError("--motion: expected --motion and/or --video, got neither")
    settings = common.settings_from(args).with_seed()
    jam = common.load_model(args)
    common.announce("dub", settings, jam)
    result = jam.dub(text, args.motion, args.ref_audio, args.ref_text, video=args.video,
                     output=common.output_stem(args), settings=settings)
    return common.report(result)
