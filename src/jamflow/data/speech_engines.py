"""Offline speech engines that report when each phone is spoken: espeak-ng and festival.

    speech = synthesize("The cat sat.", Voice("espeak", "en-us+m3", rate=1.1, pitch=45))
    speech.wav       # float32 [samples] at 24 kHz
    speech.phones    # [(phone_ipa, start_s, end_s), ...] covering [0, duration] exactly, "sil" = pause

espeak-ng is driven through its C library (ctypes), whose phoneme events carry the phone and its
audio position; festival runs a Scheme script and saves the segment relation (`utt.save.segs`).
Both phone sets are written as IPA so that one viseme table serves every voice. flite is left out on
purpose: its voices are kept for independent evaluation.
"""
from __future__ import annotations

import ctypes
import math
import os
import pickle
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

SILENCE = "sil"


@dataclass(frozen=True)
class Voice:
    """One speaking voice. engine: "espeak" | "festival"; rate: speed factor (1 = normal);
    pitch: espeak pitch 0..100 (50 = default); for festival's HTS voice a half-tone shift (0 = default;
    the diphone voices ignore it)."""
    engine: str
    name: str
    rate: float = 1.0
    pitch: float = 50.0

    @property
    def speaker(self) -> str:
        """Speaker identity for the manifest: the voice, not its speed."""
        return f"{self.engine}:{self.name}"


@dataclass
class Speech:
    wav: np.ndarray  # [samples] float32, 24 kHz
    phones: list[tuple[str, float, float]]  # (phone, start_s, end_s), contiguous, covers the audio

    @property
    def duration(self) -> float:
        return len(self.wav) / SAMPLE_RATE


def synthesize(text: str, voice: Voice) -> Speech:
    text = " ".join(text.split())
    if not text:
        raise UserError("text: expected a non-empty sentence, got an empty string")
    if voice.engine == "espeak":
        return _espeak(text, voice)
    if voice.engine == "festival":
        return _festival(text, voice)
    raise UserError(f"voice engine: expected 'espeak' or 'festival', got {voice.engine!r}")


def _to_sample_rate(wav: np.ndarray, sr: int) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if sr != SAMPLE_RATE:
        g = math.gcd(sr, SAMPLE_RATE)
        wav = resample_poly(wav, SAMPLE_RATE // g, sr // g).astype(np.float32)
    return wav


def tidy_phones(phones: list[tuple[str, float, float]], duration: float) -> list[tuple[str, float, float]]:
    """Make a phone list contiguous from 0 to `duration`: gaps become silence, overlaps are cut,
    zero-length phones dropped, and adjacent silences merged."""
    out: list[list] = []
    t = 0.0
    for phone, start, end in sorted(phones, key=lambda p: p[1]):
        start, end = max(start, t), min(end, duration)
        if end - start <= 1e-6:
            continue
        if start - t > 1e-6:
            out.append([SILENCE, t, start])
        out.append([phone, start, end])
        t = end
    if duration - t > 1e-6:
        out.append([SILENCE, t, duration])
    merged: list[list] = []
    for p in out:
        if merged and p[0] == SILENCE and merged[-1][0] == SILENCE:
            merged[-1][2] = p[2]
        else:
            merged.append(p)
    if merged:
        merged[0][1], merged[-1][2] = 0.0, duration
    return [(p, round(s, 5), round(e, 5)) for p, s, e in merged]


# ---------------------------------------------------------------- espeak-ng (C library via ctypes)

class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_END_LIST, _EVENT_PHONEME = 0, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _Espeak:
    """Process-wide espeak-ng state (the library is a singleton); one synthesis at a time."""

    def __init__(self):
        from jamflow.audio.phonemize import espeak_library

        # the phonemiser's initialisation, shared: a second espeak_Initialize would pull the phoneme
        # tables from under its loaded voice
        self.lib, self.sample_rate = espeak_library()  # also declares espeak_SetVoiceByName's argtypes
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: ctypes must not free it
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []

    def _on_audio(self, wav, n, events):
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_END_LIST:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self._events.append((ev.id.string.decode("utf-8", "replace"), ev.audio_position))
            i += 1
        return 0

    def synth(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, int]]]:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise UserError(f"voice: expected an espeak-ng voice name like 'en-us+m3', got {voice.name!r}")
            self.lib.espeak_SetParameter(_PARAM_RATE, int(round(175 * voice.rate)), 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(round(voice.pitch)), 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            wav = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return wav, self._events


_pristine: _Espeak | None = None  # initialised in this process, only ever used by forked children


def _espeak_in_child(text: str, voice: Voice) -> tuple[np.ndarray, int, list[tuple[str, int]]]:
    """Run one synthesis in a forked copy of a freshly initialised library.

    espeak-ng carries synthesiser state (pitch, phase, noise) from one utterance to the next, so the
    same text comes out slightly different depending on what was spoken before. This process
    initialises the library once and never speaks; each utterance runs in a fork of that pristine
    state, so every clip depends only on its own text and voice (determinism across worker counts).
    A fork costs a few milliseconds.
    """
    global _pristine
    if _pristine is None:
        _pristine = _Espeak()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: initialise, synthesise, send, exit without running the parent's cleanup
        status = 0
        try:
            os.close(read_fd)
            # espeak-ng draws noise from libc's rand(), whose state the fork inherits from whatever this
            # process called before: reset it to the C library's initial seed
            ctypes.CDLL(None).srand(1)
            pcm, events = _pristine.synth(text, voice)
            payload = pickle.dumps(("ok", pcm, _pristine.sample_rate, events))
        except BaseException as e:  # report, never raise into the parent's code path
            payload = pickle.dumps(("error", type(e).__name__, str(e)))
            status = 1
        with os.fdopen(write_fd, "wb") as f:
            f.write(payload)
        os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        payload = f.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError("espeak-ng: the synthesis process died without a result")
    result = pickle.loads(payload)
    if result[0] == "error":
        if result[1] == "UserError":
            raise UserError(result[2])
        raise RuntimeError(f"espeak-ng failed on {text!r}: {result[1]}: {result[2]}")
    return result[1], result[2], result[3]


def _espeak(text: str, voice: Voice) -> Speech:
    pcm, sample_rate, events = _espeak_in_child(text, voice)
    wav = _to_sample_rate(pcm.astype(np.float32) / 32768.0, sample_rate)
    duration = len(wav) / SAMPLE_RATE
    # A phoneme event marks where a phone starts; it lasts until the next event. Events that
    # espeak emits for pauses or stress marks carry no IPA letter and read as silence.
    phones = []
    for k, (name, ms) in enumerate(events):
        end_ms = events[k + 1][1] if k + 1 < len(events) else len(pcm) * 1000 / sample_rate
        name = name.replace("ˈ", "").replace("ˌ", "").strip() or SILENCE
        phones.append((name, ms / 1000, end_ms / 1000))
    return Speech(wav, tidy_phones(phones, duration))


# ---------------------------------------------------------------- festival (Scheme script)

FESTIVAL_VOICES = {  # our short name -> festival's voice function
    "slt_hts": "voice_cmu_us_slt_arctic_hts",
    "kal_diphone": "voice_kal_diphone",
    "ked_diphone": "voice_ked_diphone",
}

# festival's "radio" phone set (all three voices) -> IPA
RADIO_TO_IPA = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ", "b": "b",
    "ch": "tʃ", "d": "d", "dh": "ð", "eh": "ɛ", "er": "ɝ", "ey": "eɪ", "f": "f", "g": "ɡ", "hh": "h",
    "ih": "ɪ", "iy": "i", "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "ow": "oʊ",
    "oy": "ɔɪ", "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ", "uh": "ʊ", "uw": "u",
    "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ", "pau": SILENCE, "h#": SILENCE, "brth": SILENCE,
}


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(text: str, voice: Voice) -> Speech:
    return festival_batch([(text, voice)])[0]


