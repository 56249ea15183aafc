"""Drawing labelled (augmented) samples and tiling them into a grid, for `perception data show`.

Colours and primitives are perception.drawing's (the one palette): a class, a drivable area and a lane slot look
the same here as in the video tool and eval's worst images.
"""

from __future__ import annotations

import math

import numpy as np

from perception.drawing import (IGNORE_COLOR, UNSLOTTED_LANE_COLOR, draw_boxes, draw_drivable, lane_color,
                                line_thickness)
from perception.errors import InputError


def draw_labels(image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, lane_target: np.ndarray | None = None,
                drivable: np.ndarray | None = None, num_slots: int = 6, ignore_boxes: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) with drivable overlay, lanes coloured by slot, boxes + class names; all in image pixels.

    lane_target: (H, W) values 0 (no lane), 1..num_slots (slot), num_slots + 1 (a lane without a slot), 255
    (no label); drivable: (H, W) perception.classes.DRIVABLE_CLASSES indices, 255 without a label."""
    out = image.copy()
    thickness = line_thickness(*out.shape[:2])
    if drivable is not None:
        draw_drivable(out, drivable)
    if lane_target is not None:
        for value in np.unique(lane_target):
            if 0 < value < 255:
                out[lane_target == value] = UNSLOTTED_LANE_COLOR if value == num_slots + 1 else lane_color(int(value))
    if ignore_boxes is not None:
        draw_boxes(out, ignore_boxes, np.zeros(len(ignore_boxes), np.int64), thickness, color=IGNORE_COLOR, labels=False)
    draw_boxes(out, boxes, classes, thickness)
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
