"""How the per-task losses are summed: fixed weights, learned homoscedastic uncertainty
(Kendall, Gal & Cipolla, CVPR 2018: L = sum_i exp(-s_i) L_i + s_i, s_i = log sigma_i^2), dynamic weight
averaging (Liu, Johns & Davison, CVPR 2019), GradNorm (Chen et al., ICML 2018) and PCGrad (Yu et al.,
NeurIPS 2020).

Every balancer is an nn.Module with forward(losses, active) -> total and current_weights(). GradNorm and
PCGrad also need each task's gradient on the shared encoder, which only the training step can compute:
their `gradient_mode` tells `perception.multitask.backward` what to do (the balancer itself stays a
loss-level object that sums weighted losses)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from perception.config import BALANCING_MODES
from perception.errors import InputError


class FixedWeights(nn.Module):
    gradient_mode: str | None = None  # None: a plain backward of the weighted sum is all it needs

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


class PCGradWeights(FixedWeights):
    """Fixed weights whose task gradients on the shared encoder are de-conflicted before they are summed:
    the projection itself is `perception.multitask.gradient_surgery.project_conflicting`."""

    gradient_mode = "pcgrad"


def _global_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over the ranks of a torchrun job (identity in one process): balancer state must not diverge."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        values = values.clone()
        dist.all_reduce(values)
        values = values / dist.get_world_size()
    return values


class DynamicWeightAverage(nn.Module):
    """w_k = K exp(r_k / T) / sum_i exp(r_i / T) with r_k = Lbar_k(n-1) / Lbar_k(n-2), the ratio of the task's
    mean loss over the two previous periods (the paper's period is an epoch; the trainer sets `period` to the
    steps per epoch). A task whose loss falls slowly gets more weight. Weights stay 1 until two periods are
    complete. State lives in buffers, so checkpoints and --resume carry it."""

    gradient_mode = None

    def __init__(self, tasks: list[str], temperature: float = 2.0, period: int = 1) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.temperature = float(temperature)
        self.period = int(period)
        k = len(self.tasks)
        self.register_buffer("weights", torch.ones(k))
        self.register_buffer("sums", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("counts", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("history", torch.full((2, k), float("nan"), dtype=torch.float64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, losses: Mapping[str, torch.Tensor], active: Mapping[str, bool]) -> torch.Tensor:
        current = self.weights.clone()  # a copy: the weights update in place before this step's backward
        w = {t: current[i] for i, t in enumerate(self.tasks)}
        terms = [w[t] * loss for t, loss in losses.items()]
        if self.training:
            device = self.sums.device
            self.observe(torch.stack([losses[t].detach().double() if t in losses else torch.zeros((), dtype=torch.float64, device=device)
                                      for t in self.tasks]),
                         torch.tensor([bool(active.get(t, False)) for t in self.tasks], device=device))
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def observe(self, losses: torch.Tensor, active: torch.Tensor) -> None:
        """Add one step's task losses (K,) to the current period; close the period every `period` calls."""
        mask = active.to(self.sums.device, torch.float64)
        both = _global_mean(torch.cat([losses.to(self.sums.device) * mask, mask]))
        k = len(self.tasks)
        self.sums += both[:k]
        self.counts += both[k:]
        self.calls += 1
        # The period closes on the device (selects, no Python `if` on a device value): no host sync per step.
        close = self.calls % max(self.period, 1) == 0
        means = torch.where(self.counts > 0, self.sums / self.counts.clamp_min(1e-12), self.history[1])
        history = torch.stack([self.history[1], means])
        self.history.copy_(torch.where(close, history, self.history))
        self.sums.copy_(torch.where(close, torch.zeros_like(self.sums), self.sums))
        self.counts.copy_(torch.where(close, torch.zeros_like(self.counts), self.counts))
        weights = self.dwa_weights(self.history[0], self.history[1], self.temperature).to(self.weights)
        self.weights.copy_(torch.where(close, weights, self.weights))

    @staticmethod
    def dwa_weights(previous: torch.Tensor, last: torch.Tensor, temperature: float) -> torch.Tensor:
        """K softmax(r / T) with r = last / previous; a task with no history (NaN) gets ratio 1."""
        ratio = torch.where(torch.isfinite(previous) & torch.isfinite(last) & (previous > 0), last / previous, torch.ones_like(last))
        return len(ratio) * torch.softmax(ratio / temperature, dim=0)

    def current_weights(self) -> dict[str, float]:
        return {t: float(self.weights[i]) for i, t in enumerate(self.tasks)}


