"""Lane-marking outputs -> attributes of each decoded lane, and crossing markings as polygons (numpy + OpenCV).

`lane_attr` (8, h, w) and `crossing` (3, h, w) are the stride-4 logits of
perception.models.marking_head.LaneMarkingHead (docs/architecture.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.markings import ATTRIBUTE_GROUPS, CROSSING_CLASSES, MARKING_STRIDE
from perception.postprocess.lanes import softmax

# A crossing region needs this many stride-4 cells (a 12 x 12 input-pixel patch at the least).
MIN_CROSSING_CELLS = 9


def decode_lane_marking(points: np.ndarray, attr_logits: np.ndarray, stride: int = MARKING_STRIDE) -> dict[str, tuple[str, float]]:
    """{attribute: (value, confidence)} of one lane: points (P, 2) xy in input pixels; attr_logits (8, h, w).

    Each group's softmax is averaged over the cells the polyline passes through; the value is the
    average's argmax and the confidence its probability."""
    _, h, w = attr_logits.shape
    cols = np.clip((points[:, 0] / stride).astype(np.int64), 0, w - 1)
    rows = np.clip((points[:, 1] / stride).astype(np.int64), 0, h - 1)
    sampled = attr_logits[:, rows, cols].astype(np.float32)  # (8, P)
    out = {}
    start = 0
    for name, values in ATTRIBUTE_GROUPS:
        probs = softmax(sampled[start : start + len(values)].copy(), axis=0).mean(1)
        best = int(probs.argmax())
        out[name] = (values[best], float(probs[best]))
        start += len(values)
    return out


def decode_crossings(crossing_logits: np.ndarray, threshold: float = 0.5, stride: int = MARKING_STRIDE,
                     min_cells: int = MIN_CROSSING_CELLS) -> list[tuple[np.ndarray, str, float]]:
    """crossing_logits (3, h, w) -> [(polygon (4, 2) xy input pixels, class name, score)].

    Each connected region of cells whose class probability exceeds `threshold` becomes the smallest rotated
    rectangle around it (a crosswalk band or a stop-line bar); the score is the region's mean probability."""
    probs = softmax(crossing_logits.astype(np.float32).copy(), axis=0)
    out = []
    for c, name in enumerate(CROSSING_CLASSES, start=1):
        region = (probs[c] > threshold).astype(np.uint8)
        if not region.any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
        for k in range(1, count):
            if stats[k, cv2.CC_STAT_AREA] < min_cells:
                continue
            ys, xs = np.nonzero(labels == k)
            centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], 1).astype(np.float32)
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(centres)
            polygon = cv2.boxPoints(((cx, cy), (rw + stride, rh + stride), angle)).astype(np.float32)
            out.append((polygon, name, float(probs[c][ys, xs].mean())))
    return out


def crossing_mask(crossing_logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 {0, 1}: cells whose most likely class is a crossing, upsampled (nearest) to `size`."""
    cells = (crossing_logits[1:].max(0) > crossing_logits[0]).astype(np.uint8)
    return cv2.resize(cells, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
