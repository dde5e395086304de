"""`jamflow edit`: regenerate time spans of speech and/or motion, or continue both."""
from __future__ import annotations

from jamflow import validate
from jamflow.commands import common
from jamflow.errors import UserError


def add_cli(parser):
    parser.add_argument("-a", "--audio", help="speech to edit (wav)")
    parser.add_argument("-t", "--text", help="transcript of the whole result (edited words included)")
    parser.add_argument("--motion", help="motion of the clip (.npy/.pkl); omitted: motion is generated")
    parser.add_argument("--audio_spans", help="seconds to regenerate in the speech, e.g. 1.0-2.2,3-3.5")
    parser.add_argument("--motion_spans", help="seconds to regenerate in the motion")
    parser.add_argument("--extend_s", type=float, help="continue both streams by this many seconds")
    parser.add_argument("--render", action="store_true", default=None, help="also write an mp4")
    common.add_source_args(parser)
    common.add_common_args(parser, default_output="edit.wav")


def run_cli(args) -> int:
    args = common.resolve(args)
    if not args.audio:
        raise UserError("--audio: expected the speech to edit, got nothing")
    if not args.text or not str(args.text).strip():
        raise UserError("--text: expected the transcript of the edited result, got nothing")
    audio_spans = validate.parse_spans(args.audio_spans, "--audio_spans")
    motion_spans = validate.parse_spans(args.motion_spans, "--motion_spans")
    from jamflow.infer.runner import MAX_JOB_S

    extend_s = validate.number("--extend_s", args.extend_s or 0.0, 0, MAX_JOB_S)
    settings = common.settings_from(args).with_seed()
    jam = common.load_model(args)
    common.announce("edit", settings, jam)
    result = jam.edit(args.text, args.audio, args.motion, audio_spans=audio_spans, motion_spans=motion_spans,
                      extend_s=extend_s, source=args.source, render=bool(args.render),
                      output=common.output_stem(args), settings=settings)
    return common.report(result)
