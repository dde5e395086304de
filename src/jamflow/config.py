"""Model configs: dataclasses + named presets (tiny / small / base).

Every flag that changes what a set of weights means (RoPE heads, text padding mask, joint-layer
pairing, cross-modal window, motion spec, rates, tokenizer) lives here and is saved as JSON next to
the weights, so a checkpoint always rebuilds the exact model it was trained as.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, MEL_FPS, MOTION_FPS, SAMPLE_RATE, Timeline


@dataclass
class AudioDiTConfig:
    """The F5-TTS DiT. Defaults = F5TTS_v1_Base."""

    dim: int = 1024
    depth: int = 22
    heads: int = 16
    dim_head: int = 64
    ff_mult: int = 2
    text_dim: int = 512
    conv_layers: int = 4  # ConvNeXt-V2 blocks in the text encoder
    text_num_embeds: int = 2545  # vocab size; the embedding has one extra row (id 0 = filler)
    mel_dim: int = 100
    text_mask_padding: bool = True  # v1: zero filler positions in the text encoder; v0: False
    pe_attn_head: int | None = None  # heads that get RoPE; None = all (v1), 1 = head 0 only (v0)
    dropout: float = 0.1
    text_embedding_average_upsampling: bool = False  # spread each token evenly over the mel frames
    # per-token mean frames from `jamflow align` ({"frames_per_token", "lead_frames", "trail_frames"}):
    # when set, each mel frame is shown its own phoneme (training: aligned durations; inference: this
    # table scaled to the length) instead of an even spread - see jamflow.model.durations
    text_durations: dict | None = None
    conv_pos_kernel: int = 31
    conv_pos_groups: int = 16
    text_max_pos: int = 8192  # size of the fixed sinusoid table added to text features
    # Text positions restart at a sentence start whenever the run so far plus that sentence would pass
    # this many tokens: the longest transcript the model trained on. Past it the text encoder sees
    # sinusoids it never trained on (the shipped model, trained on <= 77 tokens, turns tokens ~166-183
    # into a stationary buzz). 0: one run over the whole text (F5-TTS, trained on long clips).
    text_pos_window: int = 0
    text_sentence_ends: list[int] | None = None  # token ids that end a sentence (. ! ?) for the window


@dataclass
class MotionDiTConfig:
    """DiT stream over motion frames. heads/dim_head must match the audio stream (joint attention)."""

    dim: int = 1024
    depth: int = 11
    heads: int = 16
    dim_head: int = 64
    ff_mult: int = 2
    conv_pos_kernel: int = 31
    conv_pos_groups: int = 16
    dropout: float = 0.1


@dataclass
class DurationConfig:
    """The phoneme duration predictor (jamflow.model.duration_predictor), fitted by `jamflow fit-durations`."""

    dim: int = 192
    conv_layers: int = 3
    kernel: int = 5
    dropout: float = 0.2
    voice: bool = True  # conditioned on the prompt's voice (mean / std of its speech frames' log-mel)


@dataclass
class JAMConfig:
    audio: AudioDiTConfig = field(default_factory=AudioDiTConfig)
    motion: MotionDiTConfig | None = field(default_factory=MotionDiTConfig)
    # pairs [audio_layer, motion_layer] that attend jointly; None = spread evenly (default_joint_layers)
    joint_layers: list[list[int]] | None = None
    joint_window_s: float | None = 0.5  # cross-modal attention window (+-seconds); None = global
    mel_fps: float = MEL_FPS  # must equal sample_rate / hop_length
    motion_fps: float = MOTION_FPS
    sample_rate: int = SAMPLE_RATE
    hop_length: int = HOP_LENGTH
    motion_spec: str | dict = "lips"  # name or MotionSpec dict (jamflow.motion.spec)
    tokenizer: str = "char"  # "char" | "phoneme" | "byte"
    vocab_file: str | None = None  # file name inside the checkpoint folder
    # lays new text out by predicted phoneme durations instead of the mean table (needs audio.text_durations)
    duration_predictor: DurationConfig | None = None

    def __post_init__(self):
        if self.motion is not None and self.joint_layers is None:
            self.joint_layers = default_joint_layers(self.audio.depth, self.motion.depth)
        if self.motion is None:
            self.joint_layers = []
        self.joint_layers = [[int(a), int(m)] for a, m in self.joint_layers]
        self.validate()

    # --- derived values -------------------------------------------------------------
    @property
    def timeline(self) -> Timeline:
        """This model's sample rate, hop and frame rates (jamflow.timeline)."""
        return Timeline(self.sample_rate, self.hop_length, self.motion_fps)

    @property
    def mel_per_motion(self) -> float:
        """Mel frames per motion frame (3.75 at 93.75 / 25)."""
        return self.timeline.mel_per_motion

    @property
    def spec(self):
        from jamflow.motion.spec import get_spec

        return get_spec(self.motion_spec)

    @property
    def motion_gen_dim(self) -> int:
        return self.spec.gen_dim

    @property
    def motion_context_dim(self) -> int:
        return self.spec.context_dim

    # --- checks and JSON ------------------------------------------------------------
    def validate(self) -> None:
        a, m = self.audio, self.motion
        if a.dim_head % 2:
            raise UserError(f"audio.dim_head: expected an even number, got {a.dim_head}")
        if self.tokenizer not in ("char", "phoneme", "byte"):
            raise UserError(f"tokenizer: expected 'char', 'phoneme' or 'byte', got {self.tokenizer!r}")
        if a.text_embedding_average_upsampling and not a.text_mask_padding:
            raise UserError("text_embedding_average_upsampling: requires text_mask_padding=True")
        if a.text_pos_window < 0 or a.text_pos_window and not (
                isinstance(a.text_sentence_ends, list) and a.text_sentence_ends
                and all(isinstance(i, int) and 0 <= i < a.text_num_embeds for i in a.text_sentence_ends)):
            raise UserError(f"audio.text_pos_window: expected 0, or tokens > 0 with text_sentence_ends a list of token "
                            f"ids below {a.text_num_embeds}, got {a.text_pos_window} with {a.text_sentence_ends!r}")
        if a.text_durations is not None:
            from jamflow.model.durations import check_table

            check_table(a.text_durations, a.text_num_embeds, a.text_mask_padding)
        if self.duration_predictor is not None and a.text_durations is None:
            raise UserError("duration_predictor: requires audio.text_durations (a model that lays text out by durations)")
        if abs(self.mel_fps - self.sample_rate / self.hop_length) > 1e-9:
            raise UserError(f"mel_fps: expected sample_rate / hop_length = {self.sample_rate / self.hop_length}, "
                            f"got {self.mel_fps}")
        if self.joint_window_s is not None and self.joint_window_s <= 0:
            raise UserError(f"joint_window_s: expected > 0 or None, got {self.joint_window_s}")
        if m is None:
            return
        self.spec  # noqa: B018 - raises UserError for an unknown motion spec
        if (m.heads, m.dim_head) != (a.heads, a.dim_head):
            raise UserError(
                f"motion.heads/dim_head: expected {a.heads}x{a.dim_head} like the audio stream "
                f"(joint attention shares heads), got {m.heads}x{m.dim_head}")
        last = (-1, -1)
        for pair in self.joint_layers:
            ai, mi = pair
            if not (0 <= ai < a.depth and 0 <= mi < m.depth):
                raise UserError(f"joint_layers: pair {pair} outside audio depth {a.depth} / motion depth {m.depth}")
            if ai <= last[0] or mi <= last[1]:
                raise UserError(f"joint_layers: expected strictly increasing pairs, got {self.joint_layers}")
            last = (ai, mi)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        # the spec written out in full: a name's meaning can change between versions (lips did)
        d["motion_spec"] = self.spec.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "JAMConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"config: unknown keys {sorted(unknown)}")
        audio = _sub_config(AudioDiTConfig, d.pop("audio", {}), "audio")
        motion = d.pop("motion", None)
        motion = _sub_config(MotionDiTConfig, motion, "motion") if motion is not None else None
        durations = d.pop("duration_predictor", None)
        if durations is not None:
            durations = _sub_config(DurationConfig, durations, "duration_predictor")
        return cls(audio=audio, motion=motion, duration_predictor=durations, **d)


