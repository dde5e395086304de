"""The short names of the floating-point precisions (export, inference, LivePortrait, bench)."""
import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
