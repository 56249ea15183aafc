"""Drawing one `FrameResult` on its frame: drivable overlay, lane polylines, crossings, boxes with labels, FPS.

A lane with predicted attributes is drawn in its paint colour (white, yellow, grey for other paint and
kerbs), dashed when dashed, as two parallel lines when double; without attributes, in its slot's colour.
Crossings are outlined: crosswalks magenta, stop lines red, each labelled.

Input RGB uint8 (the package convention), output BGR uint8 ready for OpenCV's writer. numpy + OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.classes import BDD100K_CLASSES, CLASS_COLORS_BGR
from perception.structures import Detections, FrameResult

# BGR. Direct drivable area green, alternative blue, blended at DRIVABLE_ALPHA.
DRIVABLE_COLORS_BGR = {0: (0, 200, 0), 1: (200, 120, 0)}
DRIVABLE_ALPHA = 0.4
# One distinct colour per lane slot (slot 1..K); slot -1 (unassigned) is white.
LANE_COLORS_BGR = (
    (0, 255, 255),
    (0, 165, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 255, 0),
    (255, 128, 128),
    (128, 0, 255),
    (0, 128, 255),
)
UNSLOTTED_LANE_BGR = (255, 255, 255)
PAINT_COLORS_BGR = {"white": (255, 255, 255), "yellow": (0, 210, 255), "other": (170, 170, 170)}
CURB_BGR = (120, 120, 120)
CROSSING_COLORS_BGR = {"crosswalk": (255, 0, 255), "stop line": (0, 0, 255)}
DASH_PX, GAP_PX = 14.0, 10.0  # at a 360-px frame height; scaled with the line thickness


_DRIVABLE_LUT = np.zeros((256, 1, 3), np.uint8)
for _cls, _color in DRIVABLE_COLORS_BGR.items():
    _DRIVABLE_LUT[_cls, 0] = _color


def lane_color(slot: int) -> tuple[int, int, int]:
    return UNSLOTTED_LANE_BGR if slot < 1 else LANE_COLORS_BGR[(slot - 1) % len(LANE_COLORS_BGR)]


def draw_frame(image_rgb: np.ndarray, result: FrameResult, fps: float | None = None) -> np.ndarray:
    """Annotate a copy of `image_rgb` (H, W, 3) uint8 RGB with `result` (original-image pixels).
    Returns (H, W, 3) uint8 BGR."""
    canvas = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    h, w = canvas.shape[:2]
    thickness = max(1, round(min(h, w) / 360))
    if result.drivable is not None and result.drivable.shape[:2] == (h, w):
        _draw_drivable(canvas, result.drivable)
    for crossing in result.crossings:
        _draw_crossing(canvas, crossing, thickness)
    for lane in result.lanes:
        if lane.style is None:
            points = np.round(np.asarray(lane.points, np.float32)).astype(np.int32).reshape(-1, 1, 2)
            if len(points) >= 2:
                cv2.polylines(canvas, [points], False, lane_color(lane.slot), thickness + 2, cv2.LINE_AA)
        else:
            _draw_marked_lane(canvas, lane, thickness)
    _draw_boxes(canvas, result.objects, thickness)
    _draw_boxes(canvas, result.pedestrians, thickness)
    if fps is not None:
        _label(canvas, f"{fps:.1f} FPS", (8, 8), (0, 0, 0), thickness, scale_boost=1.4)
    return canvas


def _draw_marked_lane(canvas: np.ndarray, lane, thickness: int) -> None:
    """A lane in its paint colour, dashed if dashed, doubled if double (attributes of perception.lane_attributes)."""
    points = np.asarray(lane.points, np.float32).reshape(-1, 2)
    if len(points) < 2:
        return
    color = CURB_BGR if lane.type == "curb" else PAINT_COLORS_BGR.get(lane.color or "white", UNSLOTTED_LANE_BGR)
    width = thickness + 1
    offsets = [0.0]
    if lane.type == "double":
        offsets = [-1.5 * width, 1.5 * width]
    for offset in offsets:
        line = points + _normals(points) * offset if offset else points
        pieces = _dashes(line, DASH_PX * thickness, GAP_PX * thickness) if lane.style == "dashed" else [line]
        cv2.polylines(canvas, [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in pieces if len(p) >= 2], False,
                      color, width, cv2.LINE_AA)


def _normals(points: np.ndarray) -> np.ndarray:
    """Unit normals (N, 2) of a polyline at its points."""
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-6)
    return np.stack([-tangent[:, 1], tangent[:, 0]], 1)


def _dashes(points: np.ndarray, dash: float, gap: float) -> list[np.ndarray]:
    """The polyline cut into pieces `dash` px long separated by `gap` px (arc length)."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    pieces = []
    start = 0.0
    while start < arc[-1]:
        end = min(start + dash, arc[-1])
        s = np.linspace(start, end, max(2, int((end - start) / 4) + 2))
        pieces.append(np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], 1))
        start = end + gap
    return pieces


def _draw_crossing(canvas: np.ndarray, crossing, thickness: int) -> None:
    color = CROSSING_COLORS_BGR.get(crossing.category, (0, 0, 255))
    polygon = np.round(np.asarray(crossing.polygon, np.float32)).astype(np.int32).reshape(-1, 1, 2)
    if len(polygon) < 2:
        return
    cv2.polylines(canvas, [polygon], True, color, thickness + 1, cv2.LINE_AA)
    x, y = polygon.reshape(-1, 2).min(0)
    _label(canvas, crossing.category, (int(x), int(y)), color, thickness, above=True)


def _draw_drivable(canvas: np.ndarray, drivable: np.ndarray) -> None:
    # OpenCV LUT/blend/masked copy: numpy boolean indexing on a full HD frame costs ~10x more per frame.
    overlay = cv2.LUT(cv2.merge([drivable, drivable, drivable]), _DRIVABLE_LUT)
    blended = cv2.addWeighted(canvas, 1 - DRIVABLE_ALPHA, overlay, DRIVABLE_ALPHA, 0)
    cv2.copyTo(blended, cv2.compare(drivable, 1, cv2.CMP_LE), canvas)


def _draw_boxes(canvas: np.ndarray, dets: Detections, thickness: int) -> None:
    for box, score, cls, tid in zip(dets.boxes, dets.scores, dets.classes, dets.track_ids):
        color = CLASS_COLORS_BGR[int(cls) % len(CLASS_COLORS_BGR)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        name = BDD100K_CLASSES[int(cls)] if 0 <= int(cls) < len(BDD100K_CLASSES) else str(int(cls))
        text = f"{name} {score:.2f}" + (f" #{int(tid)}" if tid >= 0 else "")
        _label(canvas, text, (x1, max(0, y1 - 1)), color, thickness, above=True)


def _label(
    canvas: np.ndarray,
    text: str,
    origin: tuple[int, int],
    color: tuple[int, int, int],
    thickness: int,
    above: bool = False,
    scale_boost: float = 1.0,
) -> None:
    """Text on a filled box of `color`, in white; `above` puts the box's bottom edge at origin."""
    scale = 0.4 * thickness * scale_boost
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    top = y - th - base - 2 if above else y
    top = max(0, top)
    cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), color, -1)
    cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
