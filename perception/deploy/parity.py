"""ONNX Runtime vs PyTorch on the same frames: the numbers that say an exported file is the trained model."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from perception.errors import InputError, MissingFileError
from perception.models.network import MultiTaskNet
from perception.models.placement import model_input
from perception.preprocess import prepare_batch

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMES_SUBDIR = Path("data") / "bdd100k_frames"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FP32_TOLERANCE = 1e-3


class ParityError(InputError):
    """The exported model's outputs differ from PyTorch's beyond the tolerance; the message names the output."""


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


def read_images(folder: str | Path, count: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Up to `count` RGB uint8 images of a folder (sorted names). Unreadable files are skipped and reported."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: image folder not found")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images, skipped = [], []
    for path in paths:
        if count is not None and len(images) >= count:
            break
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            skipped.append(str(path))
            continue
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not images:
        raise InputError(f"{folder}: no readable images ({len(skipped)} unreadable, suffixes {IMAGE_SUFFIXES})")
    return images, skipped


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


def max_abs_diffs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-output max |a - b| over the outputs both have (shapes must agree)."""
    diffs = {}
    for name, ref in reference.items():
        if name not in candidate:
            continue
        if ref.shape != candidate[name].shape:
            raise ParityError(f"output {name}: shape {candidate[name].shape} differs from PyTorch's {ref.shape}")
        diffs[name] = float(np.abs(ref.astype(np.float32) - candidate[name].astype(np.float32)).max())
    return diffs


def check_parity(
    onnx_path: str | Path,
    model: MultiTaskNet,
    images: list[np.ndarray] | None = None,
    tolerance: float | None = FP32_TOLERANCE,
    threads: int = 2,
) -> dict:
    """Run `images` (default: `reference_frames()`) through PyTorch and ONNX Runtime (CPU) one at a time.

    Returns {"images", "source", "max_abs_diff": {output: float}, "tolerance", "passed"}. Outputs absent from
    the ONNX file (the raw detection outputs of an NMS graph) are not compared here. With a tolerance, raises
    ParityError naming the worst output when any difference exceeds it; None only reports (FP16/INT8).
    """
    from perception.runtime.session import create_session

    source = "given"
    if images is None:
        images, source = reference_frames()
    config = model.config
    session = create_session(onnx_path, providers="cpu", threads=threads, verbose=False)
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    fixed_batch = session.get_inputs()[0].shape[0]
    worst: dict[str, float] = {}
    for image in images:
        batch, _ = prepare_batch([image], config.imgsz, config.mean, config.std)
        if isinstance(fixed_batch, int) and fixed_batch > 1:
            batch = np.repeat(batch, fixed_batch, 0)
        with torch.no_grad():
            outputs = model.eval()(model_input(model, batch))  # on the model's device, in its dtype
            reference = {k: v.float().cpu().numpy() for k, v in outputs.items()}
        candidate = dict(zip(output_names, session.run(None, {input_name: batch})))
        for name, diff in max_abs_diffs(reference, candidate).items():
            worst[name] = max(worst.get(name, 0.0), diff)
    passed = tolerance is None or all(d <= tolerance for d in worst.values())
    summary = {"images": len(images), "source": source, "max_abs_diff": worst, "tolerance": tolerance, "passed": passed}
    if not passed:
        name = max(worst, key=worst.get)
        raise ParityError(
            f"{onnx_path}: output {name!r} differs from PyTorch by {worst[name]:.3g} > {tolerance:g} "
            f"on {len(images)} {source} image(s)"
        )
    return summary
