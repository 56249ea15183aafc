"""Images the benchmark feeds: real frames when ../shared has them, else frames of a generated road scene.

End-to-end timings need camera-sized images (the letterbox resize and the mask resize back depend on it);
INT8 calibration needs inputs whose statistics resemble real ones.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DEFAULT_FRAME_SIZE = (720, 1280)  # H, W of a BDD100K frame


def load_frames(folder: str | Path | None, count: int) -> list[np.ndarray]:
    """Up to `count` RGB uint8 images from `folder` (sorted, jpg/png); unreadable files are skipped and
    reported in the error only when none is readable."""
    if folder is None or not Path(folder).is_dir():
        return []
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    frames = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if len(frames) >= count:
            break
    return frames


def road_frame(index: int, size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> np.ndarray:
    """A seeded road-like RGB frame: sky/ground gradient, road trapezoid, dashed lane lines, boxes, noise."""
    h, w = size
    rng = np.random.default_rng(index)
    image = np.zeros((h, w, 3), np.uint8)
    horizon = int(h * rng.uniform(0.4, 0.5))
    image[:horizon] = np.linspace(200, 120, horizon, dtype=np.uint8)[:, None, None] * np.array([0.8, 0.9, 1.0])
    image[horizon:] = (90, 95, 85)
    cx = w // 2 + int(rng.integers(-w // 10, w // 10))
    road = np.array([[cx - 8, horizon], [cx + 8, horizon], [w, h], [0, h]], np.int32)
    cv2.fillPoly(image, [road], (70, 70, 72))
    shift = (index * 23) % 60
    for side in (-1, 1):
        for y in range(horizon + shift, h, 60):
            t0, t1 = (y - horizon) / (h - horizon), (min(y + 30, h) - horizon) / (h - horizon)
            p0 = (int(cx + side * t0 * w * 0.3), y)
            p1 = (int(cx + side * t1 * w * 0.3), min(y + 30, h))
            cv2.line(image, p0, p1, (230, 230, 230), max(2, int(8 * t1)))
    for _ in range(int(rng.integers(2, 6))):
        bw = int(rng.integers(w // 20, w // 6))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(horizon - bw // 3, h - bw))
        cv2.rectangle(image, (x, y), (x + bw, y + int(bw * 0.7)), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    noise = rng.normal(0, 6, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def benchmark_frames(folder: str | Path | None, count: int) -> tuple[list[np.ndarray], str]:
    """`count` RGB frames (real ones cycled when fewer exist, else generated) and where they came from."""
    real = load_frames(folder, count)
    if real:
        return [real[i % len(real)] for i in range(count)], str(folder)
    return [road_frame(i) for i in range(count)], "generated road frames (perception.bench.images.road_frame)"


def write_clip(path: str | Path, frames: int = 60, fps: float = 25.0, size: tuple[int, int] = (540, 960)) -> Path:
    """An mp4 (mp4v) clip of generated road frames, for the video benchmark when no real clip is present."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size[1], size[0]))
    if not writer.isOpened():
        raise ValueError(f"{path}: OpenCV cannot write an mp4v video here")
    for i in range(frames):
        writer.write(cv2.cvtColor(road_frame(i, size), cv2.COLOR_RGB2BGR))
    writer.release()
    tmp.replace(path)
    return path
