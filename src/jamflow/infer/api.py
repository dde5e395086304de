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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from jamflow import validate
from jamflow.dtypes import DTYPES, INT8, cpu_has_fast_bf16, quantize_blocks_int8
from jamflow.errors import UserError
from jamflow.infer import runner
from jamflow.infer.outputs import write_outputs
from jamflow.infer.motion_codec import MotionCodec, load_motion_file
from jamflow.infer.settings import SAMPLE_RATE, InferSettings, make_settings
from jamflow.limits import Limits
from jamflow.motion.io import check_motion
from jamflow.motion.life import FaceLife
from jamflow.render.stream_video import check_streamable

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "model"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class Result:
    wav: np.ndarray | None  # [samples] float32 at 24 kHz
    motion: np.ndarray | None  # [frames, 70] float32 at 25 fps, denormalised
    seed: int
    settings: InferSettings
    paths: dict[str, Path] = field(default_factory=dict)  # "wav" / "motion" / "video" -> written file
    chunks: int = 1  # sampler calls the job was split into
    sample_rate: int = SAMPLE_RATE
    fps: int = 25

    @property
    def duration(self) -> float:
        if self.wav is not None:
            return len(self.wav) / self.sample_rate
        return 0.0 if self.motion is None else len(self.motion) / self.fps


