"""Everything the package draws uses this module: one palette and the primitives that annotate an image.

The video tool (`video/drawing.draw_frame`), `perception data show` (`data/visualize.draw_labels`) and eval's
worst-images grid (`evaluation/worst.render_thumbnail`) all colour a class, a drivable area, a lane slot, a
marking and a crossing alike (the ultralytics `Colors`/`Annotator` idea). Colours are RGB and every function
draws in place on an RGB uint8 (H, W, 3) image, the package convention; a caller that hands frames to
OpenCV's writer converts once at the end. Coordinates are pixels of that image. numpy + OpenCV only (the
torch-free runtime draws with it).

A lane with predicted attributes is drawn in its paint colour (white, yellow, grey for other paint and kerbs),
dashed when dashed, as two parallel lines when double; without attributes, in its slot's colour.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.classes import BDD100K_CLASSES

# --- the palette (RGB) ---------------------------------------------------------------------------------------
# One per global class (perception.classes.BDD100K_CLASSES order): Cityscapes' colours where the class exists.
CLASS_COLORS = (
    (220, 20, 60),  # pedestrian
    (255, 0, 0),  # rider
    (0, 0, 142),  # car
    (0, 0, 70),  # truck
    (0, 60, 100),  # bus
    (0, 80, 100),  # train
    (0, 0, 230),  # motorcycle
    (119, 11, 32),  # bicycle
    (250, 170, 30),  # traffic light
    (220, 220, 0),  # traffic sign
)
# Drivable area by class (perception.classes.DRIVABLE_CLASSES): direct green, alternative blue; background
# is left as it is. Blended over the image at DRIVABLE_ALPHA.
DRIVABLE_COLORS = {0: (0, 200, 0), 1: (0, 120, 200)}
DRIVABLE_ALPHA = 0.4
# One distinct colour per lane slot 1..K (cycled past 8); a lane without a slot is white.
LANE_SLOT_COLORS = (
    (255, 255, 0),
    (255, 165, 0),
    (255, 0, 255),
    (0, 255, 255),
    (0, 255, 0),
    (128, 128, 255),
    (255, 0, 128),
    (255, 128, 0),
)
UNSLOTTED_LANE_COLOR = (255, 255, 255)
# Lane markings by paint colour (perception.markings.LANE_COLORS), and kerbs.
PAINT_COLORS = {"white": (255, 255, 255), "yellow": (255, 210, 0), "other": (170, 170, 170)}
CURB_COLOR = (120, 120, 120)
CROSSING_COLORS = {"crosswalk": (255, 0, 255), "stop line": (255, 0, 0)}
# Where labels and predictions are drawn over each other (eval's worst images): labels green, predictions red.
GROUND_TRUTH_COLOR = (0, 200, 0)
PREDICTION_COLOR = (230, 40, 40)
IGNORE_COLOR = (128, 128, 128)  # ignore regions (crowds, unlabelled classes) in `data show`
TEXT_COLOR = (255, 255, 255)  # label text, on a box of the thing's colour
CAPTION_COLOR = (0, 0, 0)  # box behind captions and the FPS counter

DASH_PX, GAP_PX = 14.0, 10.0  # at a 360-px frame height; scaled with the line thickness

_DRIVABLE_LUT = np.zeros((256, 1, 3), np.uint8)
for _cls, _color in DRIVABLE_COLORS.items():
    _DRIVABLE_LUT[_cls, 0] = _color


def class_color(cls: int) -> tuple[int, int, int]:
    return CLASS_COLORS[int(cls) % len(CLASS_COLORS)]


def lane_color(slot: int) -> tuple[int, int, int]:
    """The colour of lane slot `slot` (1..K); slot < 1 (no slot) is white."""
    return UNSLOTTED_LANE_COLOR if slot < 1 else LANE_SLOT_COLORS[(slot - 1) % len(LANE_SLOT_COLORS)]


def line_thickness(height: int, width: int) -> int:
    """Stroke width in pixels for an image of this size: 1 at 360 px, growing with the shorter side."""
    return max(1, round(min(height, width) / 360))


# --- primitives (in place, RGB uint8) ------------------------------------------------------------------------
def draw_drivable(canvas: np.ndarray, drivable: np.ndarray, alpha: float = DRIVABLE_ALPHA) -> None:
    """Tint the direct (0) and alternative (1) areas of `drivable` (H, W) uint8; other values are untouched."""
    # OpenCV LUT/blend/masked copy: numpy boolean indexing on a full HD frame costs ~10x more per frame.
    overlay = cv2.LUT(cv2.merge([drivable, drivable, drivable]), _DRIVABLE_LUT)
    blended = cv2.addWeighted(canvas, 1 - alpha, overlay, alpha, 0)
    cv2.copyTo(blended, cv2.compare(drivable, 1, cv2.CMP_LE), canvas)


def draw_polyline(canvas: np.ndarray, points: np.ndarray, color: tuple[int, int, int], thickness: int,
                  closed: bool = False) -> None:
    """points (P, 2) xy; fewer than two points draw nothing."""
    points = np.round(np.asarray(points, np.float32)).astype(np.int32).reshape(-1, 1, 2)
    if len(points) >= 2:
        cv2.polylines(canvas, [points], closed, color, thickness, cv2.LINE_AA)


def draw_lane(canvas: np.ndarray, lane, thickness: int) -> None:
    """A `structures.Lane`: in its paint colour when it has attributes (`style` set), else its slot's colour."""
    if lane.style is None:
        draw_polyline(canvas, lane.points, lane_color(lane.slot), thickness + 2)
        return
    points = np.asarray(lane.points, np.float32).reshape(-1, 2)
    if len(points) < 2:
        return
    color = CURB_COLOR if lane.type == "curb" else PAINT_COLORS.get(lane.color or "white", UNSLOTTED_LANE_COLOR)
    width = thickness + 1
    offsets = [-1.5 * width, 1.5 * width] if lane.type == "double" else [0.0]
    for offset in offsets:
        line = points + _normals(points) * offset if offset else points
        pieces = _dashes(line, DASH_PX * thickness, GAP_PX * thickness) if lane.style == "dashed" else [line]
        for piece in pieces:
            draw_polyline(canvas, piece, color, width)


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


