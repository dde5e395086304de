"""Every task end to end through the Python API on a tiny random model."""
import numpy as np
import pytest

from jamflow.audio.text import chunk_text, normalize_text
from jamflow.errors import UserError
from jamflow.infer import engine, prompt, sampling
from jamflow.infer.layout import chunk_char_budget
from jamflow.infer.outputs import write_outputs
from jamflow.motion.io import save_motion
from jamflow.render.video import probe
from jamflow.timeline import mel_frames_for

FAST = dict(nfe_step=2, seed=7)  # 2 sampling steps: shapes and plumbing, not quality
SPM = 960


def test_tts_shapes_and_files(jam, ref_wav, tmp_path):
    wav, ref = ref_wav
    out = jam.tts("The quick brown fox.", ref, "A reference sentence.", output=tmp_path / "a.wav", **FAST)
    assert out.wav.dtype == np.float32 and np.isfinite(out.wav).all()
    frames = len(out.motion)
    assert out.motion.shape == (frames, 70) and len(out.wav) == frames * SPM
    assert frames % prompt.GRID == 0 and frames >= 4
    assert sorted(out.paths) == ["motion", "wav"]
    assert np.load(out.paths["motion"]).shape == (frames, 70)


def test_seed_reproduces_and_differs(jam):
    a = jam.tts("Same words twice.", **FAST)
    b = jam.tts("Same words twice.", **FAST)
    c = jam.tts("Same words twice.", nfe_step=2, seed=8)
    assert np.array_equal(a.wav, b.wav) and np.array_equal(a.motion, b.motion)
    assert not np.allclose(a.wav, c.wav)


def test_unseeded_run_reports_the_seed_it_drew(jam):
    a = jam.tts("Tell me your seed.", nfe_step=2)
    b = jam.tts("Tell me your seed.", nfe_step=2, seed=a.seed)
    assert np.array_equal(a.wav, b.wav)


def test_fix_duration_sets_length(jam, ref_wav):
    _, ref = ref_wav
    out = jam.tts("Exactly timed.", ref, "A reference sentence.", fix_duration=1.6 + 2.0, **FAST)
    assert abs(out.duration - 2.0) <= 0.16 + 0.05  # reference + 0.16 s silence pad, on the 0.16 s grid


def test_long_text_is_chunked_without_duplicates_or_gaps(jam, monkeypatch):
    sentences = [f"Sentence number {w} is spoken here." for w in ("one", "two", "three", "four", "five", "six")]
    text = " ".join(sentences)
    seen = []
    real = sampling.generate

    def spy(model, jobs, *a, **k):  # records what each sampler call was asked to say
        seen.append([(j.text, j.frames, int(j.audio_known.sum())) for j in jobs])
        return real(model, jobs, *a, **k)

    monkeypatch.setattr(engine, "generate", spy)
    out = jam.tts(text, max_chunk_s=3.0, cross_fade_s=0.16, **FAST)
    expected = chunk_text(normalize_text(text), chunk_char_budget("", 0, 3.0, 1.0))
    assert out.chunks == len(expected) == len(seen) > 2
    # chunk k's job = (chunk k-1 as known prompt) + chunk k; the new texts concatenate to the input
    new_texts, gen_frames = [], []
    for k, ((job_text, frames, known_mel),) in enumerate(seen):
        prev = expected[k - 1] + " " if k else ""
        assert job_text == prev + expected[k]
        new_texts.append(expected[k])
        gen_frames.append(frames - (gen_frames[-1] if k else 0))
        assert known_mel == (mel_frames_for(gen_frames[-2]) if k else 0)
    assert " ".join(new_texts) == normalize_text(text)
    total = sum(gen_frames)
    assert len(out.wav) == total * SPM and len(out.motion) == total  # nothing repeated, nothing lost
    # seams: continuous audio (no silence gap) and motion without a jump larger than elsewhere
    steps = np.abs(np.diff(out.motion, axis=0)).max(axis=1)
    for seam in np.cumsum(gen_frames)[:-1]:
        around = out.wav[(seam - 2) * SPM:(seam + 2) * SPM]
        assert np.abs(around).max() > 1e-4
        assert steps[seam - 1] <= 4 * np.median(steps) + 1e-6


def test_reference_prompt_mode_runs_each_chunk_from_the_reference(jam, ref_wav, sampler_jobs):
    _, ref = ref_wav
    jam.tts("One short sentence. " * 6, ref, "A reference sentence.", chunk_prompt="reference", max_chunk_s=2, **FAST)
    seen = [job.text for job in sampler_jobs]
    assert len(seen) > 1 and all(t.startswith("A reference sentence.") for t in seen)


