"""BDD100K's official lane-marking metric (`bdd100k/eval/lane.py` of bdd100k/bdd100k), reimplemented.

The lane mask byte packs direction (bit 5: 0 parallel, 1 vertical), style (bit 4: 0 solid, 1 dashed), a
background flag (bit 3: set means no lane, so 255 is background) and the category (bits 0-2, the index in
`BDD_LANE_CATEGORIES`). Per image, sub-task (direction, style, category) and value, the value's foreground
in prediction and ground truth is compared with a boundary F-score (DAVIS's F measure): each mask is
dilated by a disk of radius 1, 2 and 5 px; P = |pred & dilated gt| / |pred|, R = |gt & dilated pred| / |gt|.
Both empty scores 1, one empty scores 0. The official aggregation: mean over images, x100, mean over the
values of a sub-task, then mean over the three sub-tasks. tests/evaluation/test_bdd_lane_metric.py
cross-checks these numbers against the toolkit's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from perception.markings import BDD_LANE_CATEGORIES

BOUND_PIXELS = (1, 2, 5)
# sub-task -> (bit offset, bit width, value names), as the toolkit's `sub_task_funcs` / `sub_task_cats`.
SUB_TASKS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "direction": (5, 1, ("parallel", "vertical")),
    "style": (4, 1, ("solid", "dashed")),
    "category": (0, 3, BDD_LANE_CATEGORIES),
}
BACKGROUND = 255


@lru_cache(maxsize=8)
def _disk(radius: int) -> np.ndarray:
    """skimage.morphology.disk: the pixels within Euclidean distance `radius` of the centre."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def boundary_f_score(gt: np.ndarray, pred: np.ndarray, bound_pix: int) -> float:
    """F-score of two binary masks (H, W) with a tolerance of `bound_pix` pixels (the toolkit's
    `eval_lane_per_threshold`)."""
    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    n_gt, n_pd = int(gt.sum()), int(pred.sum())
    if n_gt == 0 and n_pd == 0:
        return 1.0
    if n_gt == 0 or n_pd == 0:
        return 0.0
    kernel = _disk(int(bound_pix))
    gt_dil = cv2.dilate(gt.view(np.uint8), kernel).astype(bool)
    pd_dil = cv2.dilate(pred.view(np.uint8), kernel).astype(bool)
    precision = np.count_nonzero(pred & gt_dil) / n_pd
    recall = np.count_nonzero(gt & pd_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def lane_mask_values(byte_mask: np.ndarray, task: str) -> np.ndarray:
    """The sub-task's value per pixel of a BDD100K lane byte mask (H, W) uint8."""
    offset, width, _ = SUB_TASKS[task]
    return (np.asarray(byte_mask, np.uint8) >> offset) & ((1 << width) - 1)


def frame_lane_scores(gt_mask: np.ndarray, pred_mask: np.ndarray | None) -> dict[str, np.ndarray]:
    """One image: {sub-task: (num values, len(BOUND_PIXELS)) F-scores in [0, 1]}.

    gt_mask, pred_mask: BDD100K lane byte masks (H, W) uint8 of the same size; a missing prediction counts
    as all zeros, as in the toolkit (zeros are lanes: category crosswalk, parallel, solid)."""
    gt_mask = np.asarray(gt_mask, np.uint8)
    pred_mask = np.zeros_like(gt_mask) if pred_mask is None else np.asarray(pred_mask, np.uint8)
    if pred_mask.shape != gt_mask.shape:
        raise ValueError(f"lane masks differ in size: prediction {pred_mask.shape}, ground truth {gt_mask.shape}")
    gt_fg = (gt_mask & 8) == 0
    pd_fg = (pred_mask & 8) == 0
    out = {}
    for task, (_, _, names) in SUB_TASKS.items():
        gt_values, pd_values = lane_mask_values(gt_mask, task), lane_mask_values(pred_mask, task)
        out[task] = np.array([
            [boundary_f_score(gt_fg & (gt_values == v), pd_fg & (pd_values == v), b) for b in BOUND_PIXELS]
            for v in range(len(names))
        ])
    return out


@dataclass
class LaneMarkingMetric:
    """Accumulates `frame_lane_scores` over images; `compute()` aggregates as the toolkit's
    `merge_results`: per value and sub-task the mean over images x100, a sub-task's score the mean over
    its values, the overall score the mean over the three sub-tasks."""

    frames: list[dict[str, np.ndarray]] = field(default_factory=list)

    def update(self, gt_mask: np.ndarray, pred_mask: np.ndarray | None) -> None:
        self.frames.append(frame_lane_scores(gt_mask, pred_mask))

    def __len__(self) -> int:
        return len(self.frames)

    def compute(self) -> dict[str, float]:
        """{"F1_pix{b}": overall, "F1_pix{b}/{TASK}": sub-task mean, "F1_pix{b}/{value}": per value}, in
        percent (the toolkit's `LaneResult.summary()` keys); empty when no image was seen."""
        if not self.frames:
            return {}
        out: dict[str, float] = {}
        task_means = []
        for task, (_, _, names) in SUB_TASKS.items():
            per_value = np.stack([f[task] for f in self.frames]).mean(0) * 100.0  # (values, bounds)
            mean = per_value.mean(0)
            task_means.append(mean)
            for i, b in enumerate(BOUND_PIXELS):
                for v, name in enumerate(names):
                    out[f"F1_pix{b}/{name}"] = float(per_value[v, i])
                out[f"F1_pix{b}/{task.upper()}"] = float(mean[i])
        overall = np.stack(task_means).mean(0)
        for i, b in enumerate(BOUND_PIXELS):
            out[f"F1_pix{b}"] = float(overall[i])
        return out


def encode_lane_byte(direction: str, style: str, category: str) -> int:
    """The BDD100K lane mask byte of one marking (unknown values fall back to parallel, solid, single white)."""
    d = 1 if direction == "vertical" else 0
    s = 1 if style == "dashed" else 0
    c = BDD_LANE_CATEGORIES.index(category) if category in BDD_LANE_CATEGORIES else BDD_LANE_CATEGORIES.index("single white")
    return (d << 5) | (s << 4) | c


def draw_lane_byte_mask(markings, size: tuple[int, int], thickness: int = 8) -> np.ndarray:
    """(H, W) uint8 BDD100K lane mask of markings [(points (K, 2) xy pixels, byte, closed)], background 255.

    Open markings are drawn as `thickness`-px polylines (BDD100K draws 8 px at 1280x720); closed ones are
    filled polygons."""
    mask = np.full(size, BACKGROUND, np.uint8)
    for points, value, closed in markings:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        fixed = np.round((np.clip(pts, -1e5, 1e5) - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
        if closed and len(pts) >= 3:
            cv2.fillPoly(mask, [fixed], int(value), cv2.LINE_8, 4)
        else:
            cv2.polylines(mask, [fixed], False, int(value), max(1, int(thickness)), cv2.LINE_8, 4)
    return mask
