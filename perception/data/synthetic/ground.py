"""The road surface: terrain, pavements, asphalt, kerbs, markings, crosswalks; and their exact labels.

Label polylines are the marking centre lines projected with the same camera that paints them, sampled
bottom to top and clipped to the image and to the painted range.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.data.synthetic.camera import depth_samples
from perception.data.synthetic.canvas import Canvas, Poly
from perception.data.synthetic.scene import STOP_LINE_DEPTH, Scene

FAR = 3000.0  # metres: the road surface is drawn this far, i.e. practically to the horizon
DASH, GAP = 3.0, 9.0  # metres, a common dashed-line rhythm (US: 10 ft dash, 30 ft gap)
# BDD100K lane-mask encoding: bits 0-2 category, bit 3 background, bit 4 dashed, bit 5 vertical.
LANE_MASK_CATEGORIES = (
    "crosswalk", "double other", "double white", "double yellow",
    "road curb", "single other", "single white", "single yellow",
)
LANE_MASK_BACKGROUND = 255


def near_depth(scene: Scene) -> float:
    """A depth just below the bottom image row, so polygons and polylines start off-screen."""
    return 0.9 * scene.camera.near_z


def strip(scene: Scene, d0: float, d1: float, z0: float, z1: float, count: int = 48) -> np.ndarray:
    """Image polygon (2N, 2) of the ground band between lateral offsets d0 < d1 and depths z0 < z1."""
    z = depth_samples(z0, z1, count)
    xl, xr = scene.shape.lateral(z, d0), scene.shape.lateral(z, d1)
    ul, vl = scene.camera.project(xl, 0.0, z)
    ur, vr = scene.camera.project(xr, 0.0, z)
    return np.concatenate([np.stack([ul, vl], 1), np.stack([ur, vr], 1)[::-1]])


def centre_line(scene: Scene, d: float, z0: float, z1: float, count: int = 48) -> np.ndarray:
    """Projected (N, 2) points of the ground line at offset d from depth z0 to z1 (bottom to top)."""
    z = depth_samples(z0, z1, count)
    u, v = scene.camera.project(scene.shape.lateral(z, d), 0.0, z)
    return np.stack([u, v], 1)


def clip_polyline(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """The longest run of a polyline inside [0, W] x [0, H], cut exactly at the border (Liang-Barsky)."""
    runs, current = [], []
    for a, b in zip(points[:-1], points[1:]):
        seg = _clip_segment(a, b, width, height)
        if seg is None:
            if current:
                runs.append(current)
                current = []
            continue
        p, q = seg
        if current and abs(current[-1][0] - p[0]) < 1e-9 and abs(current[-1][1] - p[1]) < 1e-9:
            current.append(q)
        else:
            if current:
                runs.append(current)
            current = [p, q]
    if current:
        runs.append(current)
    if not runs:
        return np.zeros((0, 2), np.float64)
    best = max(runs, key=lambda r: np.linalg.norm(np.diff(np.array(r), axis=0), axis=1).sum())
    return np.array(best)


def _clip_segment(a, b, width, height):
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], a[0]), (d[0], width - a[0]), (-d[1], a[1]), (d[1], height - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return a + t0 * d, a + t1 * d


def draw_ground(canvas: Canvas, scene: Scene, shade, shadows: list[Poly]) -> None:
    """Paint terrain, pavements, road, shadows, markings and the crosswalk (no instance ids)."""
    pal = scene.palette
    z0 = near_depth(scene)
    left, right = scene.curb_offsets
    pw = scene.pavement_width
    asphalt = tuple(v * (0.7 if pal["wet"] else 1.0) for v in pal["asphalt"])
    prims = [
        Poly(strip(scene, left - pw, left, z0, FAR), shade(pal["pavement"], 0)),
        Poly(strip(scene, right, right + pw, z0, FAR), shade(pal["pavement"], 0)),
        Poly(strip(scene, left, right, z0, FAR), shade(asphalt, 0)),
    ]
    # Kerb stones: a lighter band on the pavement side of each kerb line.
    prims.append(Poly(strip(scene, left - 0.2, left, z0, FAR), shade((185, 183, 175), 0)))
    prims.append(Poly(strip(scene, right, right + 0.2, z0, FAR), shade((185, 183, 175), 0)))
    canvas.paint(prims)
    canvas.paint(shadows)
    canvas.paint(marking_prims(scene, shade))


def marking_prims(scene: Scene, shade) -> list[Poly]:
    z0, z1 = near_depth(scene), scene.marking_range
    prims = []
    for line in scene.lines:
        if line.is_curb:
            continue
        color = shade(line.color, 0)
        offsets = [line.offset - 0.1 - line.width / 2, line.offset + 0.1 + line.width / 2] if line.double else [line.offset]
        for d in offsets:
            for a, b in _pieces(scene, line.style, z0, z1):
                # Enough vertices that chords stay on the curve: the labels sample it just as densely.
                count = 48 if line.style == "solid" else 4
                prims.append(Poly(strip(scene, d - line.width / 2, d + line.width / 2, a, b, count), color))
    if scene.crosswalk is not None:
        a, b = scene.crosswalk
        left, right = scene.curb_offsets
        stripe = 0.5
        d = left + 0.3
        while d + stripe < right - 0.2:
            prims.append(Poly(strip(scene, d, d + stripe, a, b, 3), shade((230, 230, 225), 0)))
            d += 2 * stripe
    if scene.stop_line is not None and z0 < scene.stop_line[0] < z1:
        z, d0, d1 = scene.stop_line
        prims.append(Poly(strip(scene, d0, d1, z, z + STOP_LINE_DEPTH, 3), shade(WHITE_PAINT, 0)))
    return prims


WHITE_PAINT = (236, 236, 230)


def clip_polygon(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """A polygon cut to [0, W] x [0, H] (Sutherland-Hodgman; exact for the convex bands drawn here)."""
    poly = [np.asarray(p, np.float64) for p in points]
    for axis, bound, keep_below in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False), (1, float(height), True)):
        inside = (lambda p: p[axis] <= bound) if keep_below else (lambda p: p[axis] >= bound)
        out = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            if inside(cur) != inside(prev):
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(prev + t * (cur - prev))
            if inside(cur):
                out.append(cur)
        poly = out
        if not poly:
            return np.zeros((0, 2), np.float64)
    return np.array(poly)


def _pieces(scene: Scene, style: str, z0: float, z1: float) -> list[tuple[float, float]]:
    if style == "solid":
        return [(z0, z1)]
    period = DASH + GAP
    start = z0 - ((z0 + scene.dash_phase) % period)
    pieces = []
    while start < z1:
        a, b = max(start, z0), min(start + DASH, z1)
        if b > a:
            pieces.append((a, b))
        start += period
    return pieces


def lane_labels(scene: Scene) -> list[dict]:
    """Every marking, kerb and crosswalk edge as {points (K, 2), category, style, direction}."""
    cam = scene.camera
    z0, z1 = near_depth(scene), scene.marking_range
    labels = []
    for line in scene.lines:
        pts = clip_polyline(centre_line(scene, line.offset, z0, z1), cam.width, cam.height)
        if len(pts) >= 2:
            labels.append({"points": pts, "category": line.category, "style": line.style, "direction": "parallel"})
    # Crossings: the crosswalk as one closed polygon (the zebra band), the stop line as its centre line.
    if scene.crosswalk is not None and scene.crosswalk[0] < z1 and scene.crosswalk[1] > z0:
        left, right = scene.curb_offsets
        a, b = scene.crosswalk[0], min(scene.crosswalk[1], z1)
        band = strip(scene, left, right, max(a, near_depth(scene)), b, 3)
        pts = clip_polygon(band, cam.width, cam.height)
        if len(pts) >= 3:
            labels.append({"points": pts, "category": "crosswalk", "style": "solid", "direction": "vertical", "closed": True})
    if scene.stop_line is not None and z0 < scene.stop_line[0] < z1:
        z, d0, d1 = scene.stop_line
        d = np.linspace(d0, d1, 12)
        zs = np.full_like(d, z + STOP_LINE_DEPTH / 2)
        u, v = cam.project(scene.shape.lateral(zs, d), 0.0, zs)
        pts = clip_polyline(np.stack([u, v], 1), cam.width, cam.height)
        if len(pts) >= 2:
            labels.append({"points": pts, "category": "single white", "style": "solid", "direction": "vertical"})
    return labels


def lane_mask(scene: Scene, lanes: list[dict]) -> np.ndarray:
    """BDD100K-style lane mask (H, W) uint8: 255 background, else category | dashed << 4 | vertical << 5."""
    cam = scene.camera
    mask = np.full((cam.height, cam.width), LANE_MASK_BACKGROUND, np.uint8)
    thickness = max(2, int(round(8 * cam.width / 1280)))  # BDD100K draws 8 px lines at 1280 x 720
    for lane in lanes:
        value = LANE_MASK_CATEGORIES.index(lane["category"])
        value |= (lane["style"] == "dashed") << 4 | (lane["direction"] == "vertical") << 5
        pts = np.round(lane["points"] * 16).astype(np.int32).reshape(-1, 1, 2)
        if lane.get("closed"):
            cv2.fillPoly(mask, [pts], int(value), cv2.LINE_8, 4)
        else:
            cv2.polylines(mask, [pts], False, int(value), thickness, cv2.LINE_8, 4)
    return mask


def drivable_mask(scene: Scene) -> np.ndarray:
    """(H, W) uint8: 0 the ego lane, 1 lanes one may change into, 2 elsewhere (before occluders)."""
    cam = scene.camera
    mask = np.full((cam.height, cam.width), 2, np.uint8)
    z0 = near_depth(scene)
    edges = scene.lane_edges
    blocked = {line.offset for line in scene.lines if "yellow" in line.category and line.style == "solid"}
    for lane in range(scene.n_lanes):
        if lane == scene.ego_lane:
            continue
        # Alternative lanes: reachable from the ego lane without crossing a solid yellow line.
        lo, hi = sorted((lane, scene.ego_lane))
        if any(edges[k] in blocked for k in range(lo + 1, hi + 1)):
            continue
        pts = strip(scene, edges[lane], edges[lane + 1], z0, FAR, 32)
        cv2.fillPoly(mask, [np.round(np.clip(pts, -1e6, 1e6) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    ego = strip(scene, edges[scene.ego_lane], edges[scene.ego_lane + 1], z0, FAR, 32)
    cv2.fillPoly(mask, [np.round(np.clip(ego, -1e6, 1e6) * 16).astype(np.int32)], 0, cv2.LINE_8, 4)
    return mask
