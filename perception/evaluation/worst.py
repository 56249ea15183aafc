"""Keeps thumbnails of the K images with the lowest per-image score, drawn with predictions over GT.

Only an image that enters the worst K is drawn, so the cost stays small on a long split.
"""

from __future__ import annotations

import heapq
import itertools

import cv2
import numpy as np

from perception.structures import FrameResult, Sample
from perception.thresholds import DISPLAY_CONF

GT_COLOR = (0, 200, 0)  # RGB
PRED_COLOR = (230, 40, 40)
DRIVABLE_TINT = {0: (255, 0, 255), 1: (0, 160, 255)}


def render_thumbnail(sample: Sample, pred: FrameResult, width: int, conf: float, caption: str) -> np.ndarray:
    """RGB uint8 thumbnail `width` px wide: gt in green, predictions (score >= conf) in red."""
    scale = width / sample.width
    height = max(1, int(round(sample.height * scale)))
    image = cv2.resize(sample.image, (width, height), interpolation=cv2.INTER_AREA)
    if pred.drivable is not None:
        small = cv2.resize(pred.drivable, (width, height), interpolation=cv2.INTER_NEAREST)
        for cls, tint in DRIVABLE_TINT.items():
            region = small == cls
            image[region] = (0.6 * image[region] + 0.4 * np.array(tint)).astype(np.uint8)
    for lane in sample.lanes:
        cv2.polylines(image, [np.round(lane * scale).astype(np.int32)], False, GT_COLOR, 2)
    for lane in pred.lanes:
        cv2.polylines(image, [np.round(lane.points * scale).astype(np.int32)], False, PRED_COLOR, 1)
    for box in sample.boxes:
        x0, y0, x1, y1 = np.round(box * scale).astype(int)
        cv2.rectangle(image, (x0, y0), (x1, y1), GT_COLOR, 2)
    for dets in (pred.objects, pred.pedestrians):
        for box, score in zip(dets.boxes, dets.scores):
            if score >= conf:
                x0, y0, x1, y1 = np.round(box * scale).astype(int)
                cv2.rectangle(image, (x0, y0), (x1, y1), PRED_COLOR, 1)
    cv2.rectangle(image, (0, 0), (width, 16), (0, 0, 0), -1)
    cv2.putText(image, caption[:80], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return image


class WorstImages:
    """The K lowest-scoring images seen so far, as (score, path, thumbnail)."""

    def __init__(self, k: int = 12, width: int = 480, conf: float = DISPLAY_CONF):
        self.k, self.width, self.conf = int(k), int(width), float(conf)
        self._heap: list[tuple[float, int, str, np.ndarray]] = []  # max-heap on score via negation
        self._counter = itertools.count()

    def offer(self, score: float, sample: Sample, pred: FrameResult) -> None:
        if self.k <= 0 or not np.isfinite(score):
            return
        if len(self._heap) >= self.k and -self._heap[0][0] <= score:
            return
        thumb = render_thumbnail(sample, pred, self.width, self.conf, f"{score:.3f} {sample.path}")
        item = (-score, next(self._counter), sample.path, thumb)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)

    def items(self) -> list[tuple[float, str, np.ndarray]]:
        """Worst first."""
        return [(-s, path, thumb) for s, _, path, thumb in sorted(self._heap, key=lambda t: (-t[0], t[1]))]

    def grid(self, columns: int = 3) -> np.ndarray | None:
        """All thumbnails tiled worst-first, RGB uint8, or None when nothing was kept."""
        items = self.items()
        if not items:
            return None
        height = max(t.shape[0] for _, _, t in items)
        rows = []
        for start in range(0, len(items), columns):
            tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for _, _, t in items[start : start + columns]]
            tiles += [np.zeros_like(tiles[0])] * (columns - len(tiles))
            rows.append(np.concatenate(tiles, axis=1))
        return np.concatenate(rows, axis=0)
