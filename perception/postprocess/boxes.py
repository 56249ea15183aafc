"""Anchor points and box coding for the anchor-free heads (numpy or torch, same formula)."""

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


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of xyxy boxes (no +1 pixel convention, as COCO)."""
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
