"""Instance-level lane metrics: CULane F1 and TuSimple accuracy/FP/FN, as their official evaluators.

Lanes are polylines (K, 2) of (x, y) in original-image pixels, one array per lane.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import splev, splprep
from scipy.optimize import linear_sum_assignment

from perception.evaluation.merge import merge_fields

CULANE_CANVAS = (590, 1640)  # (H, W) of CULane images, where the official evaluator draws
CULANE_WIDTH = 30
CULANE_IOU = 0.5

TUSIMPLE_PIXEL_THRESH = 20.0
TUSIMPLE_POINT_THRESH = 0.85


def _spline(points: np.ndarray, per_segment: int = 5) -> np.ndarray:
    """Cubic-spline resampling between the given points, as the CULane evaluator (and its Python port).

    Falls back to the raw points when the spline cannot be fitted (repeated points, < 2 points).
    """
    if len(points) < 2:
        return points
    try:
        tck, u = splprep([points[:, 0], points[:, 1]], s=0, k=min(3, len(points) - 1))
    except (ValueError, TypeError, SystemError):
        return points
    dense = np.linspace(0.0, 1.0, (len(u) - 1) * per_segment + 1)
    return np.array(splev(dense, tck)).T


def culane_lane_masks(lanes: list[np.ndarray], image_size: tuple[int, int]) -> np.ndarray:
    """(L, 590, 1640) bool: each lane rescaled to the CULane canvas and drawn 30 px wide."""
    sy = CULANE_CANVAS[0] / image_size[0]
    sx = CULANE_CANVAS[1] / image_size[1]
    masks = np.zeros((len(lanes), *CULANE_CANVAS), np.uint8)
    for i, lane in enumerate(lanes):
        pts = np.asarray(lane, np.float64).reshape(-1, 2)
        if len(pts) == 0:
            continue
        # dedupe consecutive points (splprep rejects them) and order along the road
        pts = pts[np.argsort(-pts[:, 1], kind="mergesort")] * [sx, sy]
        keep = np.r_[True, np.any(np.abs(np.diff(pts, axis=0)) > 1e-6, axis=1)]
        pts = _spline(pts[keep]).astype(np.int32)
        for p, q in zip(pts[:-1], pts[1:]):
            cv2.line(masks[i], (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 1, CULANE_WIDTH)
        if len(pts) == 1:
            cv2.circle(masks[i], (int(pts[0, 0]), int(pts[0, 1])), CULANE_WIDTH // 2, 1, -1)
    return masks.astype(bool)


def culane_pairs(
    pred: list[np.ndarray], gt: list[np.ndarray], image_size: tuple[int, int], iou_threshold: float = CULANE_IOU
) -> list[tuple[int, int]]:
    """The CULane true positives of one image as (prediction index, ground-truth index) pairs: Hungarian
    matching on IoU of the 30 px masks, kept when IoU >= threshold."""
    if not pred or not gt:
        return []
    pm = culane_lane_masks(pred, image_size).reshape(len(pred), -1)
    gm = culane_lane_masks(gt, image_size).reshape(len(gt), -1)
    inter = pm.astype(np.float32) @ gm.astype(np.float32).T
    union = pm.sum(1)[:, None] + gm.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= iou_threshold]


def culane_match(
    pred: list[np.ndarray], gt: list[np.ndarray], image_size: tuple[int, int], iou_threshold: float = CULANE_IOU
) -> tuple[int, int, int]:
    """(tp, fp, fn) for one image: Hungarian matching on IoU of the 30 px masks, TP when IoU >= threshold."""
    tp = len(culane_pairs(pred, gt, image_size, iou_threshold))
    return tp, len(pred) - tp, len(gt) - tp


class CULaneAccumulator:
    """Sums CULane TP/FP/FN over the split; precision, recall, F1 at IoU 0.5."""

    def __init__(self, iou_threshold: float = CULANE_IOU):
        self.iou_threshold = iou_threshold
        self.tp = self.fp = self.fn = 0
        self.num_images = 0

    def merge(self, other: "CULaneAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("tp", "fp", "fn", "num_images"))

    def update(self, pred: list[np.ndarray], gt: list[np.ndarray], image_size: tuple[int, int]) -> dict[str, float]:
        tp, fp, fn = culane_match(pred, gt, image_size, self.iou_threshold)
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.num_images += 1
        return {"f1": 2 * tp / max(2 * tp + fp + fn, 1)}

    def summary(self) -> dict:
        precision = self.tp / max(self.tp + self.fp, 1)
        recall = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "iou_threshold": self.iou_threshold, "width": CULANE_WIDTH, "canvas": list(CULANE_CANVAS)}


def row_anchors(gt: list[np.ndarray]) -> np.ndarray:
    """TuSimple's h_samples reconstructed from the gt: the regular grid of rows the gt lanes use.

    TuSimple labels every lane at the same rows (step 10 px); a `Sample` keeps only each lane's valid
    points, so the grid spans from the highest to the lowest labelled row with the smallest row step.
    """
    ys = np.unique(np.round(np.concatenate([np.asarray(g, np.float64).reshape(-1, 2)[:, 1] for g in gt])))
    if len(ys) < 2:
        return ys
    step = max(float(np.min(np.diff(ys))), 1.0)
    return np.arange(ys[0], ys[-1] + step / 2, step)


def lane_x_at_rows(lane: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x of a polyline at each row (linear in y), -2 outside its vertical extent (TuSimple's 'no point')."""
    pts = np.asarray(lane, np.float64).reshape(-1, 2)
    out = np.full(len(rows), -2.0)
    if len(pts) == 0:
        return out
    pts = pts[np.argsort(pts[:, 1], kind="mergesort")]
    inside = (rows >= pts[0, 1]) & (rows <= pts[-1, 1])
    if len(pts) == 1:
        out[rows == pts[0, 1]] = pts[0, 0]
        return out
    out[inside] = np.interp(rows[inside], pts[:, 1], pts[:, 0])
    return out


