"""Lane-marking evaluation: attribute accuracy over CULane-matched lanes, and BDD100K's official
lane-marking F-scores on byte masks drawn from the predictions.

Attribute accuracy: each prediction matched to a ground-truth lane (CULane protocol: 30 px lines on
1640x590, Hungarian, IoU >= 0.5) whose label states the attribute counts once; chance levels are reported
beside it (uniform 1/K, and always answering the split's most frequent value). The official metric
(perception.evaluation.bdd_lane_metric) compares the ground truth's BDD100K lane byte mask (the source's
own mask where it has one, else its polylines drawn like BDD100K's: 8 px at 1280 px wide) with the
predicted lanes and crossings drawn the same way.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from perception.evaluation.bdd_lane_metric import LaneMarkingMetric, draw_lane_byte_mask, encode_lane_byte
from perception.evaluation.lane_instances import culane_pairs
from perception.evaluation.merge import merge_fields
from perception.classes import IGNORE_INDEX
from perception.markings import (
    ATTRIBUTE_GROUPS, attribute_indices, bdd_category, has_marking_labels, is_crossing,
)
from perception.structures import FrameResult, Sample


def bdd_line_width(image_width: int) -> int:
    """BDD100K's lane masks draw 8 px lines on 1280 px wide images."""
    return max(1, int(round(8 * image_width / 1280)))


def ground_truth_byte_mask(gt: Sample) -> np.ndarray | None:
    """The image's BDD100K lane byte mask: its own (lane_bits), else drawn from BDD100K-labelled polylines."""
    if gt.lane_bits is not None:
        return np.asarray(gt.lane_bits, np.uint8)
    if not has_marking_labels(gt.lane_attrs[: len(gt.lanes)]):
        return None
    markings = [(lane, encode_lane_byte(str(a.get("direction", "parallel")), str(a.get("style", "solid")),
                                        str(a.get("category", ""))), bool(a.get("closed", False)))
                for lane, a in zip(gt.lanes, gt.lane_attrs)]
    return draw_lane_byte_mask(markings, (gt.height, gt.width), bdd_line_width(gt.width))


def prediction_byte_mask(pred: FrameResult, size: tuple[int, int]) -> np.ndarray:
    """Predicted lanes (direction parallel, their style and category) and crossings (vertical: crosswalk
    polygons filled, stop lines as 'single white') as a BDD100K lane byte mask of `size` (H, W)."""
    markings = []
    for lane in pred.lanes:
        value = encode_lane_byte("parallel", lane.style or "solid", bdd_category(lane.color, lane.type))
        markings.append((lane.points, value, False))
    for crossing in pred.crossings:  # drawn last: where a crossing meets a lane, the crossing shows
        category = "crosswalk" if crossing.category == "crosswalk" else "single white"
        markings.append((crossing.polygon, encode_lane_byte("vertical", "solid", category), crossing.category == "crosswalk"))
    return draw_lane_byte_mask(markings, size, bdd_line_width(size[1]))


class LaneMarkingAccumulator:
    """`update(pred, gt)` per image whose lanes are labelled; `summary()` once."""

    def __init__(self) -> None:
        self.official = LaneMarkingMetric()
        self.confusion = {name: np.zeros((len(values), len(values)), np.int64) for name, values in ATTRIBUTE_GROUPS}
        self.matched_lanes = 0

    def merge(self, other: "LaneMarkingAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("official", "confusion", "matched_lanes"))

    def update(self, pred: FrameResult, gt: Sample) -> None:
        size = (gt.height, gt.width)
        gt_mask = ground_truth_byte_mask(gt)
        if gt_mask is not None:
            self.official.update(gt_mask, prediction_byte_mask(pred, size))
        if not gt.lanes or not pred.lanes or pred.lanes[0].style is None:
            return
        lanes = [(lane, a) for lane, a in zip(gt.lanes, gt.lane_attrs) if is_crossing(a) is None and len(lane)]
        pairs = culane_pairs([p.points for p in pred.lanes], [lane for lane, _ in lanes], size)
        for p, g in pairs:
            truth = attribute_indices(lanes[g][1])
            self.matched_lanes += 1
            for (name, values), t in zip(ATTRIBUTE_GROUPS, truth):
                if t != IGNORE_INDEX:
                    self.confusion[name][t, values.index(getattr(pred.lanes[p], name))] += 1

    def summary(self) -> dict | None:
        out: dict = {}
        if len(self.official):
            out["bdd100k"] = {"images": len(self.official), **self.official.compute()}
        if self.matched_lanes:
            attrs = {}
            for name, values in ATTRIBUTE_GROUPS:
                m = self.confusion[name]
                total = int(m.sum())
                if not total:
                    continue
                truth = Counter({values[i]: int(n) for i, n in enumerate(m.sum(1)) if n})
                present = m.sum(1) > 0
                attrs[name] = {
                    "accuracy": float(np.trace(m) / total),
                    # mean recall over the values present: its chance level is 1 / (values present) whatever
                    # the class balance, where plain accuracy's is the majority share
                    "balanced_accuracy": float(np.mean(np.diag(m)[present] / m.sum(1)[present])),
                    "chance_balanced": 1.0 / int(present.sum()),
                    "lanes": total,
                    "chance_uniform": 1.0 / len(values),
                    "chance_majority": truth.most_common(1)[0][1] / total,
                    "values": list(values),
                    "confusion": m.tolist(),  # rows: truth, columns: prediction
                }
            out["attributes"] = {"matched_lanes": self.matched_lanes, **attrs}
        return out or None