def festival_batch(items: list[tuple[str, Voice]]) -> list[Speech]:
    """Synthesise several (text, voice) pairs in one festival run (its start-up dominates short clips).
    Each utterance selects its voice afresh, so a result does not depend on its neighbours."""
    for _, voice in items:
        if voice.engine != "festival" or voice.name not in FESTIVAL_VOICES:
            raise UserError(f"voice: expected a festival voice in {sorted(FESTIVAL_VOICES)}, got {voice.name!r}")
    exe = shutil.which("festival")
    if exe is None:
        raise UserError("festival: expected the festival program on PATH (apt install festival), got none")
    out = []
    with tempfile.TemporaryDirectory(prefix="jamflow-fest-") as tmp:
        lines = []
        for i, (text, voice) in enumerate(items):
            text = " ".join(text.split())
            if not text:
                raise UserError("text: expected a non-empty sentence, got an empty string")
            lines.append(f"({FESTIVAL_VOICES[voice.name]})")
            if voice.name.endswith("hts"):
                # hts_engine: -r = speaking-rate factor, -fm = pitch shift in half-tones
                lines.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {voice.rate:.3f}) '
                             f'(list "-fm" {voice.pitch:.2f}))))')
            else:
                lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})")
            lines += [f"(set! utt (utt.synth (Utterance Text {_scheme_string(text)})))",
                      f'(utt.save.wave utt "{tmp}/{i}.wav" \'riff)', f'(utt.save.segs utt "{tmp}/{i}.segs")']
        script = os.path.join(tmp, "run.scm")
        Path(script).write_text("\n".join(lines) + "\n")
        res = subprocess.run([exe, "-b", script], capture_output=True, text=True, timeout=60 + 30 * len(items))
        for i in range(len(items)):
            wav_path, segs_path = os.path.join(tmp, f"{i}.wav"), os.path.join(tmp, f"{i}.segs")
            if res.returncode != 0 or not os.path.exists(segs_path):
                if len(items) > 1:  # one bad utterance stops the script: find it by running them alone
                    return [festival_batch([item])[0] for item in items]
                raise UserError(f"text: expected something festival's {items[i][1].name} voice can speak, got "
                                f"{items[i][0]!r} ({res.stderr.strip()[-300:] or 'no output'})")
            wav, sr = sf.read(wav_path, dtype="float32")
            out.append(_festival_speech(wav, sr, Path(segs_path).read_text()))
    return out


def _festival_speech(wav: np.ndarray, sr: int, segs: str) -> Speech:
    wav = _to_sample_rate(wav, sr)
    phones, start = [], 0.0
    for line in segs.split("\n"):
        parts = line.split()
        if len(parts) != 3 or line.startswith("#"):
            continue
        end = float(parts[0])
        phones.append((RADIO_TO_IPA.get(parts[2], parts[2]), start, end))
        start = end
    return Speech(wav, tidy_phones(phones, len(wav) / SAMPLE_RATE))
