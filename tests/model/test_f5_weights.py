"""F5-TTS loading: checkpoints written by the test in the official key layout, and an independent
functional F5 DiT forward (written from the official key names) that our model must reproduce.
The reference uses complex-number RoPE over adjacent pairs, [sin, cos] time features and the
published adaLN chunk orders, so a regression in any of them fails here."""
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from jamflow.errors import UserError
from jamflow.model.audio_dit import AudioDiT
from jamflow.model.f5_weights import export_f5_state, f5_key_map, infer_config, load_f5tts

DIM, DEPTH, HEADS, FF, TEXT_DIM, CONV_LAYERS, VOCAB, GROUPS = 128, 2, 2, 2, 32, 2, 40, 16
P = "ema_model.transformer."


def official_state(seed=0):
    """Random weights in F5's key layout (official names and shapes), nothing zero."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {
        "time_embed.time_mlp.0.weight": r(DIM, 256), "time_embed.time_mlp.0.bias": r(DIM),
        "time_embed.time_mlp.2.weight": r(DIM, DIM), "time_embed.time_mlp.2.bias": r(DIM),
        "text_embed.text_embed.weight": r(VOCAB + 1, TEXT_DIM),
        "input_embed.proj.weight": r(DIM, 200 + TEXT_DIM), "input_embed.proj.bias": r(DIM),
        "rotary_embed.inv_freq": 1.0 / (10000 ** (torch.arange(0, 64, 2).float() / 64)),
        "norm_out.linear.weight": r(2 * DIM, DIM), "norm_out.linear.bias": r(2 * DIM),
        "proj_out.weight": r(100, DIM), "proj_out.bias": r(100),
    }
    for j in (0, 2):
        sd[f"input_embed.conv_pos_embed.conv1d.{j}.weight"] = r(DIM, DIM // GROUPS, 31)
        sd[f"input_embed.conv_pos_embed.conv1d.{j}.bias"] = r(DIM)
    for i in range(CONV_LAYERS):
        t = f"text_embed.text_blocks.{i}."
        sd.update({t + "dwconv.weight": r(TEXT_DIM, 1, 7), t + "dwconv.bias": r(TEXT_DIM),
                   t + "norm.weight": 1 + r(TEXT_DIM), t + "norm.bias": r(TEXT_DIM),
                   t + "pwconv1.weight": r(2 * TEXT_DIM, TEXT_DIM), t + "pwconv1.bias": r(2 * TEXT_DIM),
                   t + "grn.gamma": r(1, 1, 2 * TEXT_DIM), t + "grn.beta": r(1, 1, 2 * TEXT_DIM),
                   t + "pwconv2.weight": r(TEXT_DIM, 2 * TEXT_DIM), t + "pwconv2.bias": r(TEXT_DIM)})
    for i in range(DEPTH):
        b = f"transformer_blocks.{i}."
        sd.update({b + "attn_norm.linear.weight": r(6 * DIM, DIM), b + "attn_norm.linear.bias": r(6 * DIM),
                   b + "ff.ff.0.0.weight": r(FF * DIM, DIM), b + "ff.ff.0.0.bias": r(FF * DIM),
                   b + "ff.ff.2.weight": r(DIM, FF * DIM), b + "ff.ff.2.bias": r(DIM)})
        for p in ("to_q", "to_k", "to_v", "to_out.0"):
            sd[b + f"attn.{p}.weight"], sd[b + f"attn.{p}.bias"] = r(DIM, DIM), r(DIM)
    return {P + k: v for k, v in sd.items()}


def reference_forward(sd, x, cond, text, time, version):
    """F5's DiT forward, batch of one item (no padding), straight from the official keys."""
    w = lambda k: sd[P + k]  # noqa: E731
    lin = lambda h, k: F.linear(h, w(k + ".weight"), w(k + ".bias"))  # noqa: E731
    ln = lambda h: F.layer_norm(h, h.shape[-1:], eps=1e-6)  # noqa: E731
    n = x.shape[1]
    # time: sinusoid of 1000 t, divisor half - 1, [sin, cos]
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half).double() / (half - 1))
    arg = 1000 * time[:, None] * freqs
    t = lin(F.silu(lin(torch.cat([arg.sin(), arg.cos()], -1), "time_embed.time_mlp.0")), "time_embed.time_mlp.2")
    # text: +1 shift, pad to n, sinusoid table [cos | sin], ConvNeXt-V2 blocks
    ids = F.pad((text + 1)[:, :n], (0, max(0, n - text.shape[1])))
    filler = ids == 0
    e = F.embedding(ids, w("text_embed.text_embed.weight"))
    f = 1.0 / (10000 ** (torch.arange(0, TEXT_DIM, 2).float() / TEXT_DIM))  # fixed table, built in float32 as F5 does
    ang = torch.arange(n)[:, None].float() * f
    e = e + torch.cat([ang.cos(), ang.sin()], -1).to(e.dtype)
    masked = version == "v1"
    if masked:
        e = e.masked_fill(filler[..., None], 0)
    for i in range(CONV_LAYERS):
        k = f"text_embed.text_blocks.{i}."
        h = F.conv1d(e.transpose(1, 2), w(k + "dwconv.weight"), w(k + "dwconv.bias"), padding=3, groups=TEXT_DIM).transpose(1, 2)
        h = F.layer_norm(h, (TEXT_DIM,), w(k + "norm.weight"), w(k + "norm.bias"), eps=1e-6)
        h = F.gelu(lin(h, k + "pwconv1"))
        gx = h.pow(2).sum(1, keepdim=True).sqrt()
        h = w(k + "grn.gamma") * (h * gx / (gx.mean(-1, keepdim=True) + 1e-6)) + w(k + "grn.beta") + h
        e = e + lin(h, k + "pwconv2")
        if masked:
            e = e.masked_fill(filler[..., None], 0)
    h = lin(torch.cat([x, cond, e], -1), "input_embed.proj")
    c = h.transpose(1, 2)
    for j in (0, 2):
        c = F.mish(F.conv1d(c, w(f"input_embed.conv_pos_embed.conv1d.{j}.weight"),
                            w(f"input_embed.conv_pos_embed.conv1d.{j}.bias"), padding=15, groups=GROUPS))
    h = h + c.transpose(1, 2)
    inv = w("rotary_embed.inv_freq")
    angle = torch.arange(n)[:, None].to(inv.dtype) * inv
    rot = torch.polar(torch.ones_like(angle), angle)  # [n, 32] complex

    def rope(q):  # q [b, h, n, 64]; v0: head 0 only
        qc = torch.view_as_complex(q.reshape(*q.shape[:-1], 32, 2).contiguous())
        out = torch.view_as_real(qc * rot).reshape(q.shape)
        return out if version == "v1" else torch.cat([out[:, :1], q[:, 1:]], 1)

    for i in range(DEPTH):
        k = f"transformer_blocks.{i}."
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = lin(F.silu(t), k + "attn_norm.linear").chunk(6, -1)
        a = ln(h) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        heads = lambda z: z.view(z.shape[0], n, HEADS, 64).transpose(1, 2)  # noqa: E731
        q, kk, v = heads(lin(a, k + "attn.to_q")), heads(lin(a, k + "attn.to_k")), heads(lin(a, k + "attn.to_v"))
        q, kk = rope(q), rope(kk)
        att = torch.softmax(q @ kk.transpose(-1, -2) / 8.0, -1) @ v
        h = h + gate_msa[:, None] * lin(att.transpose(1, 2).reshape(h.shape[0], n, HEADS * 64), k + "attn.to_out.0")
        a = ln(h) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        h = h + gate_mlp[:, None] * lin(F.gelu(lin(a, k + "ff.ff.0.0"), approximate="tanh"), k + "ff.ff.2")
    scale, shift = lin(F.silu(t), "norm_out.linear").chunk(2, -1)
    return lin(ln(h) * (1 + scale[:, None]) + shift[:, None], "proj_out")


