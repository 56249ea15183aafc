"""Training targets from labels: lane slots and their raster, drivable maps with an ignore value.

Lane slots follow docs/architecture.md: K slots, K/2 left of the image centre and K/2 right, nearest
first, chosen by where each along-the-road lane crosses the bottom row (extrapolated); crossing lines
(laneDirection == 'vertical') and lanes beyond the slots get K+1.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from perception.classes import IGNORE_INDEX as IGNORE

REFERENCE_WIDTH = 640  # the lane thickness is specified at a 640-px-wide input


def default_lane_thickness(width: int, at_640: int = 8) -> int:
    """Line width in pixels for a target `width` px wide: `at_640` px at 640 px, scaled linearly."""
    return max(1, int(round(at_640 * width / REFERENCE_WIDTH)))


def bottom_x(points: np.ndarray, image_height: int) -> float:
    """x (pixels) where a polyline crosses y = image_height - 1, extrapolating its lowest part linearly."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 1:
        return float(pts[0, 0])
    order = np.argsort(pts[:, 1])[::-1]
    low = pts[order[: max(2, min(len(pts), 4))]]  # the few lowest points describe the lane near the car
    dy = low[:, 1].max() - low[:, 1].min()
    if dy < 1e-3:
        return float(low[:, 0].mean())
    slope, intercept = np.polyfit(low[:, 1], low[:, 0], 1)
    return float(slope * (image_height - 1) + intercept)


def assign_lane_slots(
    lanes: Sequence[np.ndarray],
    attrs: Sequence[dict[str, Any]] | None,
    image_width: int,
    image_height: int,
    num_slots: int,
    merge_fraction: float = 0.02,
) -> list[int]:
    """Slot per lane: 1..K by position (K/2 left of centre nearest first, then right), K+1 otherwise.

    Lanes whose bottom crossings lie within `merge_fraction * image_width` of each other on the same side
    share a slot: BDD100K often draws both edges of one painted marking, which is still one lane.
    """
    half = num_slots // 2
    other = num_slots + 1
    slots = [other] * len(lanes)
    attrs = list(attrs or [])
    centre = image_width / 2.0
    left, right = [], []
    for i, lane in enumerate(lanes):
        attr = attrs[i] if i < len(attrs) else {}
        if str(attr.get("direction", "parallel")) == "vertical" or len(lane) == 0:
            continue
        x = bottom_x(lane, image_height)
        (left if x < centre else right).append((x, i))
    merge = merge_fraction * image_width
    for side, ordered, first, step in (
        ("left", sorted(left, reverse=True), half, -1),
        ("right", sorted(right), half + 1, 1),
    ):
        slot, prev_x = first - step, None
        for x, i in ordered:
            if prev_x is None or abs(x - prev_x) > merge:
                slot += step
            prev_x = x
            inside = 1 <= slot <= half if side == "left" else half < slot <= num_slots
            slots[i] = slot if inside else other
    return slots


def rasterize_lanes(lanes: Sequence[np.ndarray], slots: Sequence[int], size: tuple[int, int], thickness: int | None = None) -> np.ndarray:
    """(H, W) uint8 map: 0 background, each lane drawn `thickness` px wide with its slot value.

    `size` is (H, W) of the canvas; points are pixels of that canvas (outside points are clipped by
    drawing). Slot-less lanes (K+1) are drawn first so slot pixels win where lines overlap.
    """
    h, w = size
    thickness = thickness or default_lane_thickness(w)
    canvas = np.zeros((h, w), np.uint8)
    order = sorted(range(len(lanes)), key=lambda i: -int(slots[i]))
    for i in order:
        pts = np.asarray(lanes[i], np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        # Label points use the pixel-corner convention of boxes (pixel j spans [j, j+1)); OpenCV puts pixel
        # centres at integers, hence -0.5, which also makes the raster of a flipped lane the exact mirror.
        # 4 fractional bits keep sub-pixel positions.
        fixed = np.round((np.clip(pts, -4 * w, 5 * w) - 0.5) * 16).astype(np.int32)
        cv2.polylines(canvas, [fixed], False, int(slots[i]), thickness=thickness, lineType=cv2.LINE_8, shift=4)
    return canvas


def lane_target(
    lanes: Sequence[np.ndarray],
    attrs: Sequence[dict[str, Any]] | None,
    lane_mask: np.ndarray | None,
    labelled: bool,
    size: tuple[int, int],
    num_slots: int,
    thickness: int | None = None,
) -> tuple[np.ndarray, bool]:
    """(H, W) int64 lane target and whether slot channels are supervised (polylines were available).

    Polylines -> slots 1..K / K+1; a mask-only source -> K+1 on lane pixels (the loss uses only the binary
    lane-vs-background term for those, `lane_instances=False`); unlabelled -> all 255.
    """
    h, w = size
    if not labelled:
        return np.full((h, w), IGNORE, np.int64), False
    if lanes:
        slots = assign_lane_slots(lanes, attrs, w, h, num_slots)
        return rasterize_lanes(lanes, slots, size, thickness).astype(np.int64), True
    if lane_mask is not None:
        return np.where(lane_mask > 0, num_slots + 1, 0).astype(np.int64), False
    return np.zeros((h, w), np.int64), True  # labelled, and the image has no lanes


def drivable_target(drivable: np.ndarray | None, labelled: bool, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int64: 0 direct, 1 alternative, 2 background, 255 ignore (padding, or not labelled)."""
    if not labelled or drivable is None:
        return np.full(size, IGNORE, np.int64)
    return drivable.astype(np.int64)