def _sub_config(kind: type, d, section: str):
    # checked here: the dataclass constructor would raise a bare TypeError for an unknown key
    if not isinstance(d, dict):
        raise UserError(f"config {section}: expected a dict of {kind.__name__} fields, got {type(d).__name__}")
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(kind)})
    if unknown:
        keys = f"key {unknown[0]!r}" if len(unknown) == 1 else f"keys {unknown}"
        raise UserError(f"config {section}: unknown {keys}")
    return kind(**d)


def default_joint_layers(audio_depth: int, motion_depth: int) -> list[list[int]]:
    """Spread the motion layers evenly over the audio stack, each joint with one audio layer.

    Motion layer j meets audio layer round((j+1) * A / M) - 1, so base (22 / 11) pairs every other
    audio layer (1, 3, ..., 21) - "about half the layers" as in the paper - and the last layers of
    both streams always meet.
    """
    if motion_depth > audio_depth:
        raise UserError(f"motion.depth: expected <= audio depth {audio_depth}, got {motion_depth}")
    return [[round((j + 1) * audio_depth / motion_depth) - 1, j] for j in range(motion_depth)]


# ---------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------

def _tiny() -> JAMConfig:
    # 0.48 M parameters: for tests. dim_head 32 so two heads fit in dim 64 (pe_attn_head tests need two).
    return JAMConfig(
        audio=AudioDiTConfig(dim=64, depth=4, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1,
                             text_num_embeds=256, conv_pos_kernel=7, conv_pos_groups=4, dropout=0.0),
        motion=MotionDiTConfig(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, conv_pos_kernel=7,
                               conv_pos_groups=4, dropout=0.0),
        tokenizer="byte",
    )


