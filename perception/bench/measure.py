"""One row of the benchmark: a runtime/precision/provider at one batch, model-only and end-to-end, with memory."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from perception.bench.memory import cuda_peak_mb, peak_rss_mb, reset_cuda_peak, reset_peak_rss
from perception.bench.runners import time_batches
from perception.errors import InputError

PROVIDER_SHORT = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}


def measure_row(
    setup: Callable[[], Any],
    *,
    model: str,
    runtime: str,
    precision: str,
    provider: str,
    batch_input: np.ndarray,
    images: list[np.ndarray],
    runs: int,
    warmup: int,
    params: int,
    gflops: float,
    uses_cuda: bool = False,
) -> dict[str, Any]:
    """Time `setup()`'s runner: `infer(batch_input)` (model only) and `predict(images)` (end to end).

    setup: builds the runner (a predictor with `infer` and `predict`); built after the memory peaks are reset so
    the row's peak covers loading the model/session and running it.
    batch_input: (B, 3, H, W) float32 network input; images: B RGB uint8 camera frames.
    """
    import torch

    batch = len(images)
    if batch_input.shape[0] != batch:
        raise InputError(f"batch_input has {batch_input.shape[0]} images, images has {batch}")
    rss_reset = reset_peak_rss()
    if uses_cuda:
        reset_cuda_peak()
    runner = setup()
    sync = torch.cuda.synchronize if uses_cuda and torch.cuda.is_available() else None
    model_only = time_batches(lambda: runner.infer(batch_input), runs, warmup, batch, sync)
    end_to_end = time_batches(lambda: runner.predict(images), runs, warmup, batch, sync)
    short = PROVIDER_SHORT.get(provider, provider)
    return {
        "id": f"{model}/{runtime}-{precision}-{short}/b{batch}",
        "model": model,
        "runtime": runtime,
        "precision": precision,
        "provider": provider,
        "imgsz": list(batch_input.shape[2:]),
        "batch": batch,
        "params": int(params),
        "gflops_per_image": round(float(gflops), 4),
        "model_only": model_only.to_dict(),
        "end_to_end": end_to_end.to_dict(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_scope": "row" if rss_reset else "process",
        "cuda_peak_mb": round(cuda_peak_mb(), 1) if uses_cuda and cuda_peak_mb() is not None else None,
    }
