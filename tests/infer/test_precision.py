"""The compute precision inference picks, and a bf16 run on CPU against the fp32 one."""
import numpy as np
import pytest
import torch

from jamflow import dtypes
from jamflow.errors import UserError
from jamflow.infer import api, engine


@pytest.mark.parametrize("fast_bf16, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_cpu_default_follows_bf16_hardware(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(engine, "cpu_has_fast_bf16", lambda: fast_bf16)
    cpu = torch.device("cpu")
    assert engine.pick_dtype(cpu) == expected
    assert engine.pick_dtype(cpu, "auto") == expected
    assert engine.pick_dtype(cpu, "float32") == torch.float32  # an explicit choice always wins
    assert engine.pick_dtype(cpu, "bf16") == torch.bfloat16
    assert engine.pick_dtype(torch.device("mps")) == torch.float32


def test_bad_dtype_is_a_user_error():
    with pytest.raises(UserError, match="dtype: expected"):
        engine.pick_dtype(torch.device("cpu"), "int4")


def test_bf16_probe_reads_the_cpu_flags_and_fails_safe(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert dtypes.cpu_has_fast_bf16()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not dtypes.cpu_has_fast_bf16()

    def broken():
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken)
    assert not dtypes.cpu_has_fast_bf16()
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not dtypes.cpu_has_fast_bf16()


def test_bf16_on_cpu_runs_and_stays_near_fp32(tiny_ckpt, fast):
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    out = {}
    for name in ("float32", "bfloat16"):
        jam = api.JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype=name, vocoder=voc, progress=False)
        assert jam.dtype == getattr(torch, name)
        halved = {n for n, p in jam.model.named_parameters() if p.dtype == torch.bfloat16}
        assert all(p.dtype == torch.float32 for n, p in jam.model.named_parameters() if n not in halved)
        if name == "float32":
            assert not halved
        else:  # the DiTs' linears and convolutions only: what autocast would cast at every call anyway
            assert halved and all(n.startswith(("audio.", "motion.")) and n.endswith((".weight", ".bias"))
                                  for n in halved)
        out[name] = jam.talk("Precision check.", **fast)
    a, b = out["float32"], out["bfloat16"]
    assert b.wav.dtype == np.float32 and b.motion.dtype == np.float32
    assert np.isfinite(b.wav).all() and np.isfinite(b.motion).all()
    assert b.motion.shape == a.motion.shape
    # bf16 keeps ~3 significant digits: close to fp32, but not bit-equal (else autocast did nothing)
    assert not np.array_equal(a.motion, b.motion)
    assert np.corrcoef(a.motion.ravel(), b.motion.ravel())[0, 1] > 0.99


def test_halved_dit_weights_give_bit_identical_output_and_leave_the_model_alone(tiny_ckpt, fast):
    """Storing the DiTs' linears in bf16 only skips autocast's own per-call cast: the sampler's mel and
    motion are bit-equal to the fp32-weight model's under the same autocast."""
    from jamflow.infer.jobs import Job
    from jamflow.infer.prompt import reference_prompt
    from jamflow.infer.settings import InferSettings
    from jamflow.model.jam import JAMModel

    model = JAMModel.from_pretrained(tiny_ckpt)
    halved = engine.Engine.place(model, "cpu", "bfloat16", progress=False)
    assert halved.model is not model and all(p.dtype == torch.float32 for p in model.parameters())
    assert any(p.dtype == torch.bfloat16 for p in halved.model.parameters())
    fp32_weights = engine.Engine(model, None, halved.codec, None, torch.device("cpu"), torch.bfloat16, False)
    job = Job.continuing(reference_prompt(halved, None, None, None), "bit exact", 32, None, halved.dims)
    tokenizer = api.JAMFlow.from_pretrained(tiny_ckpt, dtype="float32", progress=False).tokenizer
    halved.tokenizer = fp32_weights.tokenizer = tokenizer
    s = InferSettings(**fast)
    a, b = fp32_weights.sample([job], s)[0], halved.sample([job], s)[0]
    assert torch.equal(a.mel, b.mel) and torch.equal(a.motion, b.motion)


def test_int8_quantises_a_copy_of_the_blocks_and_stays_near_fp32(tiny_ckpt, fast):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    from jamflow.model.jam import JAMModel
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    model = JAMModel.from_pretrained(tiny_ckpt)
    quantized = dtypes.quantize_blocks_int8(model, torch.device("cpu"))
    for stream in (quantized.audio, quantized.motion):
        block = stream.blocks[0]
        for layer in (block.attn.to_q, block.attn.to_out, block.ff.fc1, block.adaln.linear):
            assert isinstance(layer, DynamicInt8Linear)
        assert isinstance(stream.input_proj, torch.nn.Linear)  # embeddings and outputs stay fp32
    assert type(model.audio.blocks[0].attn.to_q) is torch.nn.Linear  # the model passed in is unchanged

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    out = {}
    for name in ("float32", "int8"):
        jam = api.JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype=name, vocoder=voc, progress=False)
        assert jam.dtype == torch.float32 and jam.int8 == (name == "int8")
        out[name] = jam.talk("Precision check.", **fast)
    a, b = out["float32"], out["int8"]
    assert np.isfinite(b.wav).all() and b.motion.shape == a.motion.shape
    assert not np.array_equal(a.motion, b.motion)  # else nothing was quantised
    assert np.corrcoef(a.motion.ravel(), b.motion.ravel())[0, 1] > 0.99


def test_int8_is_for_the_cpu_only():
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    with pytest.raises(UserError, match="dtype: expected int8 on the CPU only"):
        dtypes.quantize_blocks_int8(JAMModel(get_preset("tiny")), torch.device("cuda"))
