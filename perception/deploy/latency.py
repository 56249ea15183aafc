"""CPU latency of an ONNX file: the median of several timed runs at a fixed thread count."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def measure_latency(path: str | Path, imgsz: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 2,
                    batch: int = 1) -> dict:
    """Median / min milliseconds per `session.run` on random input (CPU provider, `threads` intra-op threads)."""
    from perception.runtime.session import create_session

    session = create_session(path, providers="cpu", threads=threads, verbose=False)
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else batch
    x = np.random.default_rng(0).standard_normal((fixed, 3, *imgsz)).astype(np.float32)
    for _ in range(warmup):
        session.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {inp.name: x})
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)), "runs": runs, "threads": threads,
            "batch": int(fixed)}
