"""The short names of the floating-point precisions (export, inference, LivePortrait, bench), and the
int8 inference mode for CPUs without bf16 hardware."""
import torch

from jamflow.errors import UserError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def autocast(device, dtype: torch.dtype):
    """Compute in `dtype` (weights stay as they are); fp32 turns autocast off."""
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX).

    Without it oneDNN emulates bf16 and a matmul runs ~20x slower than fp32 (docs/inference.md), so
    the default CPU precision depends on this. The probes are private torch helpers: if a future
    torch drops them we fall back to fp32, the safe answer.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, name)() for name in probes if hasattr(torch.cpu, name))
    except RuntimeError:
        return False


INT8 = "int8"  # not a torch dtype: fp32 compute with the transformer blocks' linears in dynamic int8


def quantize_blocks_int8(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A copy of a JAMModel whose DiT blocks (both streams) run their linears in dynamic int8.

    For CPUs without bf16 hardware, where fp32 is the only other choice: the blocks' linears are most of
    the sampling time and int8 makes them ~3x faster (talk, 5 s with a 3 s prompt: ~30% less time on
    2 cores, docs/inference.md). Embeddings, attention and outputs stay fp32; the output moves ~2% of
    its norm. The model passed in is not changed. torch marks torch.ao.quantization as deprecated (to
    move to torchao); the pinned torch 2.13 has it, and a torch without it gets a one-line error here.
    """
    import copy
    import warnings

    if device.type != "cpu":
        raise UserError(f"dtype: expected int8 on the CPU only (dynamic int8 linears), got device {device.type}")
    quantized = copy.deepcopy(model)
    with warnings.catch_warnings():  # torch.ao's deprecation notices: the docstring says it once for all
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        try:
            from torch.ao.quantization import quantize_dynamic
        except ImportError as e:
            raise UserError(f"dtype: int8 needs torch.ao.quantization, which torch {torch.__version__} lacks "
                            f"({e}); use float32") from None
        for stream in (quantized.audio, quantized.motion):
            if stream is None:
                continue
            for i, block in enumerate(stream.blocks):
                # in place: the block is already the deep copy's, a second copy would be wasted
                stream.blocks[i] = quantize_dynamic(block, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return quantized.eval()


def half_matmul_weights(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of a JAMModel whose two DiTs hold their linear and convolution weights in `dtype` (bf16/fp16).

    The DiTs run only under autocast in `dtype`, which casts these weights to `dtype` at every call
    anyway: stored so, the outputs are bit-identical, the per-call casts are gone (~13% of a CPU
    sampler call) and the weights take half the memory. Norms, embeddings and the duration predictor
    (which runs outside autocast) stay fp32. The model passed in is not changed.
    """
    import copy

    halved = copy.deepcopy(model)
    for stream in (halved.audio, halved.motion):
        if stream is None:
            continue
        for module in stream.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d)):
                module.to(dtype)
    return halved.eval()
