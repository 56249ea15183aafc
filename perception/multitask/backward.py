"""The backward pass of a training step when tasks' gradients must be seen one by one.

A plain step is one backward of the balanced sum. Three things need each task's own gradient on the
shared encoder instead:
- the gradient monitor (every `grad_monitor_period` steps, rank 0): cosine and norm ratios between tasks;
- GradNorm: the tasks' gradient norms on the last shared layers (the neck) steer the weights;
- PCGrad: task gradients on the encoder are projected so that none conflicts, then summed.
Each costs one extra backward per task through the shared part (torch.autograd.grad, retain_graph), which
is why the monitor is off by default and its cost is measured.

DDP: torch.autograd.grad bypasses DDP's gradient hooks, so GradNorm averages its norms and losses over
ranks by hand, and PCGrad trains an unwrapped model and averages every gradient by hand (each task's
encoder gradient before projection, so all ranks project the same global gradients in the same order).
AMP: gradients are taken of the GradScaler-scaled loss, as the plain backward does, and unscaled for
norms and cosines.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from perception.engine.distributed import DistContext, all_reduce_mean
from perception.multitask.gradient_surgery import project_conflicting
from perception.multitask.monitor import GradientMonitor


def encoder_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The shared encoder (backbone + neck) parameters that train."""
    return [p for part in (model.backbone, model.neck) for p in part.parameters() if p.requires_grad]


def task_gradients(losses: list[torch.Tensor], params: list[nn.Parameter]) -> torch.Tensor:
    """(K, P): each loss's gradient on `params`, flattened; zeros where a loss does not reach a parameter."""
    if not params:  # everything shared is frozen
        return torch.zeros(len(losses), 0, device=losses[0].device if losses else None)
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True) if loss.requires_grad else [None] * len(params)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]))
    return torch.stack(rows)


class TaskBackward:
    def __init__(self, model: nn.Module, loss: nn.Module, ctx: DistContext, monitor_period: int = 0,
                 steps_per_epoch: int = 1) -> None:
        if hasattr(loss.balancer, "period"):
            loss.balancer.period = steps_per_epoch  # DWA compares epoch-mean losses, as in the paper
        self.model = model
        self.loss = loss
        self.scaler = None  # the trainer's GradScaler, passed with each step
        self.ctx = ctx
        self.mode = getattr(loss.balancer, "gradient_mode", None)
        self.monitor = GradientMonitor(monitor_period) if monitor_period else None

    @property
    def reduces_by_hand(self) -> bool:
        """PCGrad under DDP: the trainer must not DDP-wrap the model (gradients are averaged here)."""
        return self.mode == "pcgrad" and self.ctx.distributed

    def backward(self, total: torch.Tensor, step: int, scaler) -> dict[str, float]:
        """Fill the parameters' .grad for this step (scaled by `scaler`, the trainer's GradScaler, which unscales
        and steps them); returns values to log."""
        self.scaler = scaler
        stats: dict[str, float] = {}
        monitor_due = self.monitor is not None and self.monitor.due(step) and self.ctx.is_main
        if self.mode is None and not monitor_due:
            self.scaler.scale(total).backward()
            return stats
        tasks = list(self.loss.task_losses)
        weights = self.loss.balancer.current_weights()
        scale = float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0
        weighted = [self.scaler.scale(weights.get(t, 1.0) * self.loss.task_losses[t]) for t in tasks]
        encoder = encoder_parameters(self.model)
        encoder_grads = None
        if monitor_due or self.mode == "pcgrad":
            tick = time.perf_counter()
            encoder_grads = task_gradients(weighted, encoder)
            if monitor_due:
                active = [i for i, t in enumerate(tasks) if self.loss.task_active.get(t)]
                stats |= self.monitor.record(step, encoder_grads[active] / scale, [tasks[i] for i in active],
                                             time.perf_counter() - tick)
        if self.mode == "gradnorm":
            stats |= self._gradnorm_update(tasks, scale)
        if self.mode == "pcgrad":
            self._pcgrad_backward(total, encoder, encoder_grads, step)
        else:
            self.scaler.scale(total).backward()
        return stats

    def _gradnorm_update(self, tasks: list[str], scale: float) -> dict[str, float]:
        neck = [p for p in self.model.neck.parameters() if p.requires_grad]
        raw = [self.scaler.scale(self.loss.task_losses[t]) for t in tasks]
        norms = task_gradients(raw, neck).norm(dim=1) / scale
        losses = torch.stack([self.loss.task_losses[t].detach() for t in tasks]).to(norms)
        active = torch.tensor([bool(self.loss.task_active.get(t)) for t in tasks], dtype=torch.float32, device=norms.device)
        # Averaged over ranks so every replica moves its weights identically.
        packed = all_reduce_mean(torch.cat([norms * active, losses * active, active]), self.ctx)
        k = len(tasks)
        count = packed[2 * k :]
        mean = lambda v: torch.where(count > 0, v / count.clamp_min(1e-12), torch.zeros_like(v))  # noqa: E731
        order = [tasks.index(t) if t in tasks else None for t in self.loss.balancer.tasks]
        pick = lambda v, fill: torch.stack([v[i] if i is not None else torch.tensor(fill, device=v.device) for i in order])  # noqa: E731
        return self.loss.balancer.update(pick(mean(packed[:k]), 0.0), pick(mean(packed[k : 2 * k]), 0.0), pick(count > 0, False))

    def _pcgrad_backward(self, total: torch.Tensor, encoder: list[nn.Parameter], grads: torch.Tensor, step: int) -> None:
        encoder_ids = {id(p) for p in encoder}
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in encoder_ids]
        rest += [p for p in self.loss.parameters() if p.requires_grad]
        if rest:
            torch.autograd.backward(self.scaler.scale(total), inputs=rest)
        grads = all_reduce_mean(grads, self.ctx)
        generator = torch.Generator().manual_seed(int(step))
        merged = project_conflicting(grads, generator).sum(dim=0)
        offset = 0
        for p in encoder:
            n = p.numel()
            p.grad = merged[offset : offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        if self.ctx.distributed:
            for p in self.model.parameters():
                if p.grad is not None and id(p) not in encoder_ids:
                    p.grad.copy_(all_reduce_mean(p.grad, self.ctx))

    def weights_row(self) -> dict[str, float]:
        """The balancer's current weight per task, for the log (`weight/<task>`)."""
        return {f"weight/{t}": float(w) for t, w in self.loss.balancer.current_weights().items()}

    def epoch_row(self, plot_path=None) -> dict[str, float]:
        row = self.weights_row()
        if self.monitor is not None and self.ctx.is_main:
            row |= self.monitor.epoch_row()
            if plot_path is not None:
                self.monitor.plot(plot_path)
        return row

    def summary(self, train_seconds: float) -> dict:
        out = {"balancing": type(self.loss.balancer).__name__, "final_weights": self.loss.balancer.current_weights()}
        if self.monitor is not None and self.ctx.is_main:
            out["gradient_monitor"] = self.monitor.summary(train_seconds)
        return out
