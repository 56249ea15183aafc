"""Loss values of the training steps, kept on the device and read back once per logging period.

Reading a value (`float(t)`, `.item()`) makes the host wait for the device; doing it for every loss term at
every step stops the CPU from queueing work ahead of a GPU. This accumulator adds each step's values on the
device and copies them back in one transfer when the trainer logs. It also carries the step's health:
non-finite losses (excluded from the means, so one overflow step cannot turn an epoch mean into inf/nan) and,
under fp16, the steps GradScaler skipped and the longest run of them. Under DDP the health flags are reduced
over ranks at each read, so every rank decides to stop at the same step, with the same message.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.distributed as dist

from perception.engine.distributed import DistContext


class StepStats:
    def __init__(self, ctx: DistContext) -> None:
        self.ctx = ctx
        self.keys: list[str] | None = None

    def _start(self, keys: list[str]) -> None:
        device = self.ctx.device
        self.keys = keys
        n = len(keys)
        self.sums = torch.zeros(n, dtype=torch.float64, device=device)
        self.last = torch.zeros(n, dtype=torch.float32, device=device)
        # counters: finite steps, non-finite steps (window), skipped fp16 steps, current run, longest run
        self.counts = torch.zeros(5, dtype=torch.float64, device=device)

    def add(self, report: Mapping[str, torch.Tensor], skipped: torch.Tensor | None = None) -> None:
        """One step's detached scalars (`report["total"]` decides finiteness); skipped: bool scalar on the
        device, GradScaler skipped this step (fp16)."""
        keys = list(report)
        if self.keys is None:
            self._start(keys)
        elif keys != self.keys:
            raise RuntimeError(f"loss terms changed between steps: {self.keys} -> {keys}")
        values = torch.stack([v.detach().float().reshape(()) for v in report.values()])
        finite = torch.isfinite(values[keys.index("total")])
        self.sums += torch.where(finite, values, torch.zeros_like(values)).double()
        self.last = values
        c = self.counts
        c[0] += finite.double()
        c[1] += (~finite).double()
        if skipped is not None:
            skip = skipped.to(c.dtype)
            c[2] += skip
            c[3] = (c[3] + 1) * skip
            c[4] = torch.maximum(c[4], c[3])

    def read(self) -> dict[str, float | dict[str, float] | list[int]]:
        """One device-to-host copy: {"last": this step's values, "means": since the last reset, "finite_steps",
        "skipped_steps" (in this process's run), "longest_skip_run", "nonfinite_ranks": ranks with a non-finite loss since the last reset}."""
        if self.keys is None:
            return {"last": {}, "means": {}, "finite_steps": 0, "skipped_steps": 0, "longest_skip_run": 0,
                    "nonfinite_ranks": []}
        flags = torch.zeros(self.ctx.world_size, dtype=torch.float64, device=self.ctx.device)
        flags[self.ctx.rank] = self.counts[1]
        if self.ctx.distributed:
            dist.all_reduce(flags)
        host = torch.cat([self.sums, self.last.double(), self.counts, flags]).tolist()
        n = len(self.keys)
        sums, last, counts, flags = host[:n], host[n : 2 * n], host[2 * n : 2 * n + 5], host[2 * n + 5 :]
        finite = counts[0]
        return {
            "last": dict(zip(self.keys, last)),
            "means": {k: v / finite for k, v in zip(self.keys, sums)} if finite else {},
            "finite_steps": int(finite),
            "skipped_steps": int(counts[2]),
            "longest_skip_run": int(counts[4]),
            "nonfinite_ranks": [rank for rank, v in enumerate(flags) if v > 0],
        }

    def reset(self) -> None:
        """Start a new period of means (an epoch); the skip counters are the run's and carry over."""
        if self.keys is not None:
            self.sums.zero_()
            self.counts[:2] = 0
