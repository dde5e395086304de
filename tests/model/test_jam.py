import torch

from jamflow.config import get_preset
from jamflow.model.audio_dit import AudioDiT
from jamflow.model.cfm import lens_to_mask
from jamflow.model.jam import JAMModel


def _inputs(cfg, b=2, n=48, m=13, nt=20, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = dict(
        audio_x=torch.randn(b, n, 100, generator=g), audio_cond=torch.randn(b, n, 100, generator=g),
        text=torch.randint(0, cfg.audio.text_num_embeds, (b, nt), generator=g), time=torch.rand(b, generator=g),
        motion_x=torch.randn(b, m, cfg.motion_gen_dim, generator=g),
        motion_cond=torch.randn(b, m, cfg.motion_gen_dim, generator=g),
        motion_context=torch.randn(b, m, cfg.motion_context_dim, generator=g))
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in x.items()}


def test_shapes(make_model):
    model = make_model()
    va, vm = model(**_inputs(model.cfg))
    assert va.shape == (2, 48, 100) and vm.shape == (2, 13, 18)
    assert torch.isfinite(va).all() and torch.isfinite(vm).all()


def test_zero_init_outputs_zero():
    model = JAMModel(get_preset("tiny")).eval()
    va, vm = model(**_inputs(model.cfg))
    assert va.abs().max() == 0 and vm.abs().max() == 0


