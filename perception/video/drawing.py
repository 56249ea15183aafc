"""Drawing one `FrameResult` on its frame for the video tool: drivable overlay, lanes, crossings, boxes with
labels, FPS. Colours and primitives are perception.drawing's (the one palette).

Input RGB uint8 (the package convention), output BGR uint8 ready for OpenCV's writer. numpy + OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.drawing import (CAPTION_COLOR, draw_boxes, draw_crossing, draw_drivable, draw_label, draw_lane,
                                line_thickness)
from perception.structures import FrameResult


def draw_frame(image_rgb: np.ndarray, result: FrameResult, fps: float | None = None) -> np.ndarray:
    """Annotate a copy of `image_rgb` (H, W, 3) uint8 RGB with `result` (original-image pixels).
    Returns (H, W, 3) uint8 BGR."""
    canvas = image_rgb.copy()
    h, w = canvas.shape[:2]
    thickness = line_thickness(h, w)
    if result.drivable is not None and result.drivable.shape[:2] == (h, w):
        draw_drivable(canvas, result.drivable)
    for crossing in result.crossings:
        draw_crossing(canvas, crossing, thickness)
    for lane in result.lanes:
        draw_lane(canvas, lane, thickness)
    for dets in (result.objects, result.pedestrians):
        draw_boxes(canvas, dets.boxes, dets.classes, thickness, scores=dets.scores, track_ids=dets.track_ids)
    if fps is not None:
        draw_label(canvas, f"{fps:.1f} FPS", (8, 8), CAPTION_COLOR, thickness, scale_boost=1.4)
    return cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)