def pick_device(device: str | None = None) -> torch.device:
    """auto: cuda -> mps -> cpu."""
    if device not in (None, "", "auto"):
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise UserError(f"device: expected cpu, cuda, cuda:N or mps, got {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError("device: expected an available device, got 'cuda' but no CUDA GPU is visible")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise UserError("device: expected an available device, got 'mps' but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The compute precision (autocast; the weights stay fp32): bf16 on CUDA where supported (else
    fp16), bf16 on a CPU with bf16 hardware (AVX512-BF16 / AMX), fp32 on other CPUs and MPS. "int8"
    is fp32 here; JAMFlow quantises the DiT blocks' linears for it (dtypes.quantize_blocks_int8)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == INT8:
        return torch.float32
    names = {**DTYPES, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in (None, "", "auto"):
        if dtype not in names:
            raise UserError(f"dtype: expected one of {sorted(names)}, auto or {INT8} (CPU), got {dtype!r}")
        return names[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def resolve_checkpoint(path: str | Path | None) -> Path:
    """A checkpoint folder (config.json + model.safetensors); None = the model shipped in the package."""
    if path in (None, "", "default"):
        folder = DEFAULT_MODEL_DIR
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


class JAMFlow:
    """A loaded model + vocoder; one method per task."""

    def __init__(self, model, vocoder=None, device=None, dtype=None, tokenizer=None, progress: bool = True,
                 checkpoint_dir: Path | None = None, limits: Limits | None = None):
        if limits is not None and not isinstance(limits, Limits):
            raise UserError(f"limits: expected a jamflow.limits.Limits, got {type(limits).__name__}")
        self.limits = limits or Limits()  # input limits every task method enforces (raise them here)
        self.device = pick_device(device) if not isinstance(device, torch.device) else device
        self.int8 = dtype == INT8  # fp32 compute, the DiT blocks' linears in dynamic int8 (CPU)
        self.dtype = pick_dtype(self.device, dtype)
        self.model = model.to(self.device, torch.float32).eval()  # compute dtype via autocast (tasks.generate)
        if self.int8:
            self.model = quantize_blocks_int8(self.model, self.device)
        self.config = model.cfg
        self.checkpoint_dir = checkpoint_dir
        self.has_motion = self.config.motion is not None
        self.codec = MotionCodec.create(self.config.spec, getattr(model, "motion_stats", None))
        if tokenizer is None:
            from jamflow.audio.tokenizers import get_tokenizer

            vocab = None
            if self.config.vocab_file:
                vocab = Path(checkpoint_dir or ".") / self.config.vocab_file
            tokenizer = get_tokenizer(self.config.tokenizer, vocab)
        self.tokenizer = tokenizer
        if vocoder is None or isinstance(vocoder, (str, Path)):  # None: Vocos if found, else Griffin-Lim
            from jamflow.vocoder import load_vocoder

            vocoder = load_vocoder(None if vocoder is None else str(vocoder), device=str(self.device))
        self.vocoder = vocoder
        self.progress = progress
        self.liveportrait_weights = None  # LivePortrait weights folder; None: $JAMFLOW_LIVEPORTRAIT_WEIGHTS

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device=None, dtype=None, vocoder=None,
                        progress: bool = True, limits: Limits | None = None) -> "JAMFlow":
        from jamflow.model.jam import JAMModel

        folder = resolve_checkpoint(path)
        model = JAMModel.from_pretrained(folder)
        return cls(model, vocoder=vocoder, device=device, dtype=dtype, progress=progress, checkpoint_dir=folder,
                   limits=limits)

    # ---------------------------------------------------------------------------------------
    # tasks

    def tts(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *, output=None,
            settings: InferSettings | None = None, **overrides) -> Result:
        """Text -> speech (the motion generated alongside is returned too, and saved as .npy)."""
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, gen_text=gen_text, ref_text=ref_text)
        job = runner.TextJob.build(self, gen_text, ref_audio, ref_text, ref_motion=None, context_motion=None)
        out = runner.run_text(self, job, s)
        return self._finish(out, s, output, write_video=False, face_life=True)

    def tts_stream(self, gen_text: str, ref_audio=None, ref_text: str | None = None, *,
                   settings: InferSettings | None = None, **overrides):
        """Text as a stream: yields (wav [s], motion [T, 70] | None) pieces as soon as each is final, for
        playback or writing while later chunks are still being sampled. The first chunk is a short
        clause (`first_chunk_s`, 1 s unless set), so the first piece comes quickly. The motion is not
        post-processed. With the same settings, the pieces joined equal `tts(...)`'s wav."""
        s = make_settings(settings, **overrides).with_seed().for_stream()
        self._check_call(None, gen_text=gen_text, ref_text=ref_text)
        job = runner.TextJob.build(self, gen_text, ref_audio, ref_text, ref_motion=None, context_motion=None)
        from jamflow.infer.stream import as_tuples

        return as_tuples(runner.TextStream(self, job, s))

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
        ref_motion = self._motion_arg(ref_motion, "ref_motion")
        context_motion = self._motion_arg(context_motion, "context_motion")
        job = runner.TextJob.build(self, gen_text, ref_audio, ref_text, ref_motion=ref_motion,
                                   context_motion=ref_motion if context_motion is None else context_motion)
        from jamflow.infer.stream import finish_pieces

        return finish_pieces(self, runner.TextStream(self, job, s), s, renderer,
                             face_life=ref_motion is None and context_motion is None)

    def animate_stream(self, audio, *, text: str | None = None, source=None, ref_motion=None, render: bool = True,
                       settings: InferSettings | None = None, **overrides):
        """`animate` of any length as a stream of `StreamPiece`s (the input audio's slice, motion, frames),
        window by window; with the same settings, the pieces joined equal `animate(...)`'s outputs."""
        self._need_motion("animate")
        self._check_call(None, text=text)
        s = make_settings(settings, **overrides).with_seed()
        renderer = check_streamable(self._renderer(source)) if render else None
        wav = self._audio_arg(audio, "audio")
        ref_motion = self._motion_arg(ref_motion, "ref_motion")
        from jamflow.infer.stream import finish_pieces
        from jamflow.infer.stream_animate import AnimateStream

        return finish_pieces(self, AnimateStream(self, wav, text, ref_motion, s), s, renderer, face_life=ref_motion is None)

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
        ref_motion = self._motion_arg(ref_motion, "ref_motion")
        context_motion = self._motion_arg(context_motion, "context_motion")
        job = runner.TextJob.build(self, gen_text, ref_audio, ref_text, ref_motion=ref_motion,
                                   context_motion=ref_motion if context_motion is None else context_motion)
        out = runner.run_text(self, job, s)
        return self._finish(out, s, output, write_video=True, renderer=renderer,
                            face_life=ref_motion is None and context_motion is None)

    def animate(self, audio, *, text: str | None = None, source=None, ref_motion=None, output=None,
                settings: InferSettings | None = None, **overrides) -> Result:
        """Audio (fully given) -> motion + mp4; the audio is returned unchanged. Long audio runs in
        overlapping windows. `ref_motion` [T, 70] supplies context channels (pose, eyes)."""
        self._need_motion("animate")
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, text=text)
        renderer = self._renderer(source)
        wav = self._audio_arg(audio, "audio")
        ref_motion = self._motion_arg(ref_motion, "ref_motion")
        out = runner.run_animate(self, wav, text, ref_motion, s)
        return self._finish(out, s, output, write_video=True, renderer=renderer, face_life=ref_motion is None)

    def dub(self, gen_text: str, motion=None, ref_audio=None, ref_text: str | None = None, *, video=None,
            output=None, settings: InferSettings | None = None, **overrides) -> Result:
        """Motion (or a video + its motion) + text -> speech timed to the motion; duration = the motion's.
        With `video`, the new speech is muxed into that video; otherwise the avatar renders the motion."""
        self._need_motion("dub")
        s = make_settings(settings, **overrides).with_seed()
        output = self._check_call(output, gen_text=gen_text, ref_text=ref_text)
        video = self._video_arg(video)
        if motion is None:
            if video is None:
                raise UserError("motion: expected a motion (.npy/.pkl or array) or --video, got neither")
            motion = self._motion_from_video(video)
        motion = self._motion_arg(motion, "motion")
        out = runner.run_dub(self, gen_text, motion, ref_audio, ref_text, s)
        out.motion = motion  # the given modality is returned unchanged
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
        wav = self._audio_arg(audio, "audio")
        motion = self._motion_arg(motion, "motion")
        if motion_spans and motion is None and not self.has_motion:
            raise UserError("motion_spans: expected a model with a motion stream, got an audio-only model")
        renderer = self._renderer(source) if render else None
        out = runner.run_edit(self, text, wav, motion, list(audio_spans), list(motion_spans), extend_s, s)
        return self._finish(out, s, output, write_video=render, renderer=renderer, face_life=motion is None)

    # ---------------------------------------------------------------------------------------
    # argument checks (all before any generation)

    def _check_call(self, output, **texts):
        """Texts (length, something to speak, a script the model reads) and the output's folder
        (writable), before any work; returns the output path."""
        for name, value in texts.items():
            if value is None or (name == "ref_text" and str(value).strip().lower() == "auto"):
                continue
            validate.text(value, name, self.limits)
            validate.unsupported_script(value, name, self.tokenizer)
        if output is None:
            return None
        if not isinstance(output, (str, Path)):
            raise UserError(f"output: expected a file path, got {type(output).__name__}")
        validate.writable_folder(Path(output).parent, "output")
        return Path(output)

    def _need_motion(self, task: str):
        if not self.has_motion:
            raise UserError(f"ckpt: expected a model with a motion stream for {task}, got an audio-only model")

    def _audio_arg(self, audio, name: str) -> np.ndarray:
        if audio is None:
            raise UserError(f"{name}: expected an audio file or waveform, got nothing")
        limit, limit_name = ((self.limits.max_ref_audio_s, "max_ref_audio_s") if name == "ref_audio"
                             else (self.limits.max_audio_s, "max_audio_s"))
        if isinstance(audio, (str, Path)):
            from jamflow.audio.io import load_audio

            validate.audio_file(audio, name, self.limits, limit, limit_name)  # header only: no hour-long decode
            return load_audio(audio, name=name, max_seconds=limit)
        try:
            wav = np.asarray(audio, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise UserError(f"{name}: expected a path or a waveform array at 24 kHz, got "
                            f"{type(audio).__name__}") from None
        if wav.size == 0 or not np.isfinite(wav).all():
            raise UserError(f"{name}: expected a non-empty finite waveform at 24 kHz, got {wav.size} samples")
        if wav.size / SAMPLE_RATE > limit:
            raise UserError(f"{name}: expected at most {limit:g} s of audio, got {wav.size / SAMPLE_RATE:.1f} s "
                            f"({validate.limit_hint(limit_name)})")
        return wav

    def _motion_arg(self, motion, name: str) -> np.ndarray | None:
        if motion is None:
            return None
        if isinstance(motion, (str, Path)):
            validate.motion_frames(motion, name, self.limits)
            motion = load_motion_file(motion, name)
        motion = check_motion(motion, name)
        if len(motion) / 25 > self.limits.max_motion_s:
            raise UserError(f"{name}: expected at most {self.limits.max_motion_s:g} s of motion, got "
                            f"{len(motion) / 25:.1f} s ({validate.limit_hint('max_motion_s')})")
        return motion

    def _video_arg(self, video) -> Path | None:
        if video is None:
            return None
        path = Path(video)
        if not path.is_file():
            raise UserError(f"video: expected an existing video file, got {str(video)!r}")
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise UserError(f"video: expected one of {list(VIDEO_SUFFIXES)}, got {path.suffix or 'no extension'!r}")
        validate.video_file(path, "video", self.limits)  # a corrupt video fails now, not after sampling
        return path

    def _motion_from_video(self, video: Path) -> np.ndarray:
        for sidecar in (video.with_suffix(".npy"), video.with_suffix(".pkl")):
            if sidecar.is_file():
                return load_motion_file(sidecar, "motion")
        raise UserError(f"motion: expected the motion of {video.name}, got none - run `jamflow extract-motion "
                        f"{video}` (LivePortrait) and pass --motion, or put {video.with_suffix('.npy').name} beside it")

    def _renderer(self, source):
        """The renderer, chosen and checked up front, so a bad portrait fails before generation."""
        from jamflow.render.base import get_renderer

        if source in (None, "", "avatar"):
            return get_renderer("avatar")
        path = Path(source)
        if not path.is_file():
            raise UserError(f"source: expected 'avatar', a portrait image or a video, got missing path {str(source)!r}")
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise UserError(f"source: expected an image {list(IMAGE_SUFFIXES)} or a video {list(VIDEO_SUFFIXES)}, "
                            f"got {suffix or 'no extension'!r}")
        if suffix in IMAGE_SUFFIXES:  # pixel count from the header, before anything is decoded
            validate.image_file(path, "source", self.limits)
        else:
            validate.video_file(path, "source", self.limits)
        # the face is detected while the renderer is built: a portrait without a face fails before sampling
        return get_renderer("liveportrait", weights=self.liveportrait_weights, source=str(path),
                            spec=self.config.motion_spec, device=str(self.device))

    # ---------------------------------------------------------------------------------------
    # outputs

    def _finish(self, out: "runner.Output", s: InferSettings, output, *, write_video: bool, renderer=None,
                mux_into: Path | None = None, face_life: bool = False) -> Result:
        """Post-process the motion (and, with `face_life`, let the channels no context motion drove follow
        the speech), then write the files."""
        motion = out.motion
        if motion is not None and not out.motion_given:
            motion = self.codec.postprocess(motion, s.motion_smoothing, s.head_scale, s.expression_scale)
            if face_life and out.wav is not None:
                motion = self.codec.add_life(motion, out.wav, FaceLife(s.seed), s.face_life, s.head_scale,
                                             s.expression_scale)
        result = Result(wav=out.wav, motion=motion, seed=s.seed, settings=s, chunks=out.chunks)
        if output is not None:
            result.paths = write_outputs(result, Path(output), write_video=write_video, renderer=renderer,
                                         mux_into=mux_into, progress=self.progress)
        return result