class GradNormWeights(nn.Module):
    """Weights that equalise the tasks' training rates (GradNorm, Chen et al. 2018).

    With g_k = ||grad_W L_k|| on the last shared layers W (the neck), G_k = w_k g_k and the inverse training
    rate r_k = (L_k / L_k(0)) / mean_j (L_j / L_j(0)), the paper's target is Gbar r_k^alpha, and w descends
    |G_k - target_k| (target held constant). `update` takes that step in closed form: the gradient of the
    L1 term with respect to w_k is g_k sign(G_k - target_k); it is divided by mean g so that `lr` does not
    depend on the loss scale, then the weights are renormalised to sum to K. The trainer calls `update`
    after each step's forward; the weights enter the next step's sum.
    """

    gradient_mode = "gradnorm"

    def __init__(self, tasks: list[str], alpha: float = 1.5, lr: float = 0.025) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.register_buffer("weights", torch.ones(len(self.tasks)))
        self.register_buffer("initial_losses", torch.full((len(self.tasks),), float("nan")))

    def forward(self, losses: Mapping[str, torch.Tensor], active: Mapping[str, bool]) -> torch.Tensor:
        current = self.weights.clone()  # a copy: the weights update in place before this step's backward
        w = {t: current[i] for i, t in enumerate(self.tasks)}
        terms = [w[t] * loss for t, loss in losses.items()]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    @torch.no_grad()
    def update(self, grad_norms: torch.Tensor, losses: torch.Tensor, active: torch.Tensor) -> dict[str, float]:
        """grad_norms, losses: (K,) unweighted, in `self.tasks` order, already averaged over ranks;
        active: (K,) bool. Returns the targets and norms it used (for the log)."""
        grad_norms = grad_norms.to(self.weights)
        losses = losses.to(self.weights)
        mask = active.to(self.weights.device) & torch.isfinite(grad_norms) & torch.isfinite(losses) & (losses > 0)
        first = mask & ~torch.isfinite(self.initial_losses)
        self.initial_losses[first] = losses[first]
        if int(mask.sum()) < 2:
            return {}
        g = grad_norms[mask]
        weighted = self.weights[mask] * g
        rate = losses[mask] / self.initial_losses[mask]
        inverse_rate = rate / rate.mean()
        target = weighted.mean() * inverse_rate**self.alpha
        step = self.lr * g * torch.sign(weighted - target) / g.mean().clamp_min(1e-12)
        new = self.weights.clone()
        new[mask] = (self.weights[mask] - step).clamp_min(1e-3)
        self.weights.copy_(new * len(self.tasks) / new.sum())
        tasks = [t for t, m in zip(self.tasks, mask.tolist()) if m]
        return {f"gradnorm/target/{t}": float(v) for t, v in zip(tasks, target)} | {
            f"gradnorm/norm/{t}": float(v) for t, v in zip(tasks, weighted)
        }

    def current_weights(self) -> dict[str, float]:
        return {t: float(self.weights[i]) for i, t in enumerate(self.tasks)}


def build_balancer(mode: str, tasks: list[str], weights: Mapping[str, float], options: Mapping[str, float] | None = None) -> nn.Module:
    """options: dwa_temperature, gradnorm_alpha, gradnorm_lr (TrainConfig fields of the same names)."""
    options = dict(options or {})
    if mode == "fixed":
        return FixedWeights({t: weights.get(t, 1.0) for t in tasks})
    if mode == "pcgrad":
        return PCGradWeights({t: weights.get(t, 1.0) for t in tasks})
    if mode == "uncertainty":
        return UncertaintyWeights(tasks)
    if mode == "dwa":
        return DynamicWeightAverage(tasks, options.get("dwa_temperature", 2.0))
    if mode == "gradnorm":
        return GradNormWeights(tasks, options.get("gradnorm_alpha", 1.5), options.get("gradnorm_lr", 0.025))
    raise InputError(f"balancing {mode!r} is not one of {BALANCING_MODES}")
