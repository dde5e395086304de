"""`jamflow tts`: text -> speech, F5-TTS flags (the motion generated alongside is saved as .npy)."""
from __future__ import annotations

from jamflow.commands import common


def add_cli(parser):
    common.add_text_args(parser)
    common.add_stream_arg(parser)
    common.add_common_args(parser, default_output="tts.wav")


def run_cli(args) -> int:
    args = common.resolve(args)
    text = common.gen_text_from(args)
    settings = common.settings_from(args).with_seed()
    jam = common.load_model(args)
    common.announce("tts", settings, jam)
    if args.stream:
        return common.run_stream(jam, "tts", args, text, settings)
    result = jam.tts(text, args.ref_audio, args.ref_text, output=common.output_stem(args), settings=settings)
    return common.report(result)
