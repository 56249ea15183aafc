"""Box operations, one home for all (after torchvision's ops/boxes.py): anchor points and box coding for the
anchor-free heads (numpy or torch, same formula), area, IoU (with the COCO crowd rule) and NMS (numpy).

Boxes are (N, 4) xyxy in pixels, no +1 pixel convention (COCO's).
"""

from __future__ import annotations

import numpy as np


def anchor_points(imgsz: tuple[int, int], strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Point centres (A, 2) xy in input pixels and their strides (A,), in the heads' output order.

    For each stride s (in the given order), row-major over the (H/s, W/s) grid: ((j + 0.5) s, (i + 0.5) s).
    """
    h, w = imgsz
    points, point_strides = [], []
    for s in strides:
        ys, xs = np.meshgrid(np.arange(h // s, dtype=np.float32), np.arange(w // s, dtype=np.float32), indexing="ij")
        points.append(np.stack([(xs.ravel() + 0.5) * s, (ys.ravel() + 0.5) * s], 1))
        point_strides.append(np.full(xs.size, s, np.float32))
    return np.concatenate(points), np.concatenate(point_strides)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def decode_distances(points, strides, raw):
    """raw (..., A, 4) -> boxes (..., A, 4) xyxy input pixels: d = softplus(raw) * stride, ltrb around the point.

    Works on numpy arrays and on torch tensors (differentiable; used by the losses).
    """
    if _is_torch(raw):
        import torch
        import torch.nn.functional as F

        points = torch.as_tensor(points, dtype=raw.dtype, device=raw.device)
        strides = torch.as_tensor(strides, dtype=raw.dtype, device=raw.device)
        dist = F.softplus(raw) * strides[:, None]
        return torch.cat([points - dist[..., :2], points + dist[..., 2:]], -1)
    dist = np.logaddexp(0.0, raw.astype(np.float32)) * strides[:, None]
    return np.concatenate([points - dist[..., :2], points + dist[..., 2:]], -1)


def encode_distances(points, strides, boxes):
    """Inverse of `decode_distances` for boxes that contain their point: ltrb distances in stride units
    (before softplus). Useful for tests and for initialising regressions."""
    if _is_torch(boxes):
        import torch

        points = torch.as_tensor(points, dtype=boxes.dtype, device=boxes.device)
        strides = torch.as_tensor(strides, dtype=boxes.dtype, device=boxes.device)
        dist = torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], -1) / strides[:, None]
        return torch.log(torch.expm1(dist.clamp(min=1e-4)))
    dist = np.concatenate([points - boxes[..., :2], boxes[..., 2:] - points], -1) / strides[:, None]
    return np.log(np.expm1(np.maximum(dist, 1e-4)))


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of (N, 4) xyxy boxes in square pixels (empty or inverted boxes: 0), in the boxes' float precision."""
    boxes = np.asarray(boxes)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU matrix (N, M) between xyxy boxes a (N, 4) and b (M, 4); for a crowd/ignore box of b the overlap is
    inter / area(a box).

    Computed in the inputs' common float precision (at least float32; float64 where either is float64 or an
    integer array): NMS runs in float32 like torchvision's, evaluation passes float64 like pycocotools. The crowd
    rule is pycocotools' `iscrowd` (maskApi bbIou) and the CityPersons ignore rule: a box lying inside a crowd
    region overlaps it fully whatever the region's size.
    """
    dtype = np.result_type(np.asarray(a).dtype, np.asarray(b).dtype, np.float32)
    a = np.asarray(a, dtype).reshape(-1, 4)
    b = np.asarray(b, dtype).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = box_area(a)[:, None]
    union = area_a + box_area(b)[None, :] - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool).reshape(1, -1), area_a, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0).astype(dtype, copy=False)


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
    b = np.asarray(boxes)[order]
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
