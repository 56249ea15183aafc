"""Vehicles as primitives: cars, trucks, buses, trams as shaded cuboids; bicycles and motorcycles."""

from __future__ import annotations

import numpy as np

from perception.data.synthetic.canvas import Ellipse, Line, Poly
from perception.data.synthetic.lighting import Lighting
from perception.data.synthetic.scene import Actor, Scene

GLASS = (55, 65, 78)
TYRE = (22, 22, 24)


def project(scene: Scene, z, d, y) -> np.ndarray:
    """Ground-anchored point(s) at depth z, lateral offset d, height y -> (N, 2) pixels."""
    cam, shape = scene.camera, scene.shape
    z = np.asarray(z, np.float64)
    inv = cam.focal / np.maximum(z, 1e-3)
    u = cam.cx + (0.5 * shape.curvature * z * z + shape.yaw * z + d) * inv
    v = cam.horizon + (cam.height_m - np.asarray(y, np.float64)) * inv
    if u.shape != v.shape:
        u, v = np.broadcast_arrays(u, v)
    return np.stack([u.ravel(), v.ravel()], 1)


_STEPS = {n: np.linspace(0.0, 1.0, n) for n in range(2, 9)}


def front_quad(scene, z, d0, d1, y0, y1) -> np.ndarray:
    """A vertical rectangle facing the camera at depth z."""
    return project(scene, [z, z, z, z], [d0, d1, d1, d0], [y0, y0, y1, y1])


def side_quad(scene, d, z0, z1, y0, y1, n: int = 4) -> np.ndarray:
    """A vertical rectangle along the road at lateral d (curved with the road)."""
    z = z0 + (z1 - z0) * _STEPS[n]
    return np.concatenate([project(scene, z, d, y0), project(scene, z[::-1], d, y1)])


def top_quad(scene, z0, z1, d0, d1, y, n: int = 4) -> np.ndarray:
    z = z0 + (z1 - z0) * _STEPS[n]
    return np.concatenate([project(scene, z, d0, y), project(scene, z[::-1], d1, y)])


def cuboid(scene, light: Lighting, z0, z1, d0, d1, y0, y1, color, faces=None) -> list[Poly]:
    """Visible faces of an axis-aligned (road-aligned) box, far faces first. `faces` overrides colours
    per face name ("near", "side", "top")."""
    faces = faces or {}
    prims = []
    x_left = scene.shape.lateral(z0, d0)
    x_right = scene.shape.lateral(z0, d1)
    if x_left > 0:  # the camera is left of the box: its left flank faces us
        prims.append(Poly(side_quad(scene, d0, z0, z1, y0, y1), light.shade(faces.get("side", color), z0, 0.72)))
    elif x_right < 0:
        prims.append(Poly(side_quad(scene, d1, z0, z1, y0, y1), light.shade(faces.get("side", color), z0, 0.72)))
    if y1 < scene.camera.height_m:
        prims.append(Poly(top_quad(scene, z0, z1, d0, d1, y1), light.shade(faces.get("top", color), z0, 1.12)))
    prims.append(Poly(front_quad(scene, z0, d0, d1, y0, y1), light.shade(faces.get("near", color), z0, 0.9)))
    return prims


def _wheels(scene, light, a: Actor, radius: float) -> list:
    """Tyres showing under the near face and, when a flank is visible, on the flank."""
    z0, z1 = a.z, a.z + a.length
    d0, d1 = a.d - a.width / 2, a.d + a.width / 2
    prims = []
    tyre = light.shade(TYRE, z0)
    for d in (d0 + 0.05, d1 - 0.3):
        prims.append(Poly(front_quad(scene, z0 + 0.7, d, d + 0.25, 0.0, 2 * radius * 0.8), tyre))
    x_left, x_right = scene.shape.lateral(z0, d0), scene.shape.lateral(z0, d1)
    flank = d0 if x_left > 0 else d1 if x_right < 0 else None
    if flank is not None:
        for zc in (z0 + 0.18 * a.length + 0.3, z1 - 0.18 * a.length - 0.3):
            c = project(scene, zc, flank, radius)[0]
            ry = scene.camera.focal * radius / zc
            rx = abs(project(scene, zc + radius, flank, radius)[0, 0] - project(scene, zc - radius, flank, radius)[0, 0]) / 2
            prims.append(Ellipse((c[0], c[1]), (max(rx, 0.5), max(ry, 0.5)), tyre))
    return prims


def _lamps(scene, light, a: Actor, z, y0, y1, night: bool) -> list[Poly]:
    """Tail lights (seen from behind) or headlights (oncoming) on the near face, and a plate."""
    d0, d1 = a.d - a.width / 2, a.d + a.width / 2
    if a.facing > 0:
        color = (255, 40, 35) if night else (170, 25, 25)
    else:
        color = (255, 250, 225) if night else (215, 215, 205)
    tone = light.emit(color, z) if night else light.shade(color, z)
    prims = [Poly(front_quad(scene, z, d, d + 0.28, y0, y1), tone) for d in (d0 + 0.06, d1 - 0.34)]
    plate = light.shade((225, 225, 215), z)
    prims.append(Poly(front_quad(scene, z, a.d - 0.26, a.d + 0.26, y0 - 0.28, y0 - 0.12), plate))
    return prims


