"""Drawing primitives that paint the frame and record which object owns each pixel.

Every object is a list of primitives in image pixels. `Canvas.draw` paints them with anti-aliasing and,
in the same pass, rasterises a crisp silhouette into a small mask cropped to the object, so the
labels (box, visible fraction) come from exactly the pixels that were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHIFT = 4  # sub-pixel bits for OpenCV drawing: coordinates are multiplied by 16
SCALE = 1 << SHIFT
OCCLUDER = np.iinfo(np.uint16).max  # id of pixels drawn by things that carry no label (poles, trees)
LIMIT = 1e6  # pixels; bounds far-off extents when cropping

# Parts of an object: LABELLED pixels count for its box and visibility; SUPPORT pixels (a sign's pole)
# occlude what is behind but are not part of the labelled object.
LABELLED, SUPPORT = 1, 2


@dataclass
class Poly:
    points: np.ndarray  # (N, 2) float pixels
    color: tuple
    part: int = LABELLED


@dataclass
class Polys:
    """Many polygons of one colour and size painted in one call: (M, N, 2) float pixels."""

    points: np.ndarray
    color: tuple
    part: int = LABELLED


@dataclass
class Circle:
    center: tuple[float, float]
    radius: float
    color: tuple
    part: int = LABELLED


@dataclass
class Line:
    points: np.ndarray  # (N, 2) float pixels, drawn as an open polyline
    thickness: float
    color: tuple
    part: int = LABELLED


@dataclass
class Ellipse:
    center: tuple[float, float]
    axes: tuple[float, float]
    color: tuple
    part: int = LABELLED


def _fixed(points: np.ndarray) -> np.ndarray:
    # No clamping: every drawn point is at least 0.8 m ahead (render.NEAREST), far inside int32 range.
    return np.rint(points * SCALE).astype(np.int32).reshape(-1, 1, 2)


def _extent(prim) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a primitive, pixels."""
    if isinstance(prim, (Poly, Polys, Line)):
        pts = prim.points.reshape(-1, 2)
        lo, hi = pts.min(0), pts.max(0)
        pad = prim.thickness / 2 + 1 if isinstance(prim, Line) else 0.0
        return (lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad)
    rx, ry = prim.axes if isinstance(prim, Ellipse) else (prim.radius, prim.radius)
    cx, cy = prim.center
    return (cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1)


class Canvas:
    """An RGB frame plus an instance-id map (0 = nothing, i+1 = object i, OCCLUDER = unlabelled)."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.ids = np.zeros(image.shape[:2], np.uint16)
        self.height, self.width = image.shape[:2]

    def paint(self, prims: list, mask: np.ndarray | None = None, offset=(0, 0)) -> None:
        """Paint primitives in order on the image (anti-aliased) and, if given, on `mask` (crisp)."""
        off = np.array(offset, np.float64)
        for prim in prims:
            color = tuple(int(c) for c in prim.color)
            if isinstance(prim, Poly):
                cv2.fillPoly(self.image, [_fixed(prim.points)], color, cv2.LINE_AA, SHIFT)
                if mask is not None:
                    cv2.fillPoly(mask, [_fixed(prim.points - off)], prim.part, cv2.LINE_8, SHIFT)
            elif isinstance(prim, Polys):
                fixed = np.rint(prim.points * SCALE).astype(np.int32)
                cv2.fillPoly(self.image, list(fixed), color, cv2.LINE_AA, SHIFT)
                if mask is not None:
                    local = np.rint((prim.points - off) * SCALE).astype(np.int32)
                    cv2.fillPoly(mask, list(local), prim.part, cv2.LINE_8, SHIFT)
            elif isinstance(prim, Line):
                thick = max(1, int(round(prim.thickness)))
                cv2.polylines(self.image, [_fixed(prim.points)], False, color, thick, cv2.LINE_AA, SHIFT)
                if mask is not None:
                    cv2.polylines(mask, [_fixed(prim.points - off)], False, prim.part, thick, cv2.LINE_8, SHIFT)
            elif isinstance(prim, Circle):
                center = tuple(int(v) for v in _fixed(np.array(prim.center)).ravel())
                radius = max(1, int(round(prim.radius * SCALE)))
                cv2.circle(self.image, center, radius, color, -1, cv2.LINE_AA, SHIFT)
                if mask is not None:
                    local = tuple(int(v) for v in _fixed(np.array(prim.center) - off).ravel())
                    cv2.circle(mask, local, radius, prim.part, -1, cv2.LINE_8, SHIFT)
            elif isinstance(prim, Ellipse):
                center = tuple(int(v) for v in _fixed(np.array(prim.center)).ravel())
                axes = tuple(max(1, int(round(a * SCALE))) for a in prim.axes)
                cv2.ellipse(self.image, center, axes, 0, 0, 360, color, -1, cv2.LINE_AA, SHIFT)
                if mask is not None:
                    local = tuple(int(v) for v in _fixed(np.array(prim.center) - off).ravel())
                    cv2.ellipse(mask, local, axes, 0, 0, 360, prim.part, -1, cv2.LINE_8, SHIFT)

    def draw(self, prims: list, object_id: int | None) -> dict | None:
        """Paint one object; return its in-image silhouette {box, area} or None when it misses the frame.

        `object_id` None marks an unlabelled occluder. Box is (x1, y1, x2, y2) pixel edges.
        """
        if not prims:
            return None
        ext = np.clip(np.array([_extent(p) for p in prims]), -LIMIT, LIMIT)
        x0 = int(max(0, np.floor(ext[:, 0].min())))
        y0 = int(max(0, np.floor(ext[:, 1].min())))
        x1 = int(min(self.width, np.ceil(ext[:, 2].max()) + 1))
        y1 = int(min(self.height, np.ceil(ext[:, 3].max()) + 1))
        if x1 <= x0 or y1 <= y0:
            return None
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        self.paint(prims, mask, (x0, y0))
        ids = self.ids[y0:y1, x0:x1]
        if object_id is None:
            ids[mask > 0] = OCCLUDER
            return None
        ids[mask == SUPPORT] = OCCLUDER
        own = mask == LABELLED
        ids[own] = object_id
        rows = np.flatnonzero(own.any(1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(own.any(0))
        box = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
        labelled = ext[[p.part == LABELLED for p in prims]]
        truncated = bool(
            labelled[:, :2].min() < -0.5
            or labelled[:, 2].max() > self.width + 0.5
            or labelled[:, 3].max() > self.height + 0.5
        )
        return {"box": tuple(float(v) for v in box), "area": int(own.sum()), "truncated": truncated}
