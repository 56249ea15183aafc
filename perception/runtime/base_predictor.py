"""The predictor interface shared by PyTorch checkpoints (models/torch_predictor.py) and ONNX models
(runtime/onnx_predictor.py); `perception.loading.load_predictor` picks one by file type.

A predictor has `predict(images) -> list[FrameResult]` and the three stages
(`preprocess`, `infer`, `postprocess`) so the video pipeline can run them in separate threads. Importing
this module does not import torch: `.onnx` models run without it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from perception.config import ModelConfig
from perception.postprocess import decode_outputs
from perception.preprocess import LetterboxInfo, prepare_batch
from perception.structures import FrameResult
from perception.timing import Timings


class BasePredictor:
    """Letterbox + normalise, run the model (`infer`, per subclass), decode with the shared postprocess."""

    def __init__(self, config: ModelConfig, conf_threshold=None, iou_threshold=None, max_detections=None, masks=True,
                 lane_masks=None):
        self.config = config
        self.imgsz = tuple(config.imgsz)
        self.conf_threshold = config.conf_threshold if conf_threshold is None else conf_threshold
        self.iou_threshold = config.iou_threshold if iou_threshold is None else iou_threshold
        self.max_detections = config.max_detections if max_detections is None else max_detections
        self.masks = masks
        self.lane_masks = lane_masks
        # whether conf_threshold may be lowered after loading (the video tool's tracker decodes weak boxes)
        self.conf_adjustable = True
        # Milliseconds per call of each stage, for latency reports (bounded: see Timings).
        self.timings: dict[str, Timings] = defaultdict(Timings)

    def preprocess(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[LetterboxInfo]]:
        """RGB uint8 images of any size -> (B, 3, H, W) float32 batch and the letterbox of each."""
        with self.timings["preprocess"].measure():
            return prepare_batch(images, self.imgsz, self.config.mean, self.config.std)

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def timed_infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        with self.timings["inference"].measure():
            return self.infer(batch)

    def postprocess(self, outputs: dict[str, np.ndarray], infos: list[LetterboxInfo]) -> list[FrameResult]:
        with self.timings["postprocess"].measure():
            return decode_outputs(
                outputs, self.config, infos, self.conf_threshold, self.iou_threshold, self.max_detections, self.masks,
                self.lane_masks,
            )

    def predict(self, images: list[np.ndarray]) -> list[FrameResult]:
        batch, infos = self.preprocess(images)
        return self.postprocess(self.timed_infer(batch), infos)

    def latency_ms(self) -> dict[str, float]:
        """Median milliseconds per call of each stage over its recent calls (Timings.window)."""
        return {stage: t.median() for stage, t in self.timings.items() if t.count}