def test_talk_writes_video_with_one_frame_per_motion_frame(jam, tmp_path):
    out = jam.talk("Hello there.", output=tmp_path / "talk.mp4", **FAST)
    assert sorted(out.paths) == ["motion", "video", "wav"]
    info = probe(out.paths["video"])
    assert int(info["video"]["nb_read_frames"]) == len(out.motion)
    assert info["audio"] is not None


def test_animate_keeps_audio_and_gives_25_frames_per_second(jam, ref_wav):
    wav, _ = ref_wav
    long = np.concatenate([wav] * 4)  # 6.4 s -> several 2 s windows
    out = jam.animate(long, window_s=2.0, window_overlap_s=0.4, **FAST)
    assert np.array_equal(out.wav, long)
    assert len(out.motion) == int(np.ceil(len(long) / 24000 * 25)) and out.chunks > 2
    assert np.isfinite(out.motion).all()


def test_dub_follows_the_motion_length_and_returns_it_unchanged(jam, ref_wav, tmp_path):
    _, ref = ref_wav
    rng = np.random.default_rng(1)
    motion = (np.asarray(jam.codec.mean) + rng.normal(0, 0.1, (53, 70))).astype(np.float32)
    out = jam.dub("These words fit the lips.", motion, ref, "A reference sentence.", output=tmp_path / "d.mp4", **FAST)
    assert len(out.wav) == 53 * SPM
    assert np.array_equal(out.motion, motion)
    assert abs(float(probe(out.paths["video"])["audio"]["duration"]) - 53 / 25) < 0.05


def test_dub_muxes_into_a_given_video(jam, tmp_path):
    from jamflow.render.video import write_mp4

    frames = [np.full((32, 32, 3), i * 5, np.uint8) for i in range(40)]
    video = write_mp4(tmp_path / "in.mp4", frames)
    motion = np.tile(jam.codec.mean, (40, 1)).astype(np.float32)
    np.save(tmp_path / "in.npy", motion)  # the sidecar `jamflow extract-motion` would write
    out = jam.dub("Dubbed speech.", None, video=video, output=tmp_path / "out.mp4", **FAST)
    info = probe(out.paths["video"])
    assert int(info["video"]["nb_read_frames"]) == 40 and len(out.wav) == 40 * SPM


def test_edit_regenerates_only_the_spans_and_continues(jam, ref_wav):
    wav, _ = ref_wav
    motion = np.tile(jam.codec.mean, (40, 1)).astype(np.float32)
    out = jam.edit("A reference sentence that goes on.", wav, motion, audio_spans=[(0.4, 0.8)],
                   motion_spans=[(1.0, 1.2)], extend_s=0.8, **FAST)
    assert len(out.wav) == (40 + 20) * SPM and len(out.motion) == 60
    keep = np.ones(40 * SPM, bool)
    keep[10 * SPM:20 * SPM] = False
    assert np.array_equal(out.wav[:40 * SPM][keep], wav[:40 * SPM][keep])
    assert not np.allclose(out.wav[10 * SPM:20 * SPM], wav[10 * SPM:20 * SPM])
    assert np.array_equal(out.motion[:25], motion[:25]) and np.array_equal(out.motion[30:40], motion[30:40])
    assert not np.allclose(out.motion[25:30], motion[25:30])


def test_batched_jobs_match_single_runs(jam, tmp_path):
    texts = ["A short one.", "A somewhat longer sentence here."]
    results = jam.text_batch("tts", texts, None, None, jam_settings(seed=3), [tmp_path / "0", tmp_path / "1"])
    for text, r in zip(texts, results):
        single = jam.tts(text, nfe_step=2, seed=3)
        assert r.wav.shape == single.wav.shape
        assert np.allclose(r.motion, single.motion, atol=1e-3)


def jam_settings(**kw):
    from jamflow.infer.settings import make_settings

    return make_settings(None, nfe_step=2, **kw)


def test_motion_postprocessing_scales_around_the_mean(jam):
    base = jam.tts("Move your head.", **FAST).motion
    calm = jam.tts("Move your head.", head_scale=0.0, expression_scale=0.5, **FAST).motion
    assert np.allclose(calm[:, 63:69], jam.codec.mean[63:69], atol=1e-5)
    assert np.allclose(calm[:, :63] - jam.codec.mean[:63], 0.5 * (base[:, :63] - jam.codec.mean[:63]), atol=1e-4)


