"""`jamflow demo`: a short talking-avatar mp4 + wav from a built-in sentence, with the shipped model."""
from __future__ import annotations

from pathlib import Path

from jamflow.commands import common

DEMO_TEXT = "Hello! I am a talking face. My voice and my lips are made together, by one model."
# blinks and head sway for a lips model's demo (its eyes + pose context, looped): a procedural corpus clip
DEMO_CONTEXT_MOTION = Path(__file__).resolve().parent.parent / "assets" / "demo_context_motion.npy"


def add_cli(parser):
    parser.add_argument("-t", "--gen_text", help="text to say instead of the built-in sentence")
    common.add_common_args(parser, default_output="demo.mp4")


def run_cli(args) -> int:
    args = common.resolve(args)
    settings = common.settings_from(args)
    if settings.seed is None:
        settings = common.make_settings(settings, seed=0)  # the demo looks the same every time
    jam = common.load_model(args)
    common.announce("demo", settings, jam)
    context = DEMO_CONTEXT_MOTION if jam.codec.spec.context_dim else None  # the default model generates its own
    result = jam.talk(args.gen_text or DEMO_TEXT, context_motion=context, output=common.output_stem(args),
                      settings=settings)
    return common.report(result)
