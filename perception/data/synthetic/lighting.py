"""Light, fog, rain and the sensor: colour shading at draw time and whole-frame effects after it.

Shading happens per primitive colour (cheap) rather than per pixel: `shade` dims by the time of day
and mixes in fog by depth with Koschmieder's law (contrast exp(-3 z / visibility)).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from perception.data.synthetic.scene import Scene


class Lighting:
    def __init__(self, scene: Scene):
        self.scene = scene
        pal = scene.palette
        self.light = pal["light"]
        self.fog_color = np.array(pal["fog"], np.float64) * (0.6 + 0.4 * self.light)
        self.fog_distance = scene.fog_distance
        self._fog = tuple(float(v) for v in self.fog_color)

    def fog(self, z: float) -> float:
        if self.fog_distance is None or z <= 0:
            return 0.0
        return 1.0 - math.exp(-3.0 * z / self.fog_distance)

    def shade(self, color, z: float, k: float = 1.0) -> tuple:
        """Reflective surface colour at depth z (metres); k darkens (<1) or brightens (>1) a face."""
        a = self.fog(z)
        g = self.light * k * (1 - a)
        return tuple(min(255.0, max(0.0, float(c) * g + f * a)) for c, f in zip(color, self._fog))

    def emit(self, color, z: float) -> tuple:
        """A light source: unaffected by ambient light, still attenuated by fog."""
        a = self.fog(z)
        return tuple(min(255.0, max(0.0, float(c) * (1 - a) + f * a)) for c, f in zip(color, self._fog))

    def paint_sky(self, image: np.ndarray) -> None:
        """Vertical gradient from the top edge to the horizon; fog turns it into the fog colour."""
        h = image.shape[0]
        horizon = int(min(h, max(1, math.ceil(self.scene.camera.horizon)) + 2))
        top = np.array(self.scene.palette["sky_top"], np.float32)
        low = np.array(self.scene.palette["sky_low"], np.float32)
        t = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
        rows = top * (1 - t) + low * t
        if self.fog_distance is not None:
            a = min(1.0, 60.0 / self.fog_distance)
            rows = rows * (1 - a) + self.fog_color.astype(np.float32) * a
        image[:horizon] = np.clip(rows, 0, 255).astype(np.uint8)[:, None, :]

    def fog_ground(self, image: np.ndarray) -> None:
        """Blend the ground rows towards the fog colour by the depth each row sees."""
        if self.fog_distance is None:
            return
        cam = self.scene.camera
        start = int(math.floor(cam.horizon)) + 1
        if start >= cam.height:
            return
        z = cam.ground_depth(np.arange(start, cam.height) + 0.5)
        a = (1.0 - np.exp(-3.0 * z / self.fog_distance)).astype(np.float32)[:, None, None]
        region = image[start:].astype(np.float32)
        image[start:] = (region * (1 - a) + self.fog_color.astype(np.float32) * a).astype(np.uint8)

    def finish(self, image: np.ndarray, rng: np.random.Generator, clean: bool = False) -> np.ndarray:
        """Rain streaks, lens blur and sensor noise; `clean` skips them (label-alignment checks)."""
        if clean:
            return image
        scene = self.scene
        h, w = image.shape[:2]
        if scene.weather == "rainy":
            count = int(h * w / 1500)
            x = rng.uniform(0, w, count)
            y = rng.uniform(0, h, count)
            length = rng.uniform(0.02, 0.05, count) * h
            slant = rng.normal(0.15, 0.03)
            pts = np.stack([x, y, x + slant * length, y + length], 1)
            lines = np.round(pts * 16).astype(np.int32).reshape(-1, 2, 2)
            tone = 150.0 * (0.4 + 0.6 * self.light)
            cv2.polylines(image, list(lines), False, (tone, tone, tone + 5), 1, cv2.LINE_AA, 4)
        if scene.blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), scene.blur_sigma)
        if scene.noise_sigma > 0:
            # OpenCV's generator (seeded from ours) is several times faster than numpy's normal here.
            noise = np.empty((h, w), np.int16)
            cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))
            cv2.randn(noise, 0.0, scene.noise_sigma)
            image = cv2.add(image, cv2.merge([noise, noise, noise]), dtype=cv2.CV_8U)
        return image
