"""Pinhole camera over a flat road, and the road's centre-line geometry.

Coordinates: metres in the ego frame, x to the right, y up from the ground, z forward along the
camera axis. The camera sits `height_m` above the ground looking along +z; its pitch is folded into
the principal point (`horizon` row), which is an exact pinhole camera with an offset principal point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Camera:
    width: int
    height: int
    focal: float  # pixels
    cx: float  # pixels
    horizon: float  # image row of the vanishing line, pixels
    height_m: float  # camera height over the road, metres

    def project(self, x, y, z) -> tuple[np.ndarray, np.ndarray]:
        """(x, y, z) metres (arrays broadcast) -> (u, v) image pixels."""
        z = np.maximum(np.asarray(z, np.float64), 1e-3)
        u = self.cx + self.focal * np.asarray(x, np.float64) / z
        v = self.horizon + self.focal * (self.height_m - np.asarray(y, np.float64)) / z
        return u, v

    def ground_depth(self, v) -> np.ndarray:
        """Depth z (metres) of the ground point seen at image row `v` (rows below the horizon only)."""
        return self.focal * self.height_m / np.maximum(np.asarray(v, np.float64) - self.horizon, 1e-6)

    @property
    def near_z(self) -> float:
        """Depth of the ground at the bottom image edge: nothing on the ground nearer is visible."""
        return float(self.ground_depth(self.height))


@dataclass
class RoadShape:
    """The road centre-line relative to the ego camera: lateral position x(z, d) of offset d.

    x = curvature * z^2 / 2 + yaw * z + d, the small-angle clothoid used by lane models
    (Dickmanns); d is the lateral offset from the ego position measured across the road.
    """

    curvature: float  # 1/metres, positive bends right
    yaw: float  # radians between road and camera axis

    def lateral(self, z, d) -> np.ndarray:
        z = np.asarray(z, np.float64)
        return 0.5 * self.curvature * z * z + self.yaw * z + np.asarray(d, np.float64)


def depth_samples(z_near: float, z_far: float, count: int) -> np.ndarray:
    """Depths spaced evenly in inverse depth, i.e. roughly evenly in image rows."""
    inv = np.linspace(1.0 / z_near, 1.0 / z_far, count)
    return 1.0 / inv
