"""Drawing labelled (augmented) samples and tiling them into a grid, for `perception data show`."""

from __future__ import annotations

import math

import cv2
import numpy as np

from perception.atomic import write_bytes_atomic
from perception.classes import BDD100K_CLASSES, CLASS_COLORS_BGR
from perception.errors import InputError

# RGB colour per lane-target value: 0 unused, 1..K slots, K+1 slot-less lane (white).
SLOT_COLORS_RGB = ((0, 0, 0), (255, 64, 64), (255, 160, 0), (255, 255, 0), (0, 255, 128), (0, 200, 255),
                   (96, 96, 255), (255, 0, 255), (160, 255, 160), (255, 128, 200))
DRIVABLE_COLORS_RGB = {0: (86, 94, 219), 1: (219, 211, 86)}


def slot_color(value: int, num_slots: int) -> tuple[int, int, int]:
    if value == num_slots + 1:
        return (255, 255, 255)
    return SLOT_COLORS_RGB[1 + (value - 1) % (len(SLOT_COLORS_RGB) - 1)]


def draw_labels(image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, lane_target: np.ndarray | None = None,
                drivable: np.ndarray | None = None, num_slots: int = 6, ignore_boxes: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) with drivable overlay, lanes coloured by slot, boxes + class names; all in image pixels."""
    out = image.copy()
    if drivable is not None:
        for value, color in DRIVABLE_COLORS_RGB.items():
            region = drivable == value
            out[region] = (0.6 * out[region] + 0.4 * np.array(color)).astype(np.uint8)
    if lane_target is not None:
        for value in np.unique(lane_target):
            if 0 < value < 255:
                out[lane_target == value] = slot_color(int(value), num_slots)
    for box in (ignore_boxes if ignore_boxes is not None else np.zeros((0, 4))):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (128, 128, 128), 1)
    for box, cls in zip(boxes, classes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = tuple(int(c) for c in CLASS_COLORS_BGR[int(cls)][::-1])
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        cv2.putText(out, BDD100K_CLASSES[int(cls)], (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return out


def make_grid(images: list[np.ndarray], cols: int | None = None, gap: int = 4) -> np.ndarray:
    """Tile equally sized RGB images (H, W, 3) into one image, `cols` per row (about square by default)."""
    if not images:
        raise InputError("make_grid: no images to tile")
    h, w = images[0].shape[:2]
    cols = cols or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    grid = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 32, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return grid


def write_image_atomic(path, image_rgb: np.ndarray) -> None:
    """Write an RGB image (format from the suffix) via temp file + rename."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: cannot encode an image with suffix {path.suffix!r}")
    write_bytes_atomic(path, data.tobytes())