def vehicle_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    night = scene.timeofday != "daytime"
    z0, z1 = a.z, a.z + a.length
    d0, d1 = a.d - a.width / 2, a.d + a.width / 2
    h = a.height
    if a.kind in ("bicycle", "motorcycle"):
        return _two_wheeler(scene, light, a)
    if a.kind == "car":
        prims = _wheels(scene, light, a, 0.32)
        prims += cuboid(scene, light, z0, z1, d0, d1, 0.25, 0.58 * h, a.color)
        cabin_near = z0 + (0.22 if a.facing > 0 else 0.3) * a.length
        cabin_far = z1 - (0.3 if a.facing > 0 else 0.22) * a.length
        prims += cuboid(scene, light, cabin_near, cabin_far, d0 + 0.1, d1 - 0.1, 0.58 * h, h, GLASS, {"top": a.color})
        prims += _lamps(scene, light, a, z0, 0.42 * h, 0.52 * h, night)
        return prims
    if a.kind == "truck":
        prims = _wheels(scene, light, a, 0.48)
        cab_len = 2.2
        cargo_color = a.extra["cargo"]
        if a.facing > 0:
            prims += cuboid(scene, light, z1 - cab_len, z1, d0 + 0.05, d1 - 0.05, 0.4, 0.8 * h, a.color)
            prims += cuboid(scene, light, z0, z1 - cab_len - 0.1, d0, d1, 0.45, h, cargo_color)
            prims += _lamps(scene, light, a, z0, 0.55, 0.75, night)
        else:
            prims += cuboid(scene, light, z0 + cab_len + 0.1, z1, d0, d1, 0.45, h, cargo_color)
            prims += cuboid(scene, light, z0, z0 + cab_len, d0 + 0.05, d1 - 0.05, 0.4, 0.8 * h, a.color)
            prims.append(Poly(front_quad(scene, z0, d0 + 0.15, d1 - 0.15, 0.5 * h, 0.76 * h), light.shade(GLASS, z0)))
            prims += _lamps(scene, light, a, z0, 0.6, 0.8, night)
        return prims
    # Bus and tram: one long box with a window band along the flank and a big near window.
    bottom = 0.3 if a.kind == "bus" else 0.55
    prims = _wheels(scene, light, a, 0.5) if a.kind == "bus" else [
        Poly(front_quad(scene, z0 + 0.5, d0 + 0.3, d1 - 0.3, 0.1, bottom), light.shade(TYRE, z0))
    ]
    prims += cuboid(scene, light, z0, z1, d0, d1, bottom, h, a.color)
    band_lo, band_hi = bottom + 0.45 * (h - bottom), bottom + 0.85 * (h - bottom)
    x_left, x_right = scene.shape.lateral(z0, d0), scene.shape.lateral(z0, d1)
    flank = d0 if x_left > 0 else d1 if x_right < 0 else None
    if flank is not None:
        prims.append(Poly(side_quad(scene, flank, z0 + 0.4, z1 - 0.4, band_lo, band_hi, 6), light.shade(GLASS, z0, 0.8)))
    prims.append(Poly(front_quad(scene, z0, d0 + 0.15, d1 - 0.15, band_lo, band_hi), light.shade(GLASS, z0)))
    prims += _lamps(scene, light, a, z0, bottom + 0.25, bottom + 0.45, night)
    return prims


def _two_wheeler(scene: Scene, light: Lighting, a: Actor) -> list:
    """Two wheels, a frame and (motorcycle) a body block; thin from behind, wide from the side."""
    r = 0.33 if a.kind == "bicycle" else 0.31
    z_rear, z_front = (a.z + r, a.z + a.length - r) if a.facing > 0 else (a.z + a.length - r, a.z + r)
    f = scene.camera.focal
    prims = []
    tyre = light.shade(TYRE, a.z)
    hubs = []
    for zc in (z_front, z_rear):  # the far wheel first
        c = project(scene, zc, a.d, r)[0]
        x = scene.shape.lateral(zc, a.d)
        sin_view = abs(x) / np.hypot(x, zc)
        rx = max(f * 0.05 / zc, f * r / zc * sin_view)
        prims.append(Ellipse((c[0], c[1]), (rx, f * r / zc), tyre))
        hubs.append(c)
    seat = project(scene, z_rear + 0.25 * (z_front - z_rear), a.d, 0.9 if a.kind == "bicycle" else 0.8)[0]
    bar = project(scene, z_front - 0.1 * (z_front - z_rear), a.d, 1.0)[0]
    thick = max(1.0, f * 0.04 / a.z)
    frame = light.shade(a.color, a.z)
    if a.kind == "motorcycle":
        body = side_quad(scene, a.d, min(z_rear, z_front) + 0.3, max(z_rear, z_front) - 0.3, 0.35, 0.8, 3)
        prims.append(Poly(body, light.shade(a.color, a.z, 0.8)))
        prims.append(Poly(front_quad(scene, a.z, a.d - 0.2, a.d + 0.2, 0.4, 0.85), light.shade(a.color, a.z)))
    prims.append(Line(np.array([hubs[1], seat, bar, hubs[0]]), thick, frame))
    prims.append(Line(np.array([bar - [f * 0.3 / a.z, 0], bar + [f * 0.3 / a.z, 0]]), thick, light.shade(TYRE, a.z)))
    return prims