@pytest.mark.parametrize("call,match", [
    (lambda j, p: j.tts("", **FAST), "gen_text"),
    (lambda j, p: j.tts("Hi.", p, None, **FAST), "ASR"),
    (lambda j, p: j.tts("Hi.", "/nonexistent.wav", "x", **FAST), "ref_audio"),
    (lambda j, p: j.dub("Hi.", np.zeros((20, 69)), **FAST), "70 channels|70\\]"),
    (lambda j, p: j.dub("Hi.", np.full((20, 70), np.nan), **FAST), "NaN"),
    (lambda j, p: j.dub("Hi.", np.zeros((20, 70), np.int64), **FAST), "floating"),
    (lambda j, p: j.dub("A very long text " * 20, np.zeros((10, 70)), **FAST), "duration"),
    (lambda j, p: j.tts("Hi there.", fix_duration=500.0, **FAST), "fix_duration"),
    (lambda j, p: j.talk("Hi.", source="/nope.png", **FAST), "source"),
    (lambda j, p: j.tts("Hi.", nfe_step=0), "nfe_step"),
])
def test_bad_input_is_one_clear_error(jam, ref_wav, call, match):
    with pytest.raises(UserError, match=match):
        call(jam, ref_wav[1])


def test_motion_file_at_another_frame_rate_is_refused(jam, tmp_path):
    save_motion(tmp_path / "m.pkl", np.zeros((20, 70), np.float32), fps=30)
    with pytest.raises(UserError, match="motion: expected motion at 25 fps, got 30"):
        jam.dub("Hi.", tmp_path / "m.pkl", **FAST)


def test_stream_yields_the_same_audio_as_the_whole_call(jam):
    text = "First part is here. Second part follows now. Third part ends it all."
    pieces = list(jam.tts_stream(text, max_chunk_s=2.0, **FAST))
    whole = jam.tts(text, max_chunk_s=2.0, **FAST)
    assert len(pieces) >= 3  # audio is handed out chunk by chunk, before the end
    assert np.array_equal(np.concatenate([w for w, _ in pieces]), whole.wav)


def test_reference_motion_is_the_motion_prompt(jam, ref_wav, monkeypatch):
    wav, ref = ref_wav
    ref_motion = np.tile(jam.codec.mean, (40, 1)).astype(np.float32) + 0.3
    seen = []
    real = sampling.generate
    monkeypatch.setattr(engine, "generate", lambda m, jobs, *a, **k: seen.append(jobs[0]) or real(m, jobs, *a, **k))
    jam.talk("Keep moving.", ref, "A reference sentence.", ref_motion=ref_motion, **FAST)
    job = seen[0]
    assert job.motion_known[:40].all() and not job.motion_known[40:].any()
    expected, _ = jam.codec.normalize(ref_motion)
    assert np.allclose(job.motion[:40].numpy(), expected.numpy(), atol=1e-5)
    with pytest.raises(UserError, match="ref_motion"):
        jam.talk("Keep moving.", ref, "A reference sentence.", ref_motion=ref_motion[:20], **FAST)


def test_tokenizer_checkpoint_mismatch_is_reported(tmp_path):
    from jamflow.config import get_preset
    from jamflow.infer.api import JAMFlow
    from jamflow.model.jam import JAMModel
    from jamflow.vocoder.fallback import GriffinLimVocoder

    JAMModel(get_preset("tiny", audio=dict(text_num_embeds=64))).save_pretrained(tmp_path)  # bytes need 256
    small = JAMFlow.from_pretrained(tmp_path, vocoder=GriffinLimVocoder(), progress=False)
    with pytest.raises(UserError, match="tokenizer/checkpoint mismatch"):
        small.tts("Zebra.", **FAST)


def test_a_failing_render_leaves_no_files(jam, tmp_path):
    class Broken:  # a renderer that dies after two frames, like a crash mid-video
        size = (32, 32)

        def frames(self, motion, source=None):
            for i in range(2):
                yield np.zeros((32, 32, 3), np.uint8)
            raise RuntimeError("renderer crashed")

    result = jam.tts("Nothing should stay.", **FAST)
    with pytest.raises(RuntimeError, match="crashed"):
        write_outputs(result, tmp_path / "x.mp4", write_video=True, renderer=Broken(), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_talk_context_motion_drives_eyes_and_pose_without_a_reference(jam):
    from jamflow.infer.motion_codec import pingpong_indices

    rng = np.random.default_rng(0)
    ctx_motion = (jam.codec.mean + rng.standard_normal((7, 70)) * jam.codec.std).astype(np.float32)
    res = jam.talk("Hi there.", context_motion=ctx_motion, nfe_step=2, seed=0)
    ctx = list(jam.codec.spec.context)
    expected = ctx_motion[pingpong_indices(7, 0, len(res.motion))]
    np.testing.assert_allclose(res.motion[:, ctx], expected[:, ctx], atol=1e-4)
    still = jam.talk("Hi there.", nfe_step=2, seed=0, face_life=0).motion  # no context, no face life: neutral
    np.testing.assert_allclose(still[:, ctx], np.broadcast_to(jam.codec.mean[ctx], still[:, ctx].shape), atol=1e-5)
    with pytest.raises(UserError, match="context_motion"):
        jam.talk("Hi there.", context_motion=np.zeros((5, 12), np.float32), nfe_step=2)
