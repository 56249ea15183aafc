"""Images the benchmark feeds: real frames when ../shared has them, else generated road-like frames.

End-to-end timings need camera-sized images (the letterbox resize and the mask resize back depend on it);
INT8 calibration needs inputs whose statistics resemble real ones. Reading and generating frames is
perception.imageio's; this module only picks, sizes and writes them where the benchmark needs files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from perception.atomic import atomic_path
from perception.errors import InputError
from perception.imageio import read_images, shared_frames_dir, synthetic_frames, write_image_atomic

CAMERA_SIZE = (720, 1280)  # H, W of a BDD100K frame: generated frames get the size real ones have


def benchmark_frames(folder: str | Path | None, count: int) -> tuple[list[np.ndarray], str]:
    """`count` RGB uint8 frames (real ones of `folder`, default ../shared's BDD100K frames, cycled when
    fewer exist; else generated at 720x1280) and where they came from."""
    folder = Path(folder) if folder is not None else shared_frames_dir()
    if folder.is_dir():
        try:
            real, _ = read_images(folder, count)
            return [real[i % len(real)] for i in range(count)], str(folder)
        except ValueError:
            pass
    return synthetic_frames(count, size=CAMERA_SIZE), "generated road frames (perception.imageio.synthetic_frames)"


def calibration_folder(folder: str | Path | None, count: int, out_dir: str | Path) -> tuple[Path, str]:
    """A folder of images for INT8 calibration: `folder` (default the shared frames) when it exists, else
    `count` generated frames written as PNG under out_dir/calibration_frames. Returns (folder, description)."""
    folder = Path(folder) if folder is not None else shared_frames_dir()
    if folder.is_dir():
        return folder, str(folder)
    target = Path(out_dir) / "calibration_frames"
    for i, frame in enumerate(synthetic_frames(count, size=CAMERA_SIZE)):
        write_image_atomic(target / f"frame_{i:03d}.png", frame)
    return target, "generated road frames"


def write_test_clip(path: str | Path, frames: int = 60, fps: float = 25.0, size: tuple[int, int] = (540, 960)) -> Path:
    """An mp4 (mp4v) clip of generated road frames, for the video benchmark when no real clip is present."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:  # OpenCV picks the container from the suffix
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size[1], size[0]))
        if not writer.isOpened():
            raise InputError(f"{path}: OpenCV cannot write an mp4v video here")
        for frame in synthetic_frames(frames, size=size):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    return path
