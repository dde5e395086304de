"""What each tab of the page does, on the one loaded `JAMFlow`: plain Python, no Gradio.

Every handler checks the page's limits (`limits.Limits`) before it calls the model, writes its files
to a fresh folder under `out_root`, and returns an `Outcome`. Bad input raises UserError with the
API's `name: expected X, got Y`; `page_message` turns the name into the label the page shows.
Progress: pass `progress(fraction_or_(done, total), desc=...)` (a gr.Progress fits) and the
sampler's, chunk loop's and encoder's steps (jamflow.progress) are forwarded to it.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jamflow import validate
from jamflow.errors import UserError
from jamflow.infer.compute_thread import ComputeThread
from jamflow.infer.settings import InferSettings, make_settings
from jamflow.progress import watch
from jamflow.timeline import SAMPLE_RATE
from jamflow.ui.limits import Limits
from jamflow.vocoder import vocoder_label

# blinks, nods and sway looped under the generated mouth (as `jamflow demo` does)
CONTEXT_MOTION = Path(__file__).resolve().parent.parent / "assets" / "demo_context_motion.npy"
KEEP_JOBS = 32  # result folders kept on disk; the page has copied older ones into its own cache

# API argument / setting names -> the label of the field in the page
FIELD_LABELS = {
    "gen_text": "Text to speak", "text": "Transcript", "ref_audio": "Reference voice",
    "ref_text": "Reference transcript", "audio": "Audio", "motion": "Motion (.npy/.pkl)", "video": "Video",
    "source": "Portrait", "portrait": "Portrait", "audio_spans": "Speech spans", "motion_spans": "Motion spans",
    "extend_s": "Continue by (s)", "nfe_step": "NFE steps", "cfg_strength": "CFG strength", "seed": "Seed",
    "speed": "Speed", "head_scale": "Head motion scale", "expression_scale": "Expression scale",
    "vocoder": "Vocoder", "fix_duration": "Duration", "fit_voice": "Fit the model to this voice",
}
STAGE_LABELS = {"sampling": "sampling", "chunks": "text chunks", "windows": "windows", "render": "rendering video",
                "voice fit": "fitting the voice"}
FITTED_KEPT = 8  # fitted voices kept in memory (~2.4 MB each), the least recently used dropped first


def page_message(error: Exception) -> str:
    """'gen_text: expected ...' -> 'Text to speak (gen_text): expected ...'; other messages unchanged."""
    text = str(error)
    name, sep, rest = text.partition(": ")
    label = FIELD_LABELS.get(name.lstrip("-"))
    return f"{label} ({name.lstrip('-')}): {rest}" if sep and label else text


@dataclass
class Outcome:
    video: Path | None = None  # mp4 with the speech muxed
    audio: Path | None = None  # wav, 24 kHz
    files: list[Path] = field(default_factory=list)  # everything written, for download
    info: dict = field(default_factory=dict)  # seed, duration, the resolved settings


@contextlib.contextmanager
def reporting(progress):
    """Forward jamflow.progress reports made inside the block to `progress` (None: nowhere)."""
    if progress is None:
        yield
        return

    def on_step(stage: str, done: int, total: int):
        progress((done, total), desc=STAGE_LABELS.get(stage, stage))

    with watch(on_step):
        yield


def whole_number(value, name: str, what: str) -> int | None:
    """A page number field (float or int; None when empty) -> int, or UserError."""
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value):
        raise UserError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def wav_bytes(wav: np.ndarray) -> bytes:
    """[samples] float32 at 24 kHz -> a 16-bit wav file in memory (one streamed piece)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(wav, -1, 1), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Studio:
    """The handlers of every tab, sharing one model, the limits and the output folder."""

    def __init__(self, jam, limits: Limits | None = None, out_root: Path | None = None):
        """jam: a loaded `JAMFlow`, or a function that loads one (it then loads on the compute thread)."""
        from jamflow.infer.api import JAMFlow

        self.compute = ComputeThread("jamflow-ui")  # every model call runs here, whichever thread the page uses
        self.jam = jam if isinstance(jam, JAMFlow) else self.compute.call(jam)
        self.limits = limits or Limits()
        self.out_root = Path(out_root or tempfile.mkdtemp(prefix="jamflow-ui-"))
        self.out_root.mkdir(parents=True, exist_ok=True)
        self.vocoders = {"default": self.jam.vocoder}  # the others are loaded when first asked for
        self.fitted = {}  # (sha256 of a reference clip, its words) -> FittedVoice: a clip is fitted once

    @property
    def vocoder_names(self) -> list[str]:
        return ["default", "harmonic", "griffinlim"]

    @property
    def default_vocoder_label(self) -> str:
        return self.vocoder_label("default")

    def vocoder_label(self, name: str | None) -> str:
        """The label of a vocoder in use ("default": what was loaded at start; the others once a call asked for
        them): "Vocos", "HiFi-GAN", "Harmonic" or "Griffin-Lim"."""
        return vocoder_label(self.vocoders[name or "default"])

    # ----------------------------------------------------------------------------------------
    # shared pieces

    def settings(self, values: dict | None) -> InferSettings:
        """The page's settings (NFE, CFG, seed, speed, head/expression scale) -> InferSettings with a
        concrete seed. A seed left empty or negative is drawn at random (and reported)."""
        values = dict(values or {})
        values.pop("vocoder", None)
        values["seed"] = whole_number(values.pop("seed", None), "seed", "an integer (empty or -1: random)")
        if values["seed"] is not None and values["seed"] < 0:
            values["seed"] = None
        if values.get("nfe_step") is not None:
            values["nfe_step"] = whole_number(values["nfe_step"], "nfe_step", "an integer in 1..1000")
        try:
            return make_settings(None, **values).with_seed()
        except TypeError as e:
            raise UserError(f"settings: expected numbers, got {e}") from None

    @contextlib.contextmanager
    def vocoder(self, name: str | None):
        """Use the named vocoder for this call (the queue runs one job at a time, so swapping is safe)."""
        name = name or "default"
        if name not in self.vocoder_names:
            raise UserError(f"vocoder: expected one of {self.vocoder_names}, got {name!r}")
        if name not in self.vocoders:
            from jamflow.vocoder import load_vocoder

            self.vocoders[name] = load_vocoder(name, device=str(self.jam.device))
        loaded, self.jam.vocoder = self.jam.vocoder, self.vocoders[name]
        try:
            yield
        finally:
            self.jam.vocoder = loaded

    def job_dir(self, task: str) -> Path:
        """A fresh folder for one job's files; the oldest beyond KEEP_JOBS are removed."""
        jobs = sorted((p for p in self.out_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in jobs[:max(0, len(jobs) - KEEP_JOBS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        folder = self.out_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        return folder

    def reference(self, ref_audio, ref_text) -> tuple[Path | None, str | None]:
        """The reference voice and its transcript, checked; no voice = the model's own voice."""
        path = self.limits.audio(ref_audio, "ref_audio", required=False)
        text = self.limits.text(ref_text, "ref_text", required=False)
        if path is None and text:
            raise UserError("ref_text: given without a reference voice; add the voice or clear the transcript")
        if path is not None and text is None:
            raise UserError("ref_text: expected the words of the reference voice, got nothing - type them, or "
                            "press Auto-transcribe")
        return path, text

    @property
    def can_fit_voice(self) -> bool:
        """A voice is fitted to the full model in float weights (infer/voice_fit.py)."""
        return not self.jam.int8 and getattr(self.jam.model, "student", None) is None

    @contextlib.contextmanager
    def voice(self, ref_path: Path | None, ref_words: str | None, fit: bool, progress=None):
        """-> the (ref_audio, ref_text) of a task call. With `fit`, the reference is fitted first (once per
        clip and words: about a minute on 2 CPU cores) and in use for the block, which then passes none."""
        if not fit:
            yield ref_path, ref_words
            return
        if ref_path is None:
            raise UserError("fit_voice: expected a reference voice to fit the model to, got none")
        key = (hashlib.sha256(Path(ref_path).read_bytes()).hexdigest(), ref_words)
        fitted = self.fitted.pop(key, None)
        if fitted is None:
            with reporting(progress):
                fitted = self.compute.call(self.jam.fit_voice, ref_path, ref_words)
        self.fitted[key] = fitted  # the most recently used last
        for old in list(self.fitted)[:-FITTED_KEPT]:
            del self.fitted[old]
        self.compute.call(self.jam.use_voice, fitted)
        try:
            yield None, None
        finally:
            self.compute.call(self.jam.use_voice, None)

    def portrait(self, path) -> str | None:
        path = self.limits.file(path, "portrait", required=False)
        return None if path is None else str(path)

    def outcome(self, result, settings: InferSettings, vocoder: str | None | bool) -> Outcome:
        paths = result.paths
        info = {"seed": result.seed, "duration_s": round(result.duration, 3), "chunks": result.chunks,
                "settings": settings.to_dict()}
        if vocoder is not False:  # False: the task made no speech (animate)
            info["vocoder"] = self.vocoder_label(vocoder)
        return Outcome(video=paths.get("video"), audio=paths.get("wav"), files=list(paths.values()), info=info)

    # ----------------------------------------------------------------------------------------
    # tabs

    def transcribe(self, ref_audio) -> str:
        """Auto-transcribe: what the offline recogniser (pocketsphinx) hears in the reference voice."""
        path = self.limits.audio(ref_audio, "ref_audio")
        from jamflow.audio.io import load_audio

        try:  # pocketsphinx comes with jamflow[eval]; the page works without it
            from jamflow.audio.asr import transcribe

            heard = transcribe(load_audio(path), SAMPLE_RATE).strip()
        except ImportError as e:
            raise UserError(f"ref_text: auto-transcribe needs the optional ASR (pip install pocketsphinx): {e}") \
                from None
        if not heard:
            raise UserError("ref_audio: the recogniser heard no words in it; type the transcript instead")
        return heard

    def talk(self, gen_text, ref_audio, ref_text, portrait, values, head_motion: bool = False,
             progress=None, fit_voice: bool = False) -> Outcome:
        """Text -> talking head: mp4 (speech muxed), wav, motion .npy."""
        text = self.limits.text(gen_text, "gen_text")
        ref_path, ref_words = self.reference(ref_audio, ref_text)
        source = self.portrait(portrait)
        s = self.settings(values)
        vocoder = (values or {}).get("vocoder")
        with self.voice(ref_path, ref_words, fit_voice, progress) as (ref_path, ref_words), self.vocoder(vocoder), \
                reporting(progress):
            result = self.compute.call(self.jam.talk, text, ref_path, ref_words, source=source,
                                       context_motion=CONTEXT_MOTION if head_motion else None,
                                       output=self.job_dir("talk") / "talk.mp4", settings=s)
        return self.outcome(result, s, vocoder)

    def tts_stream(self, gen_text, ref_audio, ref_text, values, progress=None, fit_voice: bool = False):
        """Text -> speech as it is made: yields (wav bytes of the next finished piece, None) per piece,
        then (None, Outcome) with the whole wav written."""
        text = self.limits.text(gen_text, "gen_text")
        ref_path, ref_words = self.reference(ref_audio, ref_text)
        s = self.settings(values)
        vocoder = (values or {}).get("vocoder")
        folder = self.job_dir("tts")
        pieces = []
        with self.voice(ref_path, ref_words, fit_voice, progress) as (ref_path, ref_words), self.vocoder(vocoder):
            stream = self.compute.iterate(lambda: self.jam.tts_stream(text, ref_path, ref_words, settings=s))
            try:
                while True:
                    # watch only around each step: a generator resumes in whatever thread the server picks
                    with reporting(progress):
                        piece = next(stream, None)
                    if piece is None:
                        break
                    pieces.append(np.asarray(piece[0], np.float32))
                    yield wav_bytes(pieces[-1]), None
            finally:
                stream.close()
        from jamflow.audio.io import save_wav

        wav = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        path = save_wav(folder / "tts.wav", wav)
        info = {"seed": s.seed, "duration_s": round(len(wav) / SAMPLE_RATE, 3), "pieces": len(pieces),
                "settings": s.to_dict(),
                "vocoder": self.vocoder_label(vocoder)}
        yield None, Outcome(audio=path, files=[path], info=info)

    def animate(self, audio, text, portrait, values, progress=None) -> Outcome:
        """Speech -> face motion + mp4 (the speech is used as given)."""
        path = self.limits.audio(audio, "audio")
        words = self.limits.text(text, "text", required=False)
        source = self.portrait(portrait)
        s = self.settings(values)
        with reporting(progress):
            result = self.compute.call(self.jam.animate, path, text=words, source=source,
                                       output=self.job_dir("animate") / "animate.mp4", settings=s)
        return self.outcome(result, s, vocoder=False)

    def dub(self, video, motion, gen_text, ref_audio, ref_text, values, progress=None,
            fit_voice: bool = False) -> Outcome:
        """Lip motion (a .npy/.pkl, or the motion of an uploaded video) + text -> speech timed to it."""
        video_path = self.limits.video(video, "video", required=False)
        motion_path = self.limits.motion(motion, "motion", required=False)
        if video_path is None and motion_path is None:
            raise UserError("motion: expected a motion file (.npy/.pkl) or a video with its motion, got neither")
        text = self.limits.text(gen_text, "gen_text")
        ref_path, ref_words = self.reference(ref_audio, ref_text)
        s = self.settings(values)
        vocoder = (values or {}).get("vocoder")
        with self.voice(ref_path, ref_words, fit_voice, progress) as (ref_path, ref_words), self.vocoder(vocoder), \
                reporting(progress):
            result = self.compute.call(self.jam.dub, text, motion_path, ref_path, ref_words, video=video_path,
                                       output=self.job_dir("dub") / "dub.mp4", settings=s)
        return self.outcome(result, s, vocoder)

    def edit(self, audio, text, motion, audio_spans, motion_spans, extend_s, render, values,
             progress=None) -> Outcome:
        """Regenerate time spans of speech (and motion), and/or continue both by `extend_s` seconds."""
        path = self.limits.audio(audio, "audio")
        words = self.limits.text(text, "text")
        motion_path = self.limits.motion(motion, "motion", required=False)
        a_spans = validate.parse_spans((audio_spans or "").strip(), "audio_spans")
        m_spans = validate.parse_spans((motion_spans or "").strip(), "motion_spans")
        extend = float(extend_s or 0.0)
        if not 0 <= extend <= self.limits.max_audio_s:
            raise UserError(f"extend_s: expected seconds in 0..{self.limits.max_audio_s:g}, got {extend:g}")
        if not a_spans and not m_spans and extend == 0:
            raise UserError("audio_spans: expected spans to regenerate (e.g. 1.0-2.0) or a continuation, got none")
        s = self.settings(values)
        vocoder = (values or {}).get("vocoder")
        with self.vocoder(vocoder), reporting(progress):
            result = self.compute.call(self.jam.edit, words, path, motion_path, audio_spans=a_spans,
                                       motion_spans=m_spans, extend_s=extend, render=bool(render),
                                       output=self.job_dir("edit") / "edit.wav", settings=s)
        return self.outcome(result, s, vocoder)