def _inputs(n=40, nt=15, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, n, 100, generator=g), torch.randn(1, n, 100, generator=g),
            torch.randint(0, VOCAB, (1, nt), generator=g), torch.rand(1, generator=g))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("f5") / "model_1250000.safetensors"
    save_file(official_state(), str(path))
    return path


@pytest.mark.parametrize("version", ["v1", "v0"])
def test_matches_reference_forward(ckpt, version):
    model = load_f5tts(ckpt, version=version)
    assert (model.cfg.dim, model.cfg.depth, model.cfg.heads, model.cfg.text_num_embeds) == (DIM, DEPTH, HEADS, VOCAB)
    x, cond, text, time = (v.double() if v.is_floating_point() else v for v in _inputs())
    state = {k: v.double() for k, v in official_state().items()}
    with torch.no_grad():  # float64 so the comparison is exact up to rounding
        ours = model.double()(x, cond, text, time)
        ref = reference_forward(state, x, cond, text, time, version)
    torch.testing.assert_close(ours, ref, atol=1e-8, rtol=1e-8)


def test_versions_differ(ckpt):
    x, cond, text, time = _inputs()
    with torch.no_grad():
        v1 = load_f5tts(ckpt, "v1")(x, cond, text, time)
        v0 = load_f5tts(ckpt, "v0")(x, cond, text, time)
    assert (v1 - v0).abs().max() > 1e-3


