"""Image files: which suffixes are images, reading them as RGB, writing them whole, and the frames that checks
and benchmarks run on when no camera is at hand.

Every image the package reads goes through `decode_rgb` (OpenCV decodes BGR; the package works in RGB) and every
folder is listed by `list_images` with the one `IMAGE_SUFFIXES`: dataset adapters, the video tool's image
sequences, ONNX parity checks, INT8 calibration and the benchmark. numpy + OpenCV only (the torch-free runtime
uses it).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from perception.atomic import write_bytes_atomic
from perception.errors import InputError, MissingFileError

# What OpenCV decodes out of the box; matched case-insensitively.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
REPO_ROOT = Path(__file__).resolve().parents[1]
FRAMES_SUBDIR = Path("data") / "bdd100k_frames"


def is_image(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in `folder`, sorted by name; [] when the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_image(p))


def decode_rgb(path: str | os.PathLike) -> np.ndarray | None:
    """RGB uint8 (H, W, 3) of an image file, or None when it is missing or cannot be decoded (callers say which
    error that is for them: a label error, a corrupt video frame, a skipped calibration image)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_images(folder: str | os.PathLike, count: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Up to `count` RGB uint8 images of a folder (sorted names) and the paths that could not be decoded.
    MissingFileError without the folder, InputError when nothing in it is readable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: image folder not found")
    images, skipped = [], []
    for path in list_images(folder):
        if count is not None and len(images) >= count:
            break
        image = decode_rgb(path)
        if image is None:
            skipped.append(str(path))
        else:
            images.append(image)
    if not images:
        raise InputError(f"{folder}: no readable images ({len(skipped)} unreadable, suffixes {IMAGE_SUFFIXES})")
    return images, skipped


def write_image_atomic(path: str | os.PathLike, image_rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image (format from the suffix, PNG without one) via temp file + rename."""
    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: cannot encode an image with suffix {path.suffix!r}")
    return write_bytes_atomic(path, data.tobytes())


def shared_frames_dir() -> Path:
    """../shared/data/bdd100k_frames beside the checkout (PERCEPTION_SHARED overrides ../shared)."""
    return Path(os.environ.get("PERCEPTION_SHARED", REPO_ROOT.parent / "shared")) / FRAMES_SUBDIR


def synthetic_frames(count: int, size: tuple[int, int] = (360, 640), seed: int = 0) -> list[np.ndarray]:
    """Road-like RGB uint8 frames (sky, road, lane markings, boxes) for when no real frames are present."""
    rng = np.random.default_rng(seed)
    h, w = size
    frames = []
    for _ in range(count):
        img = np.empty((h, w, 3), np.uint8)
        img[: h // 2] = rng.integers(120, 220, 3)
        img[h // 2 :] = rng.integers(40, 110, 3)
        for x0 in rng.integers(0, w, 3):
            cv2.line(img, (int(x0), h - 1), (w // 2, h // 2), (235, 235, 235), 4)
        for _ in range(4):
            x, y = int(rng.integers(0, w - 60)), int(rng.integers(h // 3, h - 60))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 60)), y + int(rng.integers(20, 60))),
                          tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        img = np.clip(img.astype(np.int16) + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)
        frames.append(img)
    return frames


def reference_frames(count: int = 4) -> tuple[list[np.ndarray], str]:
    """Real BDD100K frames from ../shared when present, else synthetic ones; and which it was."""
    folder = shared_frames_dir()
    if folder.is_dir():
        try:
            images, _ = read_images(folder, count)
            return images, str(folder)
        except ValueError:
            pass
    return synthetic_frames(count), "synthetic"