def _lane_angle(xs: np.ndarray, rows: np.ndarray) -> float:
    """arctan of the slope dx/dy of a least-squares line through the valid points (official get_angle)."""
    valid = xs >= 0
    if valid.sum() <= 1:
        return 0.0
    slope = np.polyfit(rows[valid], xs[valid], 1)[0]
    return float(np.arctan(slope))


def _line_accuracy(pred: np.ndarray, gt: np.ndarray, thresh: float) -> float:
    # official quirk kept on purpose: rows missing in both count as correct, the denominator is all rows
    pred = np.where(pred >= 0, pred, -100.0)
    gt = np.where(gt >= 0, gt, -100.0)
    return float(np.sum(np.abs(pred - gt) < thresh)) / len(gt)


def tusimple_bench(pred_xs: list[np.ndarray], gt_xs: list[np.ndarray], rows: np.ndarray) -> tuple[float, float, float]:
    """LaneEval.bench of the official TuSimple script for one image: (accuracy, fp rate, fn rate).

    pred_xs / gt_xs: per lane, x at each row of `rows` or -2 where the lane has no point.
    """
    if len(pred_xs) > len(gt_xs) + 2:
        # official LaneEval.bench returns (0., 0., 1.) here: no accuracy, all gt missed, and FP 0 (not 1)
        return 0.0, 0.0, 1.0
    threshs = [TUSIMPLE_PIXEL_THRESH / np.cos(_lane_angle(g, rows)) for g in gt_xs]
    line_accs, fn, matched = [], 0.0, 0.0
    for g, thresh in zip(gt_xs, threshs):
        accs = [_line_accuracy(p, g, thresh) for p in pred_xs]
        best = max(accs) if accs else 0.0
        if best < TUSIMPLE_POINT_THRESH:
            fn += 1
        else:
            matched += 1
        line_accs.append(best)
    fp = len(pred_xs) - matched
    # official: with more than 4 gt lanes the worst one is dropped (TuSimple scores at most 4 lanes)
    if len(gt_xs) > 4 and fn > 0:
        fn -= 1
    total = sum(line_accs)
    if len(gt_xs) > 4:
        total -= min(line_accs)
    denom = max(min(4.0, len(gt_xs)), 1.0)
    return total / denom, (fp / len(pred_xs) if pred_xs else 0.0), fn / denom


class TuSimpleAccumulator:
    """Averages the official per-image accuracy, FP and FN over the images with gt lanes."""

    def __init__(self):
        self.accuracy = self.fp = self.fn = 0.0
        self.num_images = 0

    def merge(self, other: "TuSimpleAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("accuracy", "fp", "fn", "num_images"))

    def update(self, pred: list[np.ndarray], gt: list[np.ndarray]) -> dict[str, float]:
        gt = [g for g in gt if len(g)]
        if not gt:
            return {}
        rows = row_anchors(gt)
        acc, fp, fn = tusimple_bench([lane_x_at_rows(p, rows) for p in pred], [lane_x_at_rows(g, rows) for g in gt], rows)
        self.accuracy += acc
        self.fp += fp
        self.fn += fn
        self.num_images += 1
        return {"accuracy": acc, "fp": fp, "fn": fn}

    def summary(self) -> dict:
        n = max(self.num_images, 1)
        return {"accuracy": self.accuracy / n, "fp": self.fp / n, "fn": self.fn / n, "num_images": self.num_images,
                "pixel_threshold": TUSIMPLE_PIXEL_THRESH, "point_threshold": TUSIMPLE_POINT_THRESH}
