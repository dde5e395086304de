"""The Python API: load a JAM-Flow model once, then call one method per task.

    from jamflow import JAMFlow
    jam = JAMFlow.from_pretrained()                      # shipped model; or a checkpoint folder
    out = jam.talk("Hello there.", output="out/hello.mp4")
    out.wav, out.motion, out.paths                        # [s] @24 kHz, [T, 70] @25 fps, written files

Every method validates its inputs before any work starts, takes the settings of
`jamflow.infer.settings.InferSettings` as keyword arguments, and returns a `Result`. Files are written
atomically (temp + rename): `<stem>.wav` (speech), `<stem>.npy` (motion [T, 70]) and `<stem>.mp4`
(rendered video with the speech muxed) as the task produces them. `tts_stream`, `talk_stream` and
`animate_stream` yield the same results piece by piece while they are generated (docs/inference.md).

    voice = jam.fit_voice("me.wav", "what I say in it", output="me.safetensors")  # ~1 min on a CPU
    jam.use_voice(voice)          # or the file; the reference of every text task until use_voice(None)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jamflow import validate
from jamflow.errors import UserError
from jamflow.infer import dub_windows, inputs, runner
from jamflow.infer.engine import Engine, pick_device, pick_dtype  # noqa: F401 - pick_*: the loaders' checks
from jamflow.infer.inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # noqa: F401 - the accepted inputs
from jamflow.infer.longform import Piece
from jamflow.infer.outputs import write_outputs
from jamflow.infer.prompt import clean_text
from jamflow.infer.settings import InferSettings, make_settings
from jamflow.limits import Limits
from jamflow.render.stream_video import check_streamable
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL_DIR = ASSETS_DIR / "model"  # the whole-face model, stored over the lips model (model/checkpoint_files.py)
LIPS_MODEL_DIR = ASSETS_DIR / "model_lips"  # the lips model: the mouth generated, eyes and head as context
DEFAULT_STUDENT_DIR = ASSETS_DIR / "model_fast"  # the lips model's 4-step student
SHIPPED_NAMES = {"default": DEFAULT_MODEL_DIR, "lips": LIPS_MODEL_DIR}  # --ckpt names of the shipped models


@dataclass
class Result:
    wav: np.ndarray | None  # [samples] float32 at 24 kHz
    motion: np.ndarray | None  # [frames, 70] float32 at 25 fps, denormalised
    seed: int
    settings: InferSettings
    paths: dict[str, Path] = field(default_factory=dict)  # "wav" / "motion" / "video" -> written file
    chunks: int = 1  # sampler calls the job was split into
    sample_rate: int = SAMPLE_RATE
    fps: int = int(MOTION_FPS)

    @property
    def duration(self) -> float:
        if self.wav is not None:
            return len(self.wav) / self.sample_rate
        return 0.0 if self.motion is None else len(self.motion) / self.fps


def resolve_checkpoint(path: str | Path | None, student=None) -> Path:
    """A checkpoint folder (config.json + model.safetensors). None: the shipped whole-face model, or with
    the shipped student the lips model it was distilled from; "default" / "lips": those two by name."""
    if path in (None, ""):
        path = "lips" if student == "shipped" else "default"
    if str(path) in SHIPPED_NAMES:
        folder = SHIPPED_NAMES[str(path)]
        if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
            raise UserError(
                f"ckpt: expected the shipped model in {folder} (config.json + model.safetensors), got none - "
                "reinstall jamflow, or pass --ckpt DIR (a folder from `jamflow export` or `jamflow import-f5`), "
                "or JAMFlow.from_pretrained('DIR').")
        return folder
    folder = Path(path)
    if folder.is_file() and folder.suffix == ".safetensors":
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"ckpt: expected a checkpoint folder, got missing path {str(path)!r}")
    missing = [n for n in ("config.json", "model.safetensors") if not (folder / n).is_file()]
    if missing:
        raise UserError(f"ckpt: expected config.json and model.safetensors in {str(folder)!r}, missing {missing}")
    return folder


def resolve_student(student: str | Path, checkpoint: Path) -> Path:
    """"shipped" (the shipped student; only with the shipped lips model) or a student folder."""
    if str(student) != "shipped":
        return Path(student)
    if checkpoint.resolve() != LIPS_MODEL_DIR.resolve():
        raise UserError(f"fast: expected the shipped lips model (no --ckpt, or --ckpt lips) with the shipped student, "
                        f"got --ckpt {checkpoint}; pass the student folder distilled from it (`jamflow export` of a "
                        f"distill run) instead")
    return DEFAULT_STUDENT_DIR


def shipped_name(folder: Path | None) -> str | None:
    """"default" / "lips" for a shipped model's folder, else None."""
    if folder is None:
        return None
    return next((name for name, f in SHIPPED_NAMES.items() if Path(folder).resolve() == f.resolve()), None)


