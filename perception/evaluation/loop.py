"""Runs a predictor over ground-truth samples in batches, feeding an Evaluator, timing the model.

`score_calls` runs (samples, predict) calls from any source: `Validator.score` makes them from a sample
iterator in batches (`batches`, `perception eval`), `Validator.score_loader` from the trainer's DataLoader of
letterboxed val items.

The predictor is any object with `predict(images: list[RGB uint8]) -> list[FrameResult]`; when it also
has `timings` (stage -> `perception.timing.Timings`, as `BasePredictor`) the latency is
read from there, otherwise the wall time of `predict` is used.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator

from perception.errors import InputError
from perception.evaluation.evaluator import Evaluator
from perception.structures import Sample
from perception.timing import Timings


def batches(samples: Iterable[Sample], size: int, limit: int | None) -> Iterator[list[Sample]]:
    """Lists of `size` samples (the last one shorter), at most `limit` samples in all."""
    it = iter(samples) if limit is None else itertools.islice(samples, limit)
    while batch := list(itertools.islice(it, size)):
        yield batch


def score_calls(
    predictor,
    calls: Iterable[tuple[list[Sample], Callable[[], list]]],
    evaluator: Evaluator,
    batch_size: int,
    progress=None,
) -> dict:
    """Run each (samples, predict) call, score its FrameResults against the samples; returns the latency summary.

    Latency: medians over the calls after the first (warm-up) of each stage's milliseconds divided by
    the images in the call; "model" is the network alone, "total" adds letterbox/normalise and decoding
    (NMS, lanes, masks).
    """
    per_image: dict[str, Timings] = {}  # bounded: the median of the last Timings.window images
    seen: dict[str, int] = {}
    calls_made = 0
    for batch, predict in calls:
        start = time.perf_counter()
        preds = predict()
        wall_ms = (time.perf_counter() - start) * 1000
        if len(preds) != len(batch):
            raise InputError(f"predictor returned {len(preds)} results for {len(batch)} images")
        calls_made += 1
        stages = {"wall": [wall_ms]}
        for stage, timing in getattr(predictor, "timings", {}).items():
            stages[stage] = timing.since(seen.get(stage, 0))
            seen[stage] = timing.count
        if calls_made > 1:  # the first call pays for lazy initialisation and allocator warm-up
            for stage, values in stages.items():
                for value in values:
                    per_image.setdefault(stage, Timings()).add(value / len(batch))
        for pred, sample in zip(preds, batch):
            evaluator.update(pred, sample)
        if progress is not None:
            progress.update(len(batch))
    return _latency(per_image, batch_size, calls_made)


def _latency(per_image: dict[str, Timings], batch_size: int, calls: int) -> dict:
    medians = {stage: t.median() for stage, t in per_image.items() if t.count}
    model_ms = medians.get("inference", medians.get("wall"))
    stage_sum = sum(medians.get(s, 0.0) for s in ("preprocess", "inference", "postprocess"))
    return {
        "median_ms_per_image": model_ms,
        "what": "network only" if "inference" in medians else "predict() wall time incl. pre/postprocess",
        "total_ms_per_image": stage_sum if "inference" in medians else medians.get("wall"),
        "stages_ms_per_image": medians,
        "batch": batch_size,
        "timed_calls": max(calls - 1, 0),
    }