def test_training_pt_container(tmp_path, ckpt):
    ema = dict(official_state())
    ema["initted"], ema["step"] = torch.tensor(True), torch.tensor(7)
    ema["ema_model.mel_spec.mel_stft.mel_scale.fb"] = torch.zeros(513, 100)  # old checkpoints carry it
    path = tmp_path / "model_last.pt"
    torch.save({"ema_model_state_dict": ema, "model_state_dict": {}, "update": 7}, path)
    a, b = load_f5tts(path), load_f5tts(ckpt)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k


def test_export_round_trip(tmp_path, ckpt):
    model = load_f5tts(ckpt)
    exported = export_f5_state(model)
    assert set(exported) == set(official_state())
    for k, v in official_state().items():
        assert torch.equal(exported[k], v), k


@pytest.mark.parametrize("break_it", ["missing", "unexpected", "shape", "qk_norm", "not_f5"])
def test_loader_fails_loudly(tmp_path, break_it):
    sd = official_state()
    if break_it == "missing":
        del sd[P + "transformer_blocks.1.attn.to_k.bias"]
    elif break_it == "unexpected":
        sd[P + "long_skip_connection.weight"] = torch.zeros(DIM, 2 * DIM)
    elif break_it == "shape":
        sd[P + "transformer_blocks.0.ff.ff.2.bias"] = torch.zeros(DIM + 1)
    elif break_it == "qk_norm":
        sd[P + "transformer_blocks.0.attn.q_norm.weight"] = torch.ones(64)
    else:
        sd = {"encoder.weight": torch.zeros(3)}
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path))
    with pytest.raises(UserError):
        load_f5tts(path)


def test_bad_version_and_path(tmp_path, ckpt):
    with pytest.raises(UserError, match="version"):
        load_f5tts(ckpt, version="v2")
    with pytest.raises(UserError, match="not a file"):
        load_f5tts(tmp_path / "none.safetensors")


def test_base_inventory():
    """The map covers F5TTS_v1_Base's 364 tensors with the published shapes."""
    keys = f5_key_map(22, 4)
    assert len(keys) == 364
    from jamflow.config import AudioDiTConfig

    with torch.device("meta"):
        model = AudioDiT(AudioDiTConfig())
    own = model.state_dict()
    shapes = {k: tuple(own[v].shape) for k, v in keys.items()}
    assert shapes["text_embed.text_embed.weight"] == (2546, 512)
    assert shapes["input_embed.proj.weight"] == (1024, 712)
    assert shapes["input_embed.conv_pos_embed.conv1d.0.weight"] == (1024, 64, 31)
    assert shapes["transformer_blocks.21.attn_norm.linear.weight"] == (6144, 1024)
    assert shapes["transformer_blocks.0.ff.ff.0.0.weight"] == (2048, 1024)
    assert shapes["text_embed.text_blocks.3.grn.gamma"] == (1, 1, 1024)
    assert shapes["norm_out.linear.weight"] == (2048, 1024) and shapes["rotary_embed.inv_freq"] == (32,)
    cfg = infer_config({k: torch.empty(s, device="meta") for k, s in shapes.items()}, "v1")
    assert cfg == AudioDiTConfig()


def test_import_f5_cli(tmp_path, ckpt):
    from jamflow.cli import main
    from jamflow.model.jam import JAMModel

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([" "] + [chr(97 + i % 26) + str(i) for i in range(VOCAB - 1)]) + "\n")
    out = tmp_path / "jam"
    assert main(["import-f5", str(ckpt), str(out), "--motion_preset", "tiny", "--vocab", str(vocab)]) == 0
    model = JAMModel.from_pretrained(out)
    assert (out / "vocab.txt").is_file() and model.cfg.vocab_file == "vocab.txt"
    assert model.motion is not None and model.cfg.motion.heads == HEADS
    x, cond, text, time = _inputs()
    with torch.no_grad():
        va, _ = model(x, cond, text, time)
        ref = load_f5tts(ckpt)(x, cond, text, time)
    torch.testing.assert_close(va, ref)
    bad = tmp_path / "short.txt"
    bad.write_text("a\nb\n")
    assert main(["import-f5", str(ckpt), str(tmp_path / "x"), "--vocab", str(bad)]) == 2
