"""Training targets from labels: lane slots and their raster, drivable maps with an ignore value.

Lane slots follow docs/architecture.md: K slots, K/2 left of the image centre and K/2 right, nearest
first, chosen by where each along-the-road lane crosses the bottom row (extrapolated); lanes beyond the
slots get K+1. Crossing markings (crosswalks, stop lines: laneDirection == 'vertical') are no lanes: they
are the `crossing` target of `marking_targets`, with the lanes' style/colour/type at the same stride.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from perception.classes import IGNORE_INDEX
from perception.markings import (
    ATTRIBUTE_GROUPS, CROSSING_CLASSES, attribute_indices, bdd_mask_attributes, has_marking_labels, is_crossing,
)

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


def rasterize_lane_slots(lanes: Sequence[np.ndarray], slots: Sequence[int], size: tuple[int, int], thickness: int | None = None) -> np.ndarray:
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
    """(H, W) uint8 lane target and whether slot channels are supervised (polylines were available).

    Polylines -> slots 1..K / K+1; a mask-only source -> K+1 on lane pixels (the loss uses only the binary
    lane-vs-background term for those, `lane_instances=False`); unlabelled -> all 255.
    """
    h, w = size
    if not labelled:
        return np.full((h, w), IGNORE_INDEX, np.uint8), False
    if lanes and attrs:
        keep = [i for i in range(len(lanes)) if i >= len(attrs) or is_crossing(attrs[i]) is None]
        lanes, attrs = [lanes[i] for i in keep], [attrs[i] for i in keep if i < len(attrs)]
        if not lanes:
            return np.zeros((h, w), np.uint8), True
    if lanes:
        slots = assign_lane_slots(lanes, attrs, w, h, num_slots)
        return rasterize_lane_slots(lanes, slots, size, thickness), True
    if lane_mask is not None:
        return np.where(lane_mask > 0, num_slots + 1, 0).astype(np.uint8), False
    return np.zeros((h, w), np.uint8), True  # labelled, and the image has no lanes


def _mask_lookup_tables() -> np.ndarray:
    """(4, 256) uint8: style, colour, type and crossing class (0 none, 1.. CROSSING_CLASSES) per lane-mask byte."""
    tables = np.full((4, 256), IGNORE_INDEX, np.uint8)
    tables[3] = 0
    for byte in range(256):
        if byte & 8:
            continue  # the background flag: no marking
        attrs = bdd_mask_attributes(byte)
        crossing = is_crossing(attrs)
        if crossing is not None:
            tables[3, byte] = CROSSING_CLASSES.index(crossing) + 1
        else:
            tables[:3, byte] = attribute_indices(attrs)
    return tables


MASK_TABLES = _mask_lookup_tables()


def crossing_pixels(lane_bits: np.ndarray) -> np.ndarray:
    """bool (H, W): the crossing markings (crosswalks, stop lines) of a BDD100K lane byte mask."""
    return MASK_TABLES[3][np.asarray(lane_bits, np.uint8)] > 0


def marking_targets(
    lanes: Sequence[np.ndarray],
    attrs: Sequence[dict[str, Any]] | None,
    lane_bits: np.ndarray | None,
    labelled: bool,
    size: tuple[int, int],
    stride: int = 4,
    thickness: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets of the lane-attribute head at 1/stride of the input `size` (H, W).

    Returns attr uint8 (3, H/s, W/s): style, colour, type index on lane pixels (ATTRIBUTE_GROUPS), 255
    elsewhere and where the label does not say; crossing uint8 (H/s, W/s): 0 none, 1 crosswalk, 2 stop
    line, all 255 when the source does not label crossings (CULane, TuSimple, YOLOP's binary masks).
    Polylines win over `lane_bits` (a BDD100K lane byte mask of the input, 255 background).
    """
    h, w = size[0] // stride, size[1] // stride
    attr = np.full((len(ATTRIBUTE_GROUPS), h, w), IGNORE_INDEX, np.uint8)
    crossing = np.full((h, w), IGNORE_INDEX, np.uint8)
    if not labelled:
        return attr, crossing
    attrs = list(attrs or [])
    if lanes:
        # Lanes without BDD100K marking labels (CULane, TuSimple): attributes stay ignored, crossings unlabelled.
        crossings_labelled = has_marking_labels(attrs[: len(lanes)]) and len(attrs) >= len(lanes)
        attrs = attrs + [{} for _ in range(len(lanes) - len(attrs))]
        if crossings_labelled:
            crossing[:] = 0
        line = max(1, int(round((thickness or default_lane_thickness(size[1])) / stride)))
        for points, a in zip(lanes, attrs):
            pts = np.asarray(points, np.float64).reshape(-1, 2)
            if len(pts) < 2:
                continue
            fixed = np.round((np.clip(pts / stride, -4 * w, 5 * w) - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
            kind = is_crossing(a)
            if kind is not None:
                if not crossings_labelled:
                    continue
                value = CROSSING_CLASSES.index(kind) + 1
                if a.get("closed") and len(pts) >= 3:
                    cv2.fillPoly(crossing, [fixed], value, cv2.LINE_8, 4)
                else:
                    cv2.polylines(crossing, [fixed], False, value, line, cv2.LINE_8, 4)
                continue
            for g, index in enumerate(attribute_indices(a)):
                if index != IGNORE_INDEX:
                    plane = np.ascontiguousarray(attr[g])
                    cv2.polylines(plane, [fixed], False, int(index), line, cv2.LINE_8, 4)
                    attr[g] = plane
    elif lane_bits is not None:
        bits = np.asarray(lane_bits, np.uint8)[: h * stride, : w * stride]
        # min over each stride x stride block: any marking byte (<= 63) wins over background (255).
        cells = bits.reshape(h, stride, w, stride).min(axis=(1, 3))
        attr = MASK_TABLES[:3][:, cells]
        crossing = MASK_TABLES[3][cells]
    return attr, crossing


def drivable_target(drivable: np.ndarray | None, labelled: bool, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: 0 direct, 1 alternative, 2 background, 255 ignore (padding, or not labelled)."""
    if not labelled or drivable is None:
        return np.full(size, IGNORE_INDEX, np.uint8)
    return np.ascontiguousarray(drivable, np.uint8)
