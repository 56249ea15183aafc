"""COCO-style detection AP (pycocotools' COCOeval, bbox, area range 'all'), accumulated image by image.

Per image and class the detections are matched greedily (see `matching.greedy_match`); only the match
flags and scores are kept, so memory grows with the number of detections, never with the images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.evaluation.matching import greedy_match
from perception.evaluation.merge import merge_fields
from perception.postprocess.boxes import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass
class _ClassRecord:
    scores: list[np.ndarray] = field(default_factory=list)
    matched: list[np.ndarray] = field(default_factory=list)  # (T, D) per image
    ignored: list[np.ndarray] = field(default_factory=list)
    num_gt: int = 0


def interpolated_precision(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> tuple[np.ndarray, float]:
    """COCOeval.accumulate for one class and threshold: monotone precision at the 101 recall points.

    tp, fp: (D,) bool in descending score order. Returns (precision (101,), final recall).
    """
    tp_sum = np.cumsum(tp, dtype=np.float64)
    fp_sum = np.cumsum(fp, dtype=np.float64)
    if len(tp_sum) == 0:
        return np.zeros(len(RECALL_POINTS)), 0.0
    recall = tp_sum / num_gt
    precision = tp_sum / (tp_sum + fp_sum + np.spacing(1))
    # make precision non-increasing from the right (the "envelope")
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.zeros(len(RECALL_POINTS))
    valid = idx < len(precision)
    sampled[valid] = precision[idx[valid]]
    return sampled, float(recall[-1])


class DetectionAccumulator:
    """Accumulates detections against ground truth and summarises AP like COCOeval (bbox, area 'all').

    max_detections: per image AND per class, as COCOeval applies maxDets inside evaluateImg.
    Ignore regions (class-agnostic) behave as crowd annotations of every class.
    """

    def __init__(self, class_names: dict[int, str], max_detections: int = 100, iou_thresholds=IOU_THRESHOLDS):
        self.class_names = dict(class_names)
        self.max_detections = int(max_detections)
        self.iou_thresholds = np.asarray(iou_thresholds, np.float64)
        self.records = {c: _ClassRecord() for c in self.class_names}
        self.num_images = 0

    def merge(self, other: "DetectionAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("records", "num_images"))

    def update(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        gt_boxes: np.ndarray,
        gt_classes: np.ndarray,
        ignore_boxes: np.ndarray | None = None,
        gt_ignore: np.ndarray | None = None,
    ) -> dict[int, dict[str, np.ndarray]]:
        """Add one image. Boxes xyxy pixels; gt_ignore (G,) marks gts that count neither way.

        Returns the per-class match result of this image at IoU 0.5 (for per-image scores and plots).
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        classes = np.asarray(classes, np.int64).reshape(-1)
        gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        gt_classes = np.asarray(gt_classes, np.int64).reshape(-1)
        ignore_boxes = np.zeros((0, 4)) if ignore_boxes is None else np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
        gt_ignore = np.zeros(len(gt_boxes), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
        self.num_images += 1
        per_image = {}
        for cls, record in self.records.items():
            det_sel = np.flatnonzero(classes == cls)
            gt_sel = gt_classes == cls
            if len(det_sel) == 0 and not gt_sel.any():
                continue
            # stable sort, highest score first, then COCO's per-image-per-class cap
            det_sel = det_sel[np.argsort(-scores[det_sel], kind="mergesort")][: self.max_detections]
            cls_gt = np.concatenate([gt_boxes[gt_sel], ignore_boxes])
            crowd = np.concatenate([np.zeros(gt_sel.sum(), bool), np.ones(len(ignore_boxes), bool)])
            ignore = np.concatenate([gt_ignore[gt_sel], np.ones(len(ignore_boxes), bool)])
            iou = box_iou(boxes[det_sel], cls_gt, crowd)
            matched, ignored = greedy_match(iou, ignore, crowd, self.iou_thresholds)
            record.scores.append(scores[det_sel])
            record.matched.append(matched)
            record.ignored.append(ignored)
            record.num_gt += int((~ignore).sum())
            per_image[cls] = {
                "scores": scores[det_sel], "matched": matched[0], "ignored": ignored[0], "num_gt": int((~ignore).sum())
            }
        return per_image

    def _class_arrays(self, record: _ClassRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        num_t = len(self.iou_thresholds)
        if not record.scores:
            return np.zeros(0), np.zeros((num_t, 0), bool), np.zeros((num_t, 0), bool)
        scores = np.concatenate(record.scores)
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate(record.matched, axis=1)[:, order]
        ignored = np.concatenate(record.ignored, axis=1)[:, order]
        return scores[order], matched, ignored

    def summary(self) -> dict:
        """AP@0.5, AP@[.5:.95], recall per class and their means over classes with ground truth.

        Also returns the interpolated PR curve at IoU 0.5 per class (101 points) for plotting.
        """
        per_class = {}
        t50 = int(np.argmin(np.abs(self.iou_thresholds - 0.5)))
        for cls, record in self.records.items():
            name = self.class_names[cls]
            if record.num_gt == 0:
                continue  # COCOeval leaves precision at -1 and the mean skips it
            scores, matched, ignored = self._class_arrays(record)
            aps, recalls = [], []
            curve = None
            for t in range(len(self.iou_thresholds)):
                tp = matched[t] & ~ignored[t]
                fp = ~matched[t] & ~ignored[t]
                precision, recall = interpolated_precision(tp, fp, record.num_gt)
                aps.append(precision.mean())
                recalls.append(recall)
                if t == t50:
                    curve = precision
            per_class[name] = {
                "class_id": int(cls),
                "num_gt": record.num_gt,
                "num_det": int(len(scores)),
                "ap50": float(aps[t50]),
                "ap50_95": float(np.mean(aps)),
                "recall50": float(recalls[t50]),
                "ar": float(np.mean(recalls)),
                "pr_curve": {"recall": RECALL_POINTS.tolist(), "precision": curve.tolist()},
            }

        def mean(key: str) -> float | None:
            values = [v[key] for v in per_class.values()]
            return float(np.mean(values)) if values else None

        return {
            "map50": mean("ap50"),
            "map50_95": mean("ap50_95"),
            "recall50": mean("recall50"),
            "ar": mean("ar"),
            "max_detections": self.max_detections,
            "num_images": self.num_images,
            "per_class": per_class,
        }
