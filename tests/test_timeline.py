import pytest

from jamflow.config import JAMConfig, get_preset
from jamflow.errors import UserError
from jamflow.timeline import (
    CROP_GRID,
    DEFAULT,
    HOP_LENGTH,
    MEL_FPS,
    MEL_PER_MOTION,
    MOTION_FPS,
    SAMPLE_RATE,
    SAMPLES_PER_MOTION,
    Timeline,
    mel_frames_for,
    motion_frames_for,
)


def test_shipped_rates():
    assert (SAMPLE_RATE, HOP_LENGTH, MOTION_FPS) == (24000, 256, 25.0)
    assert (MEL_FPS, MEL_PER_MOTION, SAMPLES_PER_MOTION) == (93.75, 3.75, 960)
    assert (CROP_GRID, DEFAULT.crop_grid_mel) == (4, 15)


def test_half_rounds_up():
    # 3.75 m: 2 -> 7.5, 6 -> 22.5, 10 -> 37.5, 14 -> 52.5 all round up (round() would send 22.5 and 52.5 down)
    assert [mel_frames_for(m) for m in (2, 6, 10, 14)] == [8, 23, 38, 53]
    assert [mel_frames_for(m) for m in (0, 1, 3, 4, 25)] == [0, 4, 11, 15, 94]  # 3.75, 11.25, 15, 93.75


def test_crop_grid_is_exact():
    for j in range(50):
        assert mel_frames_for(CROP_GRID * j) == DEFAULT.crop_grid_mel * j
        assert CROP_GRID * j * MEL_PER_MOTION == DEFAULT.crop_grid_mel * j


@pytest.mark.parametrize("timeline", [DEFAULT, Timeline(22050, 256, 25.0), Timeline(16000, 160, 30.0),
                                      Timeline(24000, 256, 30000 / 1001)], ids=str)
def test_inverse(timeline):
    for n in range(400):
        m = timeline.motion_frames_for(n)
        assert timeline.mel_frames_for(m) <= n < timeline.mel_frames_for(m + 1)
    for m in range(300):
        assert timeline.motion_frames_for(timeline.mel_frames_for(m)) == m


def test_non_default_timeline():
    t = Timeline(22050, 256, 25.0)
    assert t.mel_fps == 22050 / 256
    assert t.mel_per_motion == pytest.approx(3.4453125)
    assert t.samples_per_motion == 882
    g = t.crop_grid
    assert g == 128 and t.mel_frames_for(g) == t.crop_grid_mel == 441  # 128 * 3.4453125 = 441 exactly
    assert all(t.mel_frames_for(m) == round(m * t.mel_per_motion + 1e-9) for m in range(1, 200) if m % 2)
    assert t.motion_frames_for_samples(882 * 7 + 400) == 7


def test_config_timeline_matches_its_fields():
    for cfg in (JAMConfig(), get_preset("tiny"),
                JAMConfig(sample_rate=22050, hop_length=256, mel_fps=22050 / 256, motion_fps=30.0)):
        t = cfg.timeline
        assert (t.sample_rate, t.hop_length, t.motion_fps) == (cfg.sample_rate, cfg.hop_length, cfg.motion_fps)
        assert t.mel_fps == cfg.mel_fps
        assert cfg.mel_per_motion == t.mel_per_motion
    assert JAMConfig().timeline == DEFAULT


def test_config_rejects_inconsistent_mel_fps():
    with pytest.raises(UserError, match="mel_fps: expected sample_rate / hop_length"):
        JAMConfig(sample_rate=22050, hop_length=256)  # mel_fps left at 93.75
    with pytest.raises(UserError, match="mel_fps"):
        JAMConfig(mel_fps=100.0)
