"""Which mixed precision a device trains in (`TrainConfig.amp`)."""

from __future__ import annotations

import torch

from perception.errors import InputError


def resolve_amp(mode: str, device: torch.device) -> str:
    """TrainConfig.amp (auto | bf16 | fp16 | off) -> what this device trains in: bf16, fp16 or off.

    auto: bf16 on GPUs that support it (fp16 with loss scaling on older ones); float32 on CPUs. bf16 autocast on
    a CPU with AVX512-BF16 steps 1.3-1.5x faster but, measured at the demo's budget (600 steps, two seeds each),
    ends below float32 on every head (docs/benchmarks.md, "bf16 on a CPU"), so a CPU gets it only when asked
    (`--amp bf16`)."""
    if mode == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "off"
    if mode == "fp16" and device.type != "cuda":
        raise InputError(f"--amp fp16: loss-scaled fp16 training needs CUDA; this run is on {device.type} - use "
                         "--amp bf16 or --amp off")
    return mode
