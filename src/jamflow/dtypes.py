"""The short names of the floating-point precisions (export, inference, LivePortrait, bench)."""
import torch

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
