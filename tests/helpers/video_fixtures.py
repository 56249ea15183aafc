"""Helpers for the video tests: the synthetic clip, a colour-threshold predictor, reading videos back."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from perception.structures import Detections, FrameResult, Lane

CLIP_SIZE = (240, 320)  # H, W
CLIP_FRAMES = 40
CLIP_FPS = 10.0
RED_SPEED = 4  # px / frame to the right (even: 4:2:0 chroma is stored per 2x2 block)
BLUE_SPEED = 2  # px / frame downwards


def red_box(i: int) -> tuple[int, int, int, int]:
    """xyxy of the red rectangle in frame i (inclusive pixel ranges)."""
    return 10 + RED_SPEED * i, 60, 10 + RED_SPEED * i + 39, 89


def blue_box(i: int) -> tuple[int, int, int, int]:
    return 250, 10 + BLUE_SPEED * i, 279, 10 + BLUE_SPEED * i + 49


def synthetic_frame_bgr(i: int, size: tuple[int, int] = CLIP_SIZE) -> np.ndarray:
    frame = np.full(size + (3,), 90, np.uint8)
    x1, y1, x2, y2 = red_box(i)
    frame[y1 : y2 + 1, x1 : x2 + 1] = (0, 0, 230)  # BGR red
    x1, y1, x2, y2 = blue_box(i)
    frame[y1 : y2 + 1, x1 : x2 + 1] = (230, 0, 0)  # BGR blue
    return frame


def write_clip(path: Path, n: int, fourcc: str = "mp4v", size: tuple[int, int] = CLIP_SIZE) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), CLIP_FPS, (size[1], size[0]))
    assert writer.isOpened()
    for i in range(n):
        writer.write(synthetic_frame_bgr(i, size))
    writer.release()
    return path


def _colour_boxes(image: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy and scores (N,) of the connected regions where `channel` dominates."""
    img = image.astype(np.int16)
    others = [c for c in range(3) if c != channel]
    mask = ((img[..., channel] > 150) & (img[..., others[0]] < 100) & (img[..., others[1]] < 100)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes, scores = [], []
    for x, y, w, h, area in stats[1:]:
        if area < 100:  # codec ringing at edges, not an object
            continue
        boxes.append((x, y, x + w, y + h))
        scores.append(min(0.99, area / (w * h)))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)


class ColourBoxPredictor:
    """A real (numpy/OpenCV) predictor for the synthetic clip: red regions are cars, blue regions are
    pedestrians; one lane per frame along the left edge of the red box (slot 1). Split stages like the real
    predictor; `infer_delay_s` makes the model slower than the source for realtime tests."""

    def __init__(self, infer_delay_s: float = 0.0, fail_at_call: int | None = None) -> None:
        self.infer_delay_s = infer_delay_s
        self.fail_at_call = fail_at_call
        self.batch_sizes: list[int] = []

    def preprocess(self, images):
        return [np.ascontiguousarray(img) for img in images], [img.shape[:2] for img in images]

    def infer(self, batch):
        self.batch_sizes.append(len(batch))
        if self.fail_at_call is not None and len(self.batch_sizes) > self.fail_at_call:
            raise RuntimeError("synthetic model failure")
        if self.infer_delay_s:
            time.sleep(self.infer_delay_s * len(batch))
        return {"red": [_colour_boxes(img, 0) for img in batch], "blue": [_colour_boxes(img, 2) for img in batch]}

    def postprocess(self, raw, infos):
        results = []
        for (rb, rs), (bb, bs), (h, w) in zip(raw["red"], raw["blue"], infos):
            lanes = []
            if len(rb):
                x = float(rb[0, 0])
                lanes.append(Lane(points=np.array([[x, h - 1], [x, h / 2]], np.float32), score=0.9, slot=1))
            drivable = np.full((h, w), 2, np.uint8)
            drivable[h * 3 // 4 :] = 0
            results.append(
                FrameResult(
                    objects=Detections(rb, rs, np.full(len(rb), 2)),
                    pedestrians=Detections(bb, bs, np.zeros(len(bb), np.int64)),
                    lanes=lanes,
                    drivable=drivable,
                )
            )
        return results

    def predict(self, images):
        batch, infos = self.preprocess(images)
        return self.postprocess(self.infer(batch), infos)


class PredictOnlyPredictor:
    """Only `predict`: the pipeline must fall back to running it whole in the inference thread."""

    def __init__(self) -> None:
        self.inner = ColourBoxPredictor()

    def predict(self, images):
        return self.inner.predict(images)


def read_video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
