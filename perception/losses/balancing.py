"""How the per-task losses are summed: fixed weights, or learned homoscedastic uncertainty
(Kendall, Gal & Cipolla, CVPR 2018: L = sum_i exp(-s_i) L_i + s_i, s_i = log sigma_i^2)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from perception.errors import InputError

BALANCING_MODES = ("fixed", "uncertainty")


class FixedWeights(nn.Module):
    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        self.weights = {k: float(v) for k, v in weights.items()}

    def forward(self, losses: Mapping[str, torch.Tensor], active: Mapping[str, bool]) -> torch.Tensor:
        """losses: task -> scalar; active: task -> whether any image of the batch is labelled for it."""
        terms = [self.weights.get(t, 1.0) * loss for t, loss in losses.items()]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def current_weights(self) -> dict[str, float]:
        return dict(self.weights)


class UncertaintyWeights(nn.Module):
    """Learned log-variances, one per task; their parameters go to the optimizer with the model's."""

    def __init__(self, tasks: list[str], init: Mapping[str, float] | None = None) -> None:
        super().__init__()
        init = init or {}
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.tensor(float(init.get(t, 0.0)))) for t in tasks})

    def forward(self, losses: Mapping[str, torch.Tensor], active: Mapping[str, bool]) -> torch.Tensor:
        terms = []
        for task, loss in losses.items():
            s = self.log_vars[task]
            if active.get(task, False):
                terms.append(torch.exp(-s) * loss + s)
            else:
                # No labels in this batch: the task adds exactly zero, and s must not drift down on its own.
                terms.append(loss * 0.0 + s * 0.0)
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def current_weights(self) -> dict[str, float]:
        return {t: float(torch.exp(-s.detach())) for t, s in self.log_vars.items()}


def build_balancer(mode: str, tasks: list[str], weights: Mapping[str, float]) -> nn.Module:
    if mode == "fixed":
        return FixedWeights({t: weights.get(t, 1.0) for t in tasks})
    if mode == "uncertainty":
        return UncertaintyWeights(tasks)
    raise InputError(f"balancing {mode!r} is not one of {BALANCING_MODES}")
