"""What the machine offers the training step: which mixed precision a device runs fast."""

from __future__ import annotations

from functools import lru_cache

import torch

from perception.errors import InputError


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """The CPU multiplies bf16 natively (AVX512-BF16 or AMX): oneDNN then runs bf16 convolutions several times
    faster than fp32. Without it bf16 is emulated and slower, so `--amp auto` keeps float32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_amp(mode: str, device: torch.device) -> str:
    """TrainConfig.amp (auto | bf16 | fp16 | off) -> what this device trains in: bf16, fp16 or off.

    auto: bf16 on GPUs that support it (fp16 with loss scaling on older ones) and on CPUs with native bf16;
    float32 elsewhere."""
    if mode == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_bf16() else "off"
    if mode == "fp16" and device.type != "cuda":
        raise InputError(f"--amp fp16: loss-scaled fp16 training needs CUDA; this run is on {device.type} - use "
                         "--amp auto (bf16 where the CPU has it) or --amp off")
    return mode