class JAMFlow:
    """A loaded model + vocoder (the `Engine`); one method per task."""

    def __init__(self, model, vocoder=None, device=None, dtype=None, tokenizer=None, progress: bool = True,
                 checkpoint_dir: Path | None = None, limits: Limits | None = None):
        if limits is not None and not isinstance(limits, Limits):
            raise UserError(f"limits: expected a jamflow.limits.Limits, got {type(limits).__name__}")
        self.limits = limits or Limits()  # input limits every task method enforces (raise them here)
        self.engine = Engine.create(model, device, dtype, tokenizer, vocoder, checkpoint_dir, progress)
        self.config = model.cfg
        self.checkpoint_dir = checkpoint_dir
        self.liveportrait_weights = None  # LivePortrait weights folder; None: $JAMFLOW_LIVEPORTRAIT_WEIGHTS
        self.voice = None  # the fitted voice in use (use_voice), or None
        self.voice_strength = None  # the strength it is applied at
        self._replaced_weights = None  # what apply_voice replaced in the model, while a voice is in use

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device=None, dtype=None, vocoder=None,
                        progress: bool = True, limits: Limits | None = None, student=None) -> "JAMFlow":
        """student: a few-step student of this checkpoint (a folder from `jamflow export` of a distill
        run), or "shipped" for the shipped model's (docs/inference.md, "The fast model")."""
        from jamflow.model.jam import JAMModel

        folder = resolve_checkpoint(path, student)
        model = JAMModel.from_pretrained(folder)
        if student is not None:
            from jamflow.model.student import apply_student

            apply_student(model, resolve_student(student, folder))
        return cls(model, vocoder=vocoder, device=device, dtype=dtype, progress=progress, checkpoint_dir=folder,
                   limits=limits)

    # the engine's parts, as attributes of the loaded model (vocoder and progress may be swapped)
    model = property(lambda self: self.engine.model)
    tokenizer = property(lambda self: self.engine.tokenizer)
    codec = property(lambda self: self.engine.codec)
    device = property(lambda self: self.engine.device)
    dtype = property(lambda self: self.engine.dtype)
    int8 = property(lambda self: self.engine.int8)
    has_motion = property(lambda self: self.engine.has_motion)
    vocoder = property(lambda self: self.engine.vocoder, lambda self, v: setattr(self.engine, "vocoder", v))
    progress = property(lambda self: self.engine.progress, lambda self, v: setattr(self.engine, "progress", v))

    # ---------------------------------------------------------------------------------------
    # fitted voices (infer/voice_fit.py)

    def fit_voice(self, ref_audio, ref_text: str, *, output=None, steps: int = 40, strength: float = 0.5,
                  seed: int = 0, rank: int = 8, lr: float = 1e-3):
        """Adapters fitted to the reference clip `ref_audio` and its transcript (~1 min for 40 steps on 2 CPU
        cores) -> a `FittedVoice`, also saved to `output` (a .safetensors file) when given. The model is
        left as it was; `use_voice` puts the voice in use."""
        from jamflow.infer.voice_fit import SUFFIX, VoiceFitConfig, fit_voice

        cfg = VoiceFitConfig(steps, rank, lr, seed=seed, strength=strength).check()
        if output is not None and Path(output).suffix != SUFFIX:
            raise UserError(f"output: expected a voice file name ending in {SUFFIX}, got {Path(output).name!r}")
        self._check_call(None, ref_text=ref_text)
        wav = inputs.audio_arg(ref_audio, "ref_audio", self.limits)
        in_use = self.voice, self.voice_strength
        self.use_voice(None)  # fitted against the base model
        try:
            voice = fit_voice(self.engine, wav, ref_text, cfg, show_progress=self.progress)
        finally:
            if in_use[0] is not None:
                self.use_voice(*in_use)
        if output is not None:
            voice.save(output)
        return voice

    def use_voice(self, voice, strength: float | None = None) -> None:
        """Speak in a fitted voice (a `FittedVoice` or its file) at `strength` (default: the voice's): its
        update is folded into the model, and its clip and transcript become the reference of tts, talk
        and dub, which then take no ref_audio. None: back to the base model."""
        from jamflow.infer.voice_fit import FittedVoice, apply_voice, load_voice, restore_weights

        if voice is not None and not isinstance(voice, FittedVoice):
            voice = load_voice(voice)
        if voice is not None and (self.int8 or getattr(self.model, "student", None) is not None):
            raise UserError("voice: expected the full model in float weights, got "
                            + ("int8 weights; drop --dtype int8" if self.int8 else "a few-step student; drop --fast"))
        if self._replaced_weights is not None:
            restore_weights(self.model, self._replaced_weights)
            self.voice, self.voice_strength, self._replaced_weights = None, None, None
        if voice is not None:
            self._replaced_weights = apply_voice(self.model, voice, strength)
            self.voice, self.voice_strength = voice, voice.strength if strength is None else strength

    # ---------------------------------------------------------------------------------------
    # tasks

    def tts(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *, output=None,
            settings: InferSettings | None = None, **overrides) -> Result:
        """Text -> speech (the motion generated alongside is returned too, and saved as .npy)."""
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, gen_text=gen_text, ref_text=ref_text)
        request = runner.TextRequest.for_tts(self.engine, clean_text(gen_text, "gen_text"),
                                            *self._reference(ref_audio, ref_text))
        out = runner.run_text(self.engine, request, s)
        return self._finish(out, s, output, write_video=False, face_life=True)

    def tts_stream(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *,
                   settings: InferSettings | None = None, **overrides):
        """Text as a stream: yields (wav [s], motion [T, 70] | None) pieces as soon as each is final, for
        playback or writing while later chunks are still being sampled. The first chunk is a short
        clause (`first_chunk_s`, 1 s unless set), so the first piece comes quickly. The motion is not
        post-processed. With the same settings, the pieces joined equal `tts(...)`'s wav."""
        s = make_settings(settings, **overrides).with_seed().for_stream()
        self._check_call(None, gen_text=gen_text, ref_text=ref_text)
        request = runner.TextRequest.for_tts(self.engine, clean_text(gen_text, "gen_text"),
                                            *self._reference(ref_audio, ref_text))
        from jamflow.infer.stream import as_tuples

        return as_tuples(runner.TextStream(self.engine, request, s))

    def talk_stream(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *, source=None,
                    ref_motion=None, context_motion=None, render: bool = True, settings: InferSettings | None = None,
                    **overrides):
        """`talk` as a stream of `StreamPiece`s (start frame, wav [k*960], motion [k, 70] post-processed, frames:
        k rendered uint8 [H, W, 3] unless render=False), at most a second each, in order, as soon as each is
        final. Inputs are checked now; sampling starts on the first `next()`. Closing the iterator early
        stops the sampling thread. With the same settings, the pieces joined equal `talk(...)`'s wav and motion."""
        self._need_motion("talk")
        self._check_call(None, gen_text=gen_text, ref_text=ref_text)
        s = make_settings(settings, **overrides).with_seed().for_stream()
        renderer = check_streamable(self._renderer(source)) if render else None
        request, face_life = self._talk_request(gen_text, ref_audio, ref_text, ref_motion, context_motion)
        from jamflow.infer.stream import finish_pieces

        return finish_pieces(self.engine, runner.TextStream(self.engine, request, s), s, renderer, face_life=face_life)

    def animate_stream(self, audio, *, text: str | None = None, source=None, ref_motion=None, render: bool = True,
                       settings: InferSettings | None = None, **overrides):
        """`animate` of any length as a stream of `StreamPiece`s (the input audio's slice, motion, frames),
        window by window; with the same settings, the pieces joined equal `animate(...)`'s outputs."""
        self._need_motion("animate")
        self._check_call(None, text=text)
        s = make_settings(settings, **overrides).with_seed()
        renderer = check_streamable(self._renderer(source)) if render else None
        wav = inputs.audio_arg(audio, "audio", self.limits)
        ref_motion = inputs.motion_arg(ref_motion, "ref_motion", self.limits)
        from jamflow.infer.stream import finish_pieces
        from jamflow.infer.stream_animate import AnimateStream

        return finish_pieces(self.engine, AnimateStream(self.engine, wav, text, ref_motion, s), s, renderer,
                             face_life=ref_motion is None)

    def talk(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *, source=None, ref_motion=None,
             context_motion=None, output=None, settings: InferSettings | None = None, **overrides) -> Result:
        """Text -> speech + talking-face motion + mp4. `source`: None/"avatar" (built-in face), a
        portrait image or a video (LivePortrait). `ref_motion`: motion [T, 70] of the reference clip.
        `context_motion`: motion [T, 70] whose context channels (eyes and head pose for `lips`) are
        looped under the generated mouth, with or without a reference; default: `ref_motion`."""
        self._need_motion("talk")
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, gen_text=gen_text, ref_text=ref_text)
        renderer = self._renderer(source)
        request, face_life = self._talk_request(gen_text, ref_audio, ref_text, ref_motion, context_motion)
        out = runner.run_text(self.engine, request, s)
        return self._finish(out, s, output, write_video=True, renderer=renderer, face_life=face_life)

    def animate(self, audio, *, text: str | None = None, source=None, ref_motion=None, output=None,
                settings: InferSettings | None = None, **overrides) -> Result:
        """Audio (fully given) -> motion + mp4; the audio is returned unchanged. Long audio runs in
        overlapping windows. `ref_motion` [T, 70] supplies context channels (pose, eyes)."""
        self._need_motion("animate")
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, text=text)
        renderer = self._renderer(source)
        wav = inputs.audio_arg(audio, "audio", self.limits)
        ref_motion = inputs.motion_arg(ref_motion, "ref_motion", self.limits)
        out = runner.run_animate(self.engine, wav, text, ref_motion, s)
        return self._finish(out, s, output, write_video=True, renderer=renderer, face_life=ref_motion is None)

    def dub(self, gen_text: str, motion=None, ref_audio=None, ref_text: str | None = None, *, video=None,
            output=None, settings: InferSettings | None = None, **overrides) -> Result:
        """Motion (or a video + its motion) + text -> speech timed to the motion; duration = the motion's.
        With `video`, the new speech is muxed into that video; otherwise the avatar renders the motion."""
        self._need_motion("dub")
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, gen_text=gen_text, ref_text=ref_text)
        video = inputs.video_arg(video, self.limits)
        if motion is None:
            if video is None:
                raise UserError("motion: expected a motion (.npy/.pkl or array) or --video, got neither")
            motion = inputs.motion_from_video(video)
        motion = inputs.motion_arg(motion, "motion", self.limits)
        out = dub_windows.run_dub(self.engine, clean_text(gen_text, "gen_text"), motion,
                                  *self._reference(ref_audio, ref_text), s)
        if video is not None:
            return self._finish(out, s, output, write_video=False, mux_into=video)
        return self._finish(out, s, output, write_video=True, renderer=self._renderer(None))

    def edit(self, text: str, audio, motion=None, *, audio_spans=(), motion_spans=(), extend_s: float = 0.0,
             source=None, render: bool = False, output=None, settings: InferSettings | None = None,
             **overrides) -> Result:
        """Regenerate time spans [(start_s, end_s), ...] of the speech and/or motion, and optionally
        continue both by `extend_s` seconds. `text` is the transcript of the whole result."""
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, text=text)
        extend_s = validate.number("extend_s", extend_s, 0, runner.MAX_JOB_S)
        wav = inputs.audio_arg(audio, "audio", self.limits)
        motion = inputs.motion_arg(motion, "motion", self.limits)
        if motion_spans and motion is None and not self.has_motion:
            raise UserError("motion_spans: expected a model with a motion stream, got an audio-only model")
        renderer = self._renderer(source) if render else None
        out = runner.run_edit(self.engine, clean_text(text, "text"), wav, motion, list(audio_spans), list(motion_spans),
                             extend_s, s)
        return self._finish(out, s, output, write_video=render, renderer=renderer, face_life=motion is None)

    def text_batch(self, task: str, texts: list[str], ref_audio, ref_text, settings: InferSettings,
                   outputs: list) -> list[Result]:
        """`task` ("tts" or "talk", avatar) for several texts with one reference and settings, written to
        `outputs`: texts that fit one chunk share a padded sampler batch (same start noise per item as
        alone), longer ones run as single calls (`jamflow batch`, infer/batch.py)."""
        s = settings
        pieces = runner.run_text_batch(self.engine, texts, *self._reference(ref_audio, ref_text), s)
        renderer = self._renderer(None) if task == "talk" else None
        results: list = [None] * len(texts)
        for i, piece in enumerate(pieces):
            if piece is not None:
                results[i] = self._finish(piece, s, outputs[i], write_video=task == "talk", renderer=renderer,
                                          face_life=True)
        for i in [i for i, p in enumerate(pieces) if p is None]:
            results[i] = getattr(self, task)(texts[i], ref_audio, ref_text, output=outputs[i], settings=s)
        return results

    # ---------------------------------------------------------------------------------------
    # argument checks (all before any generation: infer/inputs.py)

    def _check_call(self, output, **texts) -> Path | None:
        return inputs.check_texts_and_output(self.limits, self.tokenizer, output, **texts)

    def _need_motion(self, task: str):
        if not self.has_motion:
            raise UserError(f"ckpt: expected a model with a motion stream for {task}, got an audio-only model")

    def _reference(self, ref_audio, ref_text) -> tuple[np.ndarray | None, str | None]:
        """(reference wav [s] | None, its transcript): the caller's, or the clip of the voice in use."""
        if self.voice is not None:
            if ref_audio is not None or ref_text is not None:
                raise UserError("ref_audio: expected none while a fitted voice is in use (it clones from its own "
                                "clip); drop ref_audio and ref_text, or call use_voice(None) first")
            return self.voice.wav, self.voice.text
        return (None if ref_audio is None else inputs.audio_arg(ref_audio, "ref_audio", self.limits)), ref_text

    def _talk_request(self, gen_text, ref_audio, ref_text, ref_motion, context_motion):
        """-> (the talk request, whether face life fills the channels no given motion drives)."""
        ref_motion = inputs.motion_arg(ref_motion, "ref_motion", self.limits)
        context_motion = inputs.motion_arg(context_motion, "context_motion", self.limits)
        if context_motion is not None and not self.codec.spec.context_dim:
            raise UserError(f"context_motion: expected a model that takes eyes and head as context (the lips spec), "
                            f"got one that generates them ({self.codec.spec.name}); pass ref_motion to set their style")
        request = runner.TextRequest.for_talk(self.engine, clean_text(gen_text, "gen_text"),
                                             *self._reference(ref_audio, ref_text), ref_motion, context_motion)
        return request, ref_motion is None and context_motion is None

    def _renderer(self, source):
        return inputs.renderer_for(source, self.limits, self.liveportrait_weights, self.config.motion_spec,
                                   str(self.device))

    # ---------------------------------------------------------------------------------------
    # outputs

    def _finish(self, out: Piece, s: InferSettings, output, *, write_video: bool, renderer=None,
                mux_into: Path | None = None, face_life: bool = False) -> Result:
        """Post-process generated motion (`Engine.finish_motion`), then write the files."""
        motion = out.motion
        if motion is not None and not out.motion_given:
            motion = self.engine.finish_motion(motion, out.wav, s, face_life)
        result = Result(wav=out.wav, motion=motion, seed=s.seed, settings=s, chunks=out.chunks)
        if output is not None:
            result.paths = write_outputs(result, Path(output), write_video=write_video, renderer=renderer,
                                         mux_into=mux_into, progress=self.progress)
        return result
