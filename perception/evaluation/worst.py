"""Keeps thumbnails of the K images with the lowest per-image score, drawn with predictions over GT.

Only an image that enters the worst K is drawn, so the cost stays small on a long split. Colours and primitives
are perception.drawing's (the one palette).
"""

from __future__ import annotations

import heapq
import itertools

import cv2
import numpy as np

from perception.drawing import (CAPTION_COLOR, GROUND_TRUTH_COLOR, PREDICTION_COLOR, draw_boxes, draw_drivable,
                                draw_label, draw_polyline)
from perception.structures import Detections, FrameResult, Sample
from perception.thresholds import DISPLAY_CONF


def render_thumbnail(sample: Sample, pred: FrameResult, width: int, conf: float, caption: str) -> np.ndarray:
    """RGB uint8 thumbnail `width` px wide: labels in GROUND_TRUTH_COLOR, predictions (score >= conf) in
    PREDICTION_COLOR, the predicted drivable area tinted as everywhere else."""
    scale = width / sample.width
    height = max(1, int(round(sample.height * scale)))
    image = cv2.resize(sample.image, (width, height), interpolation=cv2.INTER_AREA)
    if pred.drivable is not None:
        draw_drivable(image, cv2.resize(pred.drivable, (width, height), interpolation=cv2.INTER_NEAREST))
    for lane in sample.lanes:
        draw_polyline(image, lane * scale, GROUND_TRUTH_COLOR, 2)
    for lane in pred.lanes:
        draw_polyline(image, lane.points * scale, PREDICTION_COLOR, 1)
    draw_boxes(image, sample.boxes * scale, sample.classes, 2, color=GROUND_TRUTH_COLOR, labels=False)
    shown = Detections.cat([pred.objects, pred.pedestrians])
    shown = shown[shown.scores >= conf]
    draw_boxes(image, shown.boxes * scale, shown.classes, 1, color=PREDICTION_COLOR, labels=False)
    draw_label(image, caption[:80], (0, 0), CAPTION_COLOR, 1)
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
