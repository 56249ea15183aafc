"""Exponential moving average of the weights (Polyak averaging), used for validation and export.

The decay ramps up as `decay * (1 - exp(-updates / tau))` (as in YOLOv5/YOLOX) so early, poor weights
are forgotten quickly; buffers (BatchNorm statistics) are averaged too.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model under DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


class ModelEMA:
    def __init__(self, model: nn.Module, decay: float = 0.9998, tau: float = 2000.0, updates: int = 0) -> None:
        self.module = copy.deepcopy(unwrap(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = updates

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], ...]:
        """(EMA floats, model floats, EMA others, model others): the state tensors, listed once per model (they
        are updated in place, so the lists stay valid) instead of rebuilding two state dicts at every step."""
        source = unwrap(model)
        if getattr(self, "_source", None) is not source:
            mine, theirs = self.module.state_dict(), source.state_dict()
            floats = [n for n, v in mine.items() if v.dtype.is_floating_point]
            others = [n for n, v in mine.items() if not v.dtype.is_floating_point]
            self._lists = ([mine[n] for n in floats], [theirs[n] for n in floats],
                           [mine[n] for n in others], [theirs[n] for n in others])
            self._source = source
        return self._lists

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """ema = d * ema + (1 - d) * model for every floating tensor, integer buffers copied: a few fused
        multi-tensor kernels (torch._foreach_*) instead of one or two kernels per tensor (612 for scale s)."""
        self.updates += 1
        d = self.current_decay()
        ema_floats, model_floats, ema_others, model_others = self._pairs(model)
        torch._foreach_lerp_(ema_floats, model_floats, 1.0 - d)
        if ema_others:
            torch._foreach_copy_(ema_others, model_others)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.module.load_state_dict(state)
        self.updates = updates
