"""Timing loops: warm-up, then repeated timed calls -> median / p90 latency and throughput.

Speed figures follow docs/METRICS.md: the median of repeated runs after warm-up, with the batch stated so
throughput (images per second) = batch / median seconds per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from perception import timing


@dataclass
class BatchTiming:
    """Milliseconds per call of `runs` timed calls (after `warmup` untimed ones) at `batch` images per call."""

    timings: timing.Timings
    batch: int = 1
    warmup: int = 0

    @property
    def samples_ms(self) -> list[float]:
        return list(self.timings.recent)

    @property
    def p50_ms(self) -> float:
        return self.timings.median()

    @property
    def p90_ms(self) -> float:
        return self.timings.percentile(90)

    @property
    def throughput(self) -> float:
        """Images per second at the median latency."""
        return self.batch * 1000.0 / self.p50_ms

    def to_dict(self) -> dict[str, Any]:
        stats = self.timings.summary() | {"throughput_img_s": self.throughput}
        out = {k: round(v, 6) for k, v in stats.items() if k != "runs"}
        return out | {"runs": stats["runs"], "warmup": self.warmup, "batch": self.batch}


def time_batches(
    fn: Callable[[], Any],
    runs: int,
    warmup: int,
    batch: int = 1,
    synchronize: Callable[[], None] | None = None,
) -> BatchTiming:
    """`perception.timing.time_calls` with the batch recorded, for throughput (hence its own name: it returns a
    `BatchTiming`, where `time_calls` returns the bare `Timings`)."""
    return BatchTiming(timing.time_calls(fn, runs, warmup, synchronize), batch=batch, warmup=warmup)
