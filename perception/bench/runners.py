"""Timing loops: warm-up, then repeated timed calls -> median / p90 latency and throughput.

Speed figures follow docs/METRICS.md: the median of repeated runs after warm-up, with the batch stated so
throughput (images per second) = batch / median seconds per call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from perception.errors import InputError


@dataclass
class Timing:
    """Milliseconds per call of `runs` timed calls (after `warmup` untimed ones) at `batch` images per call."""

    samples_ms: list[float] = field(default_factory=list)
    batch: int = 1
    warmup: int = 0

    @property
    def p50_ms(self) -> float:
        return float(np.median(self.samples_ms))

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.samples_ms, 90))

    @property
    def throughput(self) -> float:
        """Images per second at the median latency."""
        return self.batch * 1000.0 / self.p50_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.p50_ms, 6),
            "p90_ms": round(self.p90_ms, 6),
            "mean_ms": round(float(np.mean(self.samples_ms)), 6),
            "min_ms": round(float(np.min(self.samples_ms)), 6),
            "throughput_img_s": round(self.throughput, 6),
            "runs": len(self.samples_ms),
            "warmup": self.warmup,
            "batch": self.batch,
        }


def time_calls(
    fn: Callable[[], Any],
    runs: int,
    warmup: int,
    batch: int = 1,
    synchronize: Callable[[], None] | None = None,
) -> Timing:
    """Call `fn` `warmup` times untimed, then `runs` times timed (wall clock, perf_counter).

    synchronize: called before each clock read (e.g. torch.cuda.synchronize) so asynchronous GPU work is
    inside the measured interval rather than leaking into the next call.
    """
    if runs < 1:
        raise InputError(f"runs {runs}: must be >= 1")
    if warmup < 0:
        raise InputError(f"warmup {warmup}: must be >= 0")
    for _ in range(warmup):
        fn()
    if synchronize is not None:
        synchronize()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if synchronize is not None:
            synchronize()
        samples.append((time.perf_counter() - start) * 1000.0)
    return Timing(samples_ms=samples, batch=batch, warmup=warmup)
