"""Pedestrian detection: log-average miss rate MR^-2 and AP50, CityPersons protocol.

Follows the official CityPersons script (eval_MR_multisetup.py, after Dollar's Caltech toolbox):
IoU 0.5; gts outside the setup's height/visibility range, ignore regions and other person-like classes
(riders) are ignore gts, overlapping them is measured as inter / area(det), several detections may
match one ignore gt and such detections count neither as TP nor FP; detections shorter than
h_min / 1.25 are dropped before matching (the script's `expFilter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.evaluation.detection import interpolated_precision
from perception.evaluation.matching import greedy_match
from perception.evaluation.merge import merge_fields
from perception.postprocess.boxes import box_iou

# 9 points log-spaced in [1e-2, 1e0]: np.logspace(-2, 0, 9), as the Caltech/CityPersons scripts
FPPI_POINTS = np.logspace(-2.0, 0.0, 9)
HEIGHT_FILTER_EXPANSION = 1.25
# How labels without a visible share enter the setups (perception.data.sources.bdd_labels.label_visibility).
VISIBILITY_MAPPING = ("numeric visibility when the label has one (CityPersons bboxVis/bbox, synthetic); BDD100K "
                      "occluded=true -> 0.5 (outside 'reasonable' >= 0.65, inside 'all' >= 0.2); neither -> 1.0")


@dataclass(frozen=True)
class PedestrianSetup:
    """A CityPersons evaluation subset: gts with height (px) and visibility in range count, others ignored."""

    name: str
    min_height: float
    min_visibility: float
    max_height: float = float("inf")


SETUPS = (
    PedestrianSetup("reasonable", 50.0, 0.65),
    # the official script's "All": height >= 20 px and visibility >= 0.2
    PedestrianSetup("all", 20.0, 0.2),
)


def log_average_miss_rate(miss_rate: np.ndarray, fppi: np.ndarray) -> tuple[float, np.ndarray]:
    """MR^-2: geometric mean of the miss rate sampled at FPPI_POINTS.

    miss_rate, fppi: (D,) along descending score. At each reference FPPI the curve is read at the last
    detection whose FPPI is <= the reference; with none, the miss rate is 1 (the official script wraps
    to the last element there, a Python indexing slip we do not copy). Miss rates are floored at 1e-10
    before the log as in Dollar's toolbox. Returns (MR^-2, sampled miss rates (9,)).
    """
    idx = np.searchsorted(fppi, FPPI_POINTS, side="right") - 1
    sampled = np.where(idx >= 0, miss_rate[np.clip(idx, 0, None)] if len(miss_rate) else 1.0, 1.0)
    return float(np.exp(np.mean(np.log(np.maximum(sampled, 1e-10))))), sampled


class PedestrianAccumulator:
    """Accumulates one person class against ground truth under each setup, image by image."""

    def __init__(self, person_class: int = 0, ignore_classes: tuple[int, ...] = (1,), setups=SETUPS):
        self.person_class = int(person_class)
        self.ignore_classes = tuple(int(c) for c in ignore_classes)
        self.setups = tuple(setups)
        self.num_images = 0
        self._scores = {s.name: [] for s in self.setups}
        self._tp = {s.name: [] for s in self.setups}
        self._fp = {s.name: [] for s in self.setups}
        self._num_gt = {s.name: 0 for s in self.setups}

    def merge(self, other: "PedestrianAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("num_images", "_scores", "_tp", "_fp", "_num_gt"))

    def update(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        gt_boxes: np.ndarray,
        gt_classes: np.ndarray,
        gt_visibility: np.ndarray,
        ignore_boxes: np.ndarray | None = None,
    ) -> None:
        """Add one image: predictions and gts xyxy in original pixels, visibility (G,) in [0, 1]."""
        self.num_images += 1
        keep = np.asarray(classes).reshape(-1) == self.person_class
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[keep]
        scores = np.asarray(scores, np.float64).reshape(-1)[keep]
        order = np.argsort(-scores, kind="mergesort")
        boxes, scores = boxes[order], scores[order]
        gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        gt_classes = np.asarray(gt_classes).reshape(-1)
        gt_visibility = np.asarray(gt_visibility, np.float64).reshape(-1)
        ignore_boxes = np.zeros((0, 4)) if ignore_boxes is None else np.asarray(ignore_boxes, np.float64).reshape(-1, 4)

        is_person = gt_classes == self.person_class
        other = np.isin(gt_classes, self.ignore_classes)
        heights = gt_boxes[:, 3] - gt_boxes[:, 1]
        det_heights = boxes[:, 3] - boxes[:, 1]
        for setup in self.setups:
            in_range = (
                (heights >= setup.min_height) & (heights < setup.max_height) & (gt_visibility >= setup.min_visibility)
            )
            regular = is_person & in_range
            ignored_gt = (is_person & ~in_range) | other
            g_boxes = np.concatenate([gt_boxes[regular], gt_boxes[ignored_gt], ignore_boxes])
            g_ignore = np.r_[np.zeros(regular.sum(), bool), np.ones(ignored_gt.sum() + len(ignore_boxes), bool)]
            d_keep = (det_heights >= setup.min_height / HEIGHT_FILTER_EXPANSION) & (
                det_heights < setup.max_height * HEIGHT_FILTER_EXPANSION
            )
            d_boxes, d_scores = boxes[d_keep], scores[d_keep]
            iou = box_iou(d_boxes, g_boxes, crowd=g_ignore)
            matched, ignored = greedy_match(iou, g_ignore, g_ignore, np.array([0.5]), ignore_reusable=True)
            counted = ~ignored[0]
            self._scores[setup.name].append(d_scores[counted])
            self._tp[setup.name].append(matched[0][counted])
            self._fp[setup.name].append(~matched[0][counted])
            self._num_gt[setup.name] += int(regular.sum())

    def curve(self, setup_name: str) -> dict[str, np.ndarray]:
        """Miss rate against FPPI along descending score, and the precision/recall points."""
        if not self._scores[setup_name]:
            return {"fppi": np.zeros(0), "miss_rate": np.zeros(0), "tp": np.zeros(0, bool), "fp": np.zeros(0, bool)}
        scores = np.concatenate(self._scores[setup_name])
        order = np.argsort(-scores, kind="mergesort")
        tp = np.concatenate(self._tp[setup_name])[order]
        fp = np.concatenate(self._fp[setup_name])[order]
        num_gt = max(self._num_gt[setup_name], 1)
        recall = np.cumsum(tp) / num_gt
        fppi = np.cumsum(fp) / max(self.num_images, 1)
        return {"fppi": fppi, "miss_rate": 1.0 - recall, "tp": tp, "fp": fp}

    def summary(self) -> dict:
        """Per setup: MR^-2 (lower is better), AP50 (101-point, COCO interpolation), recall, gt count."""
        out = {"num_images": self.num_images, "person_class": self.person_class}
        for setup in self.setups:
            num_gt = self._num_gt[setup.name]
            if num_gt == 0:
                out[setup.name] = None
                continue
            curve = self.curve(setup.name)
            mr, sampled = log_average_miss_rate(curve["miss_rate"], curve["fppi"])
            precision, recall = interpolated_precision(curve["tp"], curve["fp"], num_gt)
            out[setup.name] = {
                "mr2": mr,
                "ap50": float(precision.mean()),
                "recall": recall,
                "num_gt": num_gt,
                "miss_rate_at_fppi": dict(zip([f"{p:.4f}" for p in FPPI_POINTS], sampled.tolist())),
                "min_height": setup.min_height,
                "min_visibility": setup.min_visibility,
                "visibility_mapping": VISIBILITY_MAPPING,
            }
        return out
