import numpy as np
import pytest
import torch
from scipy.special import erf

from jamflow.errors import UserError
from jamflow.vocoder import Vocos, load_vocoder

DIM, INTER, LAYERS, N_FFT, HOP = 16, 24, 2, 1024, 256
# the released config.yaml's layout (inline comments included), with a tiny backbone
CONFIG_YAML = f"""feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft:        1024 # 42.66 msec
    hop_length:    256 # 10.66 msec, 3/4 overlap
    n_mels:        100
    padding:    center

backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: {DIM}
    intermediate_dim: {INTER}
    num_layers: {LAYERS}

head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: {DIM}
    n_fft: {N_FFT}
    hop_length: {HOP}
    padding: center
"""


def official_state(seed=0):
    """Random weights in the released checkpoint's key layout, written out by hand."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: 0.1 * torch.randn(*shape, generator=g)  # noqa: E731
    s = {"backbone.embed.weight": r(DIM, 100, 7), "backbone.embed.bias": r(DIM),
         "backbone.norm.weight": 1 + r(DIM), "backbone.norm.bias": r(DIM),
         "backbone.final_layer_norm.weight": 1 + r(DIM), "backbone.final_layer_norm.bias": r(DIM),
         "head.out.weight": r(N_FFT + 2, DIM), "head.out.bias": r(N_FFT + 2),
         "head.istft.window": torch.hann_window(N_FFT),
         "feature_extractor.mel_spec.spectrogram.window": torch.hann_window(N_FFT),
         "feature_extractor.mel_spec.mel_scale.fb": torch.rand(513, 100)}
    for i in range(LAYERS):
        p = f"backbone.convnext.{i}."
        s.update({p + "dwconv.weight": r(DIM, 1, 7), p + "dwconv.bias": r(DIM),
                  p + "norm.weight": 1 + r(DIM), p + "norm.bias": r(DIM),
                  p + "pwconv1.weight": r(INTER, DIM), p + "pwconv1.bias": r(INTER),
                  p + "pwconv2.weight": r(DIM, INTER), p + "pwconv2.bias": r(DIM), p + "gamma": r(DIM)})
    return s


@pytest.fixture
def vocos_dir(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG_YAML)
    torch.save(official_state(), tmp_path / "pytorch_model.bin")
    return tmp_path


def _numpy_vocos(s, mel):
    """Independent float64 forward of the published architecture, from the state dict alone."""
    s = {k: v.double().numpy() for k, v in s.items()}

    def conv1d(x, w, b, groups=1):  # x [c, n], w [o, c/groups, k], padding k // 2
        k = w.shape[-1]
        xp = np.pad(x, ((0, 0), (k // 2, k // 2)))
        cols = np.stack([xp[:, j:j + x.shape[1]] for j in range(k)], axis=-1)  # [c, n, k]
        if groups == 1:
            return np.einsum("cnk,ock->on", cols, w) + b[:, None]
        return np.einsum("cnk,ck->cn", cols, w[:, 0]) + b[:, None]

    def ln(x, w, b):  # over last axis, eps 1e-6
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-6) * w + b

    x = conv1d(mel, s["backbone.embed.weight"], s["backbone.embed.bias"])  # [d, n]
    x = ln(x.T, s["backbone.norm.weight"], s["backbone.norm.bias"]).T
    for i in range(LAYERS):
        p = f"backbone.convnext.{i}."
        h = conv1d(x, s[p + "dwconv.weight"], s[p + "dwconv.bias"], groups=DIM).T  # [n, d]
        h = ln(h, s[p + "norm.weight"], s[p + "norm.bias"]) @ s[p + "pwconv1.weight"].T + s[p + "pwconv1.bias"]
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        h = h @ s[p + "pwconv2.weight"].T + s[p + "pwconv2.bias"]
        x = x + (s[p + "gamma"] * h).T
    x = ln(x.T, s["backbone.final_layer_norm.weight"], s["backbone.final_layer_norm.bias"])  # [n, d]
    out = x @ s["head.out.weight"].T + s["head.out.bias"]  # [n, 1026]
    mag, phase = np.minimum(np.exp(out[:, :513]), 100.0), out[:, 513:]
    frames = np.fft.irfft(mag * np.exp(1j * phase), N_FFT, axis=1) * s["head.istft.window"]  # [n, 1024]
    n = frames.shape[0]
    y = np.zeros((n - 1) * HOP + N_FFT)
    env = np.zeros_like(y)
    for t in range(n):
        y[t * HOP: t * HOP + N_FFT] += frames[t]
        env[t * HOP: t * HOP + N_FFT] += s["head.istft.window"] ** 2
    keep = slice(N_FFT // 2, N_FFT // 2 + (n - 1) * HOP)  # centre padding removed
    return y[keep] / env[keep]


def test_from_pretrained_loads_official_layout_and_matches_numpy(vocos_dir):
    model = Vocos.from_pretrained(vocos_dir)
    assert Vocos.from_pretrained(vocos_dir / "pytorch_model.bin").cfg == model.cfg  # the file itself works too
    assert model.cfg.dim == DIM and model.cfg.num_layers == LAYERS and model.cfg.padding == "center"
    mel = torch.randn(2, 100, 12)
    wav = model.decode(mel)
    assert wav.shape == (2, 11 * HOP)
    ref = _numpy_vocos(official_state(), mel[1].double().numpy())
    assert np.abs(wav[1].double().numpy() - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())


def test_safetensors_and_save_pretrained_roundtrip(vocos_dir, tmp_path_factory):
    from safetensors.torch import save_file

    model = Vocos.from_pretrained(vocos_dir)
    out = model.save_pretrained(tmp_path_factory.mktemp("saved"))
    again = Vocos.from_pretrained(out)
    mel = torch.randn(1, 100, 8)
    assert torch.allclose(model.decode(mel), again.decode(mel))
    (vocos_dir / "pytorch_model.bin").unlink()
    save_file({k: v.contiguous() for k, v in official_state().items()}, str(vocos_dir / "model.safetensors"))
    assert torch.allclose(Vocos.from_pretrained(vocos_dir).decode(mel), model.decode(mel))
    assert isinstance(load_vocoder(vocos_dir), Vocos)


def test_loader_rejects_wrong_keys_shapes_and_files(vocos_dir):
    state = official_state()
    del state["backbone.convnext.1.gamma"]
    torch.save(state, vocos_dir / "pytorch_model.bin")
    with pytest.raises(UserError, match="missing.*convnext.1.gamma"):
        Vocos.from_pretrained(vocos_dir)
    state = official_state()
    state["head.out.weight"] = torch.zeros(N_FFT + 2, DIM + 1)
    torch.save(state, vocos_dir / "pytorch_model.bin")
    with pytest.raises(UserError, match="head.out.weight expected shape"):
        Vocos.from_pretrained(vocos_dir)
    state = official_state()
    state["backbone.extra.weight"] = torch.zeros(1)
    torch.save(state, vocos_dir / "pytorch_model.bin")
    with pytest.raises(UserError, match="unexpected.*backbone.extra"):
        Vocos.from_pretrained(vocos_dir)
    (vocos_dir / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="readable checkpoint"):
        Vocos.from_pretrained(vocos_dir)
    (vocos_dir / "config.yaml").write_text(CONFIG_YAML.replace("vocos.heads.ISTFTHead", "vocos.heads.IMDCTCosHead"))
    with pytest.raises(UserError, match="config"):
        Vocos.from_pretrained(vocos_dir)
    with pytest.raises(UserError, match="folder"):
        Vocos.from_pretrained(vocos_dir / "nowhere")


def test_pickled_code_is_refused(vocos_dir):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, vocos_dir / "pytorch_model.bin")
    with pytest.raises(UserError, match="readable checkpoint"):
        Vocos.from_pretrained(vocos_dir)


def test_same_padding_istft_inverts_an_stft():
    from jamflow.vocoder.vocos import ISTFT

    x = torch.randn(1, 40 * HOP)
    pad = (N_FFT - HOP) // 2
    spec = torch.stft(torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0], N_FFT, HOP,
                      window=torch.hann_window(N_FFT), center=False, return_complex=True)
    y = ISTFT(N_FFT, HOP, "same")(spec)
    assert y.shape[-1] == spec.shape[-1] * HOP
    assert torch.allclose(y[:, HOP:-HOP], x[:, HOP: y.shape[-1] - HOP], atol=1e-4)


def test_decode_rejects_wrong_mel_shape(vocos_dir):
    with pytest.raises(UserError, match="mel"):
        Vocos.from_pretrained(vocos_dir).decode(torch.randn(1, 80, 10))