def test_padding_invariance(make_model):
    """A padded batch gives, on each item's valid frames, what the item gives alone."""
    model = make_model().double()  # float64: the comparison is exact up to rounding
    full = _inputs(model.cfg, b=2, n=48, m=13, dtype=torch.float64)
    full["text"][1, 12:] = -1  # item 1: shorter text, 30 mel frames, 8 motion frames
    n1, m1 = 30, 8
    audio_mask = lens_to_mask(torch.tensor([48, n1]), 48)
    motion_mask = lens_to_mask(torch.tensor([13, m1]), 13)
    va, vm = model(**full, audio_mask=audio_mask, motion_mask=motion_mask)
    alone = dict(audio_x=full["audio_x"][1:, :n1], audio_cond=full["audio_cond"][1:, :n1], text=full["text"][1:, :12],
                 time=full["time"][1:], motion_x=full["motion_x"][1:, :m1], motion_cond=full["motion_cond"][1:, :m1],
                 motion_context=full["motion_context"][1:, :m1])
    va1, vm1 = model(**alone)
    torch.testing.assert_close(va[1, :n1], va1[0], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(vm[1, :m1], vm1[0], atol=1e-9, rtol=1e-9)
    # and padding content does not leak: change the padded frames, valid outputs stay
    full["audio_x"][1, n1:] += 5
    full["motion_x"][1, m1:] -= 5
    va2, vm2 = model(**full, audio_mask=audio_mask, motion_mask=motion_mask)
    torch.testing.assert_close(va2[1, :n1], va[1, :n1], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(vm2[1, :m1], vm[1, :m1], atol=1e-9, rtol=1e-9)


def test_padding_invariance_average_upsampling(make_model):
    model = make_model(audio={"text_embedding_average_upsampling": True}).double()
    full = _inputs(model.cfg, b=2, n=40, m=11, dtype=torch.float64)
    full["text"][1, 9:] = -1
    va, _ = model(**full, audio_mask=lens_to_mask(torch.tensor([40, 25]), 40),
                  motion_mask=lens_to_mask(torch.tensor([11, 7]), 11))
    va1, _ = model(audio_x=full["audio_x"][1:, :25], audio_cond=full["audio_cond"][1:, :25], text=full["text"][1:, :9],
                   time=full["time"][1:], motion_x=full["motion_x"][1:, :7], motion_cond=full["motion_cond"][1:, :7],
                   motion_context=full["motion_context"][1:, :7])
    torch.testing.assert_close(va[1, :25], va1[0], atol=1e-9, rtol=1e-9)


def _one_joint_layer_model(make_model, window):
    return make_model(audio={"depth": 1}, motion={"depth": 1}, joint_layers=[[0, 0]], joint_window_s=window)


def test_window_blocks_far_motion(make_model):
    """Audio frames near t=0 must not see motion frames outside the +-window (0.1 s = 9.4 mel frames)."""
    model = _one_joint_layer_model(make_model, 0.1).double()
    x = _inputs(model.cfg, b=1, n=120, m=32, dtype=torch.float64)
    va, _ = model(**x)
    changed = dict(x, motion_x=x["motion_x"].clone(), motion_cond=x["motion_cond"].clone())
    changed["motion_x"][:, 20:] += 3.0  # frames >= 20 sit at mel >= 75; conv positions spread them to k >= 14
    changed["motion_cond"][:, 20:] -= 3.0
    va2, _ = model(**changed)
    torch.testing.assert_close(va2[:, :6], va[:, :6], atol=1e-9, rtol=1e-9)  # window of mel 0..5 covers k <= 3
    assert (va2[:, 60:] - va[:, 60:]).abs().max() > 1e-3  # near the change the audio does see it


def test_global_mode_sees_everything(make_model, randomize):
    # small weights keep the attention soft: with std 0.2 a peaked softmax can underflow to exact zeros
    model = randomize(_one_joint_layer_model(make_model, None), std=0.05).double()
    x = _inputs(model.cfg, b=1, n=120, m=32, dtype=torch.float64)
    va, _ = model(**x)
    x["motion_x"] = x["motion_x"].clone()
    x["motion_x"][:, 20:] += 3.0
    va2, _ = model(**x)
    assert (va2[:, :6] - va[:, :6]).abs().max() > 1e-4


def test_aligned_positions(make_model):
    model = make_model()
    pos = model.motion.positions(9)
    assert torch.allclose(pos, torch.arange(9) * 3.75)
    audio_angles = model.audio.rope(torch.arange(31)).angles
    torch.testing.assert_close(model.motion.rope(pos).angles[8], audio_angles[30])  # motion frame 8 == mel frame 30


def test_audio_only_equals_plain_f5_dit(make_model):
    """No motion input (or no motion stream) = the Audio-DiT alone = F5's DiT call."""
    joint = make_model()
    plain = AudioDiT(joint.cfg.audio)
    plain.load_state_dict(joint.audio.state_dict())
    plain.eval()
    x = _inputs(joint.cfg)
    ref = plain(x["audio_x"], x["audio_cond"], x["text"], x["time"])
    va, vm = joint(x["audio_x"], x["audio_cond"], x["text"], x["time"])
    assert vm is None
    torch.testing.assert_close(va, ref)
    no_motion = make_model(motion=None)
    no_motion.audio.load_state_dict(joint.audio.state_dict())
    torch.testing.assert_close(no_motion(x["audio_x"], x["audio_cond"], x["text"], x["time"])[0], ref)
    # and the motion stream does change the audio in joint mode (so the test above can fail)
    assert (joint(**x)[0] - ref).abs().max() > 1e-4


def test_per_sample_dropout_flags(make_model):
    model = make_model()
    x = _inputs(model.cfg)
    both = model(**x, drop_audio_cond=torch.tensor([False, True]), drop_text=torch.tensor([False, True]),
                 drop_motion_cond=torch.tensor([False, True]))
    keep = model(**x)
    drop = model(**x, drop_audio_cond=True, drop_text=True, drop_motion_cond=True)
    torch.testing.assert_close(both[0][0], keep[0][0])
    torch.testing.assert_close(both[0][1], drop[0][1])
    torch.testing.assert_close(both[1][1], drop[1][1])
    assert (keep[0][1] - drop[0][1]).abs().max() > 1e-4


def test_flex_backend_matches_sdpa(make_model):
    """The block-sparse FlexAttention path (meant for CUDA) computes the same joint layers."""
    import warnings

    model = make_model(joint_window_s=0.2)
    x = _inputs(model.cfg, b=2, n=150, m=40)
    masks = dict(audio_mask=lens_to_mask(torch.tensor([150, 120]), 150), motion_mask=lens_to_mask(torch.tensor([40, 32]), 40))
    flex_model = JAMModel(model.cfg, attention="flex").eval()
    flex_model.load_state_dict(model.state_dict())
    assert type(flex_model.prepare(2, 150, 40, **masks).mask_j).__name__ == "BlockMask"
    with torch.no_grad():
        ref = model(**x, **masks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # eager flex_attention warns that it is the slow reference path
            flex = flex_model(**x, **masks)
    torch.testing.assert_close(flex[0][0], ref[0][0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(flex[0][1, :120], ref[0][1, :120], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(flex[1][1, :32], ref[1][1, :32], atol=1e-4, rtol=1e-4)


def test_attention_backend_is_chosen_at_construction():
    import pytest

    from jamflow.errors import UserError
    from jamflow.model.attention import FlexAttentionBackend

    assert JAMModel(get_preset("tiny")).attention.name == "sdpa"
    backend = FlexAttentionBackend()
    assert JAMModel(get_preset("tiny"), attention=backend).attention is backend
    with pytest.raises(UserError, match="attention: expected one of \\['flex', 'sdpa'\\], got 'fast'"):
        JAMModel(get_preset("tiny"), attention="fast")


def test_shape_errors_are_user_errors(make_model):
    import pytest

    from jamflow.errors import UserError

    model = make_model()
    x = _inputs(model.cfg)
    for key, bad in (("audio_x", x["audio_x"][..., :80]), ("motion_x", x["motion_x"][..., :5]),
                     ("motion_context", x["motion_context"][:, :4]), ("text", x["text"].float())):
        with pytest.raises(UserError, match=key):
            model(**dict(x, **{key: bad}))
    with pytest.raises(UserError, match="no motion stream"):
        make_model(motion=None)(**x)
