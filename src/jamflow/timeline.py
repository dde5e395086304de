"""The timeline: audio sample rate, mel hop, mel and motion frame rates, and the conversions between them.

Every other module asks this one. A model knows its own rates (`JAMConfig.timeline`); the module-level
constants are the rates of every model jamflow ships and trains (F5-TTS's 24 kHz / hop 256 mel, i.e.
93.75 mel frames/s, and LivePortrait-style motion at 25 fps: 3.75 mel frames and 960 samples per
motion frame).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Timeline:
    sample_rate: int = 24000  # Hz
    hop_length: int = 256  # samples per mel frame
    motion_fps: float = 25.0  # motion frames per second

    @property
    def mel_fps(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def mel_per_motion(self) -> float:
        """Mel frames per motion frame (3.75)."""
        return self.mel_fps / self.motion_fps

    @property
    def samples_per_motion(self) -> int:
        """Samples per motion frame (960); the rates are chosen so that this is whole."""
        return round(self.sample_rate / self.motion_fps)

    @property
    def motion_rate(self) -> Fraction:
        """motion_fps as an exact fraction: the nearest one with a denominator up to 1000 (25.0 -> 25)."""
        return Fraction(self.motion_fps).limit_denominator(1000)

    @property
    def _ratio(self) -> Fraction:
        return Fraction(self.sample_rate) / (self.hop_length * self.motion_rate)

    @property
    def crop_grid(self) -> int:
        """Smallest motion frame count that spans a whole number of mel frames (4 = 15 mel frames at 3.75).
        Crops and chunks that start on multiples of it start on a whole mel frame in both streams."""
        return self._ratio.denominator

    @property
    def crop_grid_mel(self) -> int:
        """Mel frames in one crop grid step (15)."""
        return self._ratio.numerator

    def mel_frames_for(self, motion_frames: int) -> int:
        """Mel frames spanned by m motion frames: floor(m * mel_per_motion + 1/2) in exact integer maths
        (half rounds up, where Python's round() would send 22.5 down but 7.5 up). At 3.75 motion frame 4j
        is exactly mel frame 15j."""
        r = self._ratio
        return (2 * r.numerator * int(motion_frames) + r.denominator) // (2 * r.denominator)

    def motion_frames_for(self, mel_frames: int) -> int:
        """Largest m with mel_frames_for(m) <= mel_frames."""
        r = self._ratio
        m = (r.denominator * int(mel_frames)) // r.numerator + 1
        while self.mel_frames_for(m) > mel_frames:
            m -= 1
        return m

    def motion_frames_for_samples(self, samples: int) -> int:
        """Motion frames that cover a waveform: round(samples / samples_per_motion)."""
        return round(int(samples) / self.samples_per_motion)


DEFAULT = Timeline()
SAMPLE_RATE: int = DEFAULT.sample_rate
HOP_LENGTH: int = DEFAULT.hop_length
MOTION_FPS: float = DEFAULT.motion_fps
MEL_FPS: float = DEFAULT.mel_fps  # 93.75
MEL_PER_MOTION: float = DEFAULT.mel_per_motion  # 3.75
SAMPLES_PER_MOTION: int = DEFAULT.samples_per_motion  # 960
CROP_GRID: int = DEFAULT.crop_grid  # 4 motion frames = 15 mel frames
mel_frames_for = DEFAULT.mel_frames_for
motion_frames_for = DEFAULT.motion_frames_for
