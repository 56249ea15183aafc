"""Lane logits -> one polyline per lane slot, and the binary lane mask."""

from __future__ import annotations

import numpy as np

# Rows sampled when reading a slot's centre line: every 2nd input row is plenty for lines >= 4 px wide.
ROW_STEP = 2
# Output polylines are resampled every this many input pixels of height.
POINT_SPACING = 8
POLY_DEGREE = 2


def softmax(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def channel_argmax(logits: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) uint8 index of the largest channel (first one on ties, like np.argmax).

    np.argmax over axis 0 walks the array with a stride of H*W and was 5-10x slower than these C
    contiguous passes for the few channels of the drivable and lane maps."""
    best = np.zeros(logits.shape[1:], np.uint8)
    best_value = logits[0].copy()
    for channel in range(1, logits.shape[0]):
        better = logits[channel] > best_value
        best[better] = channel
        np.maximum(best_value, logits[channel], out=best_value)
    return best


def decode_lanes(
    lane_logits: np.ndarray, threshold: float = 0.5, min_rows: int = 6, with_mask: bool = True
) -> tuple[list[tuple[np.ndarray, float, int]], np.ndarray | None]:
    """Decode one image's lane logits (2 + K, H, W) in input pixels.

    Returns ([(points (P, 2) xy bottom-to-top, score, slot)], lane_mask (H, W) uint8, or None without
    `with_mask`): `lane_polylines` of every ROW_STEP-th row and the `lane_foreground` mask.
    """
    lane_mask = lane_foreground(lane_logits) if with_mask else None
    return lane_polylines(lane_logits[:, ::ROW_STEP], threshold, min_rows), lane_mask


def lane_foreground(lane_logits: np.ndarray) -> np.ndarray:
    """(2 + K, H, W) logits -> (H, W) uint8 {0, 1}: the most likely class is a lane (not background)."""
    # argmax != background, without a strided argmax over channels (the slowest step at video rates).
    return (lane_logits[1:].max(0) > lane_logits[0]).view(np.uint8)


def lane_polylines(row_logits: np.ndarray, threshold: float = 0.5, min_rows: int = 6) -> list[tuple[np.ndarray, float, int]]:
    """Lane logits of every ROW_STEP-th input row (2 + K, ceil(H / ROW_STEP), W) -> [(points, score, slot)].

    A slot becomes a lane when at least `min_rows` sampled rows hold pixels whose slot probability exceeds
    `threshold`; its centre per row is the probability-weighted mean column, smoothed by a quadratic fit
    x = f(y). Taking the rows first lets a device send only them (TorchPredictor's decode outputs).
    """
    probs = softmax(row_logits.astype(np.float32), axis=0)
    num_slots = row_logits.shape[0] - 2
    _, rows, width = probs.shape
    columns = np.arange(width, dtype=np.float32)
    row_y = np.arange(rows, dtype=np.float32) * ROW_STEP
    lanes = []
    for slot in range(1, num_slots + 1):
        weights = np.where(probs[slot] > threshold, probs[slot], 0.0)
        row_mass = weights.sum(1)
        valid = row_mass > 0
        if valid.sum() < min_rows:
            continue
        ys = row_y[valid]
        xs = (weights[valid] @ columns) / row_mass[valid]
        score = float(weights[valid].sum() / max(np.count_nonzero(weights[valid]), 1))
        lanes.append((_smooth_polyline(xs, ys, row_mass[valid]), score, slot))
    return lanes


def _smooth_polyline(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fit x = f(y) (a lane is a function of image row) and resample it bottom to top."""
    degree = min(POLY_DEGREE, len(np.unique(ys)) - 1)
    coeffs = np.polyfit(ys, xs, degree, w=np.sqrt(weights))
    y_bottom, y_top = float(ys.max()), float(ys.min())
    count = max(2, int(round((y_bottom - y_top) / POINT_SPACING)) + 1)
    sample_y = np.linspace(y_bottom, y_top, count, dtype=np.float32)
    return np.stack([np.polyval(coeffs, sample_y).astype(np.float32), sample_y], 1)
