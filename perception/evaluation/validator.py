"""`Validator`: the one validation of a model, used by the trainer each `--val-period` epochs and by
`perception eval` alike (after ultralytics' engine/validator.py).

Both run a predictor (the shared letterbox, network and postprocess) over original-resolution Samples and
score its FrameResults with the same `Evaluator`, so `best.pt` is chosen on the numbers `report.json` shows.
The trainer may ask for fewer images (`limit`) or fewer tasks (`EvalConfig.tasks`), never for other
definitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from perception.data.errors import ErrorPolicy
from perception.evaluation.evaluator import EvalConfig, Evaluator
from perception.evaluation.loop import batches, score_calls
from perception.structures import Sample

# The setup whose AP50/recall stand for "pedestrians" in the trainer's epoch line and fitness: the official
# CityPersons "All" (height >= 20 px, visibility >= 0.2) also has ground truth on small and synthetic images.
PEDESTRIAN_SETUP = "all"


class Validator:
    """validate(predictor, samples) -> the Evaluator's summary (report.json's "metrics"); `latency` after.

    The predictor must decode with `config.conf` and `config.nms_iou` (see `predictor_options`): AP is
    defined over the whole score range, which a deployment threshold would cut.
    """

    def __init__(self, config: EvalConfig | None = None, batch_size: int = 8, worst=None):
        self.config = config or EvalConfig()
        self.batch_size = batch_size
        self.worst = worst
        self.latency: dict[str, Any] = {}

    def predictor_options(self) -> dict[str, Any]:
        """Keyword arguments of `load_predictor` / the predictors for the thresholds this validation defines."""
        return {"conf_threshold": self.config.conf, "iou_threshold": self.config.nms_iou}

    def __call__(self, predictor, samples: Iterable[Sample], limit: int | None = None, progress=None) -> dict:
        return self.score(predictor, samples, limit, progress).summary()

    def score(self, predictor, samples: Iterable[Sample], limit: int | None = None, progress=None) -> Evaluator:
        """The Evaluator fed with the predictions of (at most `limit`) samples, in batches of `batch_size`."""
        calls = ((batch, lambda batch=batch: predictor.predict([s.image for s in batch]))
                 for batch in batches(samples, self.batch_size, limit))
        evaluator = Evaluator(self.config, worst=self.worst)
        self.latency = score_calls(predictor, calls, evaluator, self.batch_size, progress)
        return evaluator

    def score_loader(self, predictor, loader, policy: ErrorPolicy, progress=None) -> Evaluator:
        """The Evaluator fed from a DataLoader of ValBatches (perception.evaluation.val_loader): workers read and
        letterbox, the predictor normalises on its device (`predict_letterboxed`). Unreadable items go to
        `policy` here, in the main process, as `samples()` reports them; the batches keep the split's order."""
        def calls():
            for batch in loader:
                for error in batch.errors:
                    policy.report(error)
                if batch.samples:
                    yield batch.samples, lambda batch=batch: predictor.predict_letterboxed(batch.images, batch.infos)

        evaluator = Evaluator(self.config, worst=self.worst)
        self.latency = score_calls(predictor, calls(), evaluator, loader.batch_size or 1, progress)
        return evaluator


def headline_metrics(summary: dict) -> dict[str, float]:
    """The flat numbers of the trainer's epoch line and results.csv, from a validation summary.

    objects/*: COCO AP over all classes (both detection heads); pedestrians/*: CityPersons PEDESTRIAN_SETUP;
    lanes/*: pixel IoU, accuracy (recall) and F1; drivable/*: IoU per class and mIoU. `fitness` (which picks
    best.pt) is the mean of objects mAP50, pedestrians AP50, lane IoU and drivable mIoU over the scored tasks.
    """
    out: dict[str, float] = {}
    scores = []
    objects = summary.get("objects")
    if objects:
        for key in ("map50", "map50_95", "recall50"):
            out[f"objects/{key}"] = _number(objects[key])
        scores.append(out["objects/map50"])
    peds = (summary.get("pedestrians") or {}).get(PEDESTRIAN_SETUP)
    if summary.get("pedestrians"):
        out["pedestrians/map50"] = _number(peds and peds["ap50"])
        out["pedestrians/recall50"] = _number(peds and peds["recall"])
        out["pedestrians/mr2"] = _number(peds and peds["mr2"], 1.0)
        scores.append(out["pedestrians/map50"])
    lanes = summary.get("lanes")
    if lanes:
        px = lanes["pixel"]
        out["lanes/iou"] = _number(px["iou"])
        out["lanes/accuracy"] = _number(px["accuracy"])
        out["lanes/f1"] = 2 * px["tp"] / max(2 * px["tp"] + px["fp"] + px["fn"], 1)
        scores.append(out["lanes/iou"])
    drivable = summary.get("drivable")
    if drivable:
        out["drivable/miou"] = _number(drivable["miou"])
        for name, value in drivable["iou"].items():
            out[f"drivable/iou_{name}"] = _number(value)
        scores.append(out["drivable/miou"])
    out["fitness"] = float(np.mean(scores)) if scores else 0.0
    out["images"] = int(max(summary.get("images_per_task", {}).values(), default=0))
    return out


def _number(value, missing: float = 0.0) -> float:
    """A metric as a float for logs and fitness; None/NaN (nothing to score) becomes `missing`."""
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
