"""One way to time things: `Timings` keeps bounded statistics of milliseconds per call, `time_calls` runs a
warm-up and a timed loop. Used by the predictors' stages, the evaluation loop, ONNX latency checks, the
benchmark runners and the video tool's stage times. numpy only (the torch-free runtime uses it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from perception.errors import InputError

# Enough calls for a stable median and p90; a video tool runs for days, so an unbounded list would leak.
DEFAULT_WINDOW = 1024


class Timings:
    """Milliseconds per call: count and total of every call, the values of the last `window` calls."""

    def __init__(self, window: int = DEFAULT_WINDOW):
        self.count = 0
        self.total_ms = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.recent.append(ms)

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time the block (perf_counter wall clock) and `add` it."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add((time.perf_counter() - start) * 1000.0)

    def since(self, count: int) -> list[float]:
        """The calls after the first `count` ones that are still in the window (oldest first)."""
        new = min(self.count - count, len(self.recent))
        return list(self.recent)[len(self.recent) - new :] if new > 0 else []

    def median(self) -> float:
        return float(np.median(self.recent)) if self.recent else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.recent, q)) if self.recent else 0.0

    def summary(self) -> dict[str, Any]:
        """p50 / p90 / mean / min over the window, and the number of calls."""
        values = np.asarray(self.recent, np.float64)
        if not len(values):
            return {"p50_ms": 0.0, "p90_ms": 0.0, "mean_ms": 0.0, "min_ms": 0.0, "runs": self.count}
        return {"p50_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
                "mean_ms": float(values.mean()), "min_ms": float(values.min()), "runs": self.count}


def time_calls(fn: Callable[[], Any], runs: int, warmup: int, synchronize: Callable[[], None] | None = None) -> Timings:
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
    timings = Timings(window=runs)
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if synchronize is not None:
            synchronize()
        timings.add((time.perf_counter() - start) * 1000.0)
    return timings
