"""CPU latency of an ONNX file: the median of several timed runs at a fixed thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.timing import time_calls


def measure_latency(path: str | Path, imgsz: tuple[int, int], threads: int = 2, runs: int = 10, warmup: int = 2,
                    batch: int = 1) -> dict:
    """Median / min milliseconds per `session.run` on random input (CPU provider, `threads` intra-op threads)."""
    from perception.runtime.session import create_session

    session = create_session(path, providers="cpu", threads=threads, verbose=False)
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else batch
    x = np.random.default_rng(0).standard_normal((fixed, 3, *imgsz)).astype(np.float32)
    timing = time_calls(lambda: session.run(None, {inp.name: x}), runs, warmup)
    return {"median_ms": timing.median(), "min_ms": min(timing.recent), "runs": runs, "threads": threads,
            "batch": int(fixed)}