def _small() -> JAMConfig:
    # 27.9 M parameters (18.5 M audio + 9.4 M motion; the shipped checkpoint adds a 0.81 M duration
    # predictor): the model we ship, trainable on CPU. Phonemes + average upsampling give it a
    # monotonic text prior so it learns alignment from little data.
    return JAMConfig(
        audio=AudioDiTConfig(dim=384, depth=8, heads=6, ff_mult=2, text_dim=256, conv_layers=2,
                             text_num_embeds=256, conv_pos_groups=16, text_embedding_average_upsampling=True),
        motion=MotionDiTConfig(dim=384, depth=4, heads=6, ff_mult=2),
        tokenizer="phoneme",
    )


def _base() -> JAMConfig:
    # Paper scale: Audio-DiT = F5TTS_v1_Base exactly, Motion-DiT 1024 x 11 (506.3 M parameters in all).
    return JAMConfig(audio=AudioDiTConfig(), motion=MotionDiTConfig())


PRESETS = {"tiny": _tiny, "small": _small, "base": _base}


def get_preset(name: str, **overrides) -> JAMConfig:
    """Named preset with top-level overrides, e.g. get_preset("tiny", joint_window_s=None, motion=None)."""
    if name not in PRESETS:
        raise UserError(f"preset: expected one of {sorted(PRESETS)}, got {name!r}")
    d = PRESETS[name]().to_dict()
    for key, value in overrides.items():
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        if isinstance(value, dict) and isinstance(d.get(key), dict) and key != "motion_spec":
            value = {**d[key], **value}  # partial override of a sub-config (a spec is replaced whole)
        d[key] = value
    if "audio" in overrides or "motion" in overrides:
        if "joint_layers" not in overrides:
            d["joint_layers"] = None  # depths changed: re-derive the pairing
    return JAMConfig.from_dict(d)
