"""Where a model computes: inputs built for it follow its device and float type, so export, parity and the
model summary work for a model already on a GPU (or in half precision) as for one on the CPU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """(device, float dtype) of the model's first floating-point parameter; the CPU and float32 for a model
    without one."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def model_input(model: nn.Module, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    """`batch` (B, 3, H, W) as the model takes it: on its device, in its float type."""
    device, dtype = placement(model)
    x = torch.from_numpy(batch) if isinstance(batch, np.ndarray) else batch
    return x.to(device=device, dtype=dtype)


def zeros_input(model: nn.Module, batch: int, imgsz: tuple[int, int]) -> torch.Tensor:
    """A (batch, 3, H, W) zero image on the model's device, in its float type (tracing, FLOP counting)."""
    device, dtype = placement(model)
    return torch.zeros((batch, 3, *imgsz), device=device, dtype=dtype)
