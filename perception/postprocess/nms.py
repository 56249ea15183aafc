"""Class-aware non-maximum suppression (numpy)."""

from __future__ import annotations

import numpy as np

from perception.postprocess.boxes import box_iou


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS. boxes (N, 4) xyxy, scores (N,). Returns kept indices, highest score first.

    Same result as torchvision.ops.nms (a box is dropped when its IoU with a kept, higher-scoring box is
    strictly greater than the threshold), computed as Cluster-NMS (Zheng et al., 2020): iterate
    "kept = not overlapped by any kept higher-scoring box" on the IoU matrix until it stops changing.
    Each pass is one matrix-vector product, and the fixed point equals greedy NMS exactly, so a few
    vectorised passes replace a Python loop over every box.
    """
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float32, copy=False)
    overlaps = np.triu(box_iou(b, b) > iou_threshold, k=1)  # [j, i]: higher-scoring j over i
    keep = np.ones(len(b), bool)
    for _ in range(len(b)):
        new_keep = ~(keep @ overlaps)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return order[keep]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class only; returns kept indices sorted by score, highest first."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    kept = [idx[nms(boxes[idx], scores[idx], iou_threshold)] for idx in (np.flatnonzero(classes == c) for c in np.unique(classes))]
    kept = np.concatenate(kept)
    return kept[np.argsort(-scores[kept], kind="stable")]