def draw_crossing(canvas: np.ndarray, crossing, thickness: int) -> None:
    """A `structures.Crossing`: its polygon outlined in its category's colour, labelled."""
    color = CROSSING_COLORS.get(crossing.category, CROSSING_COLORS["stop line"])
    polygon = np.asarray(crossing.polygon, np.float32).reshape(-1, 2)
    if len(polygon) < 2:
        return
    draw_polyline(canvas, polygon, color, thickness + 1, closed=True)
    x, y = np.round(polygon).astype(np.int32).min(0)
    draw_label(canvas, crossing.category, (int(x), int(y)), color, thickness, above=True)


def draw_boxes(canvas: np.ndarray, boxes: np.ndarray, classes: np.ndarray, thickness: int,
               scores: np.ndarray | None = None, track_ids: np.ndarray | None = None,
               color: tuple[int, int, int] | None = None, labels: bool = True) -> None:
    """boxes (N, 4) xyxy in their class's colour (or `color`), labelled "name score #track" unless `labels`
    is False; track ids < 0 are not shown."""
    for k, (box, cls) in enumerate(zip(np.asarray(boxes).reshape(-1, 4), classes)):
        box_color = color or class_color(cls)
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), box_color, thickness, cv2.LINE_AA)
        if not labels:
            continue
        text = BDD100K_CLASSES[int(cls)] if 0 <= int(cls) < len(BDD100K_CLASSES) else str(int(cls))
        if scores is not None:
            text += f" {float(scores[k]):.2f}"
        if track_ids is not None and track_ids[k] >= 0:
            text += f" #{int(track_ids[k])}"
        draw_label(canvas, text, (x1, max(0, y1 - 1)), box_color, thickness, above=True)


def draw_label(canvas: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int], thickness: int,
               above: bool = False, scale_boost: float = 1.0) -> None:
    """`text` in TEXT_COLOR on a filled box of `color`; `above` puts the box's bottom edge at origin."""
    scale = 0.4 * thickness * scale_boost
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    top = max(0, y - th - base - 2 if above else y)
    cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), color, -1)
    cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, 1, cv2.LINE_AA)
