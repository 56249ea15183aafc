"""OnnxPredictor: the shared predictor interface over an ONNX Runtime session (torch-free).

Everything it needs (classes, input size, mean/std, strides, heads, thresholds) comes from the model's
metadata_props, so a deployed `.onnx` file runs on its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.errors import InputError
from perception.postprocess import decode_outputs
from perception.postprocess.decode import detections_to_original
from perception.runtime.base_predictor import BasePredictor
from perception.preprocess import LetterboxInfo
from perception.runtime.metadata import ModelMetadata
from perception.runtime.session import TRT_MAX_BATCH, DeviceBinding, create_session, uses_cuda, warm_up
from perception.structures import Detections, FrameResult

DETECTIONS = "detections"  # the in-graph NMS output: (N, 7) [batch, x1, y1, x2, y2, score, global class]


class OnnxPredictor(BasePredictor):
    """predict(list of RGB uint8 images) -> list[FrameResult], same results as TorchPredictor.

    providers: None/'auto' (TensorRT -> CUDA -> CPU, by actually starting them), 'cpu', 'cuda', ... .
    threads: intra-op threads. imgsz: only for models exported with dynamic H/W. trt_cache_dir / trt_fp16 /
    trt_max_batch: TensorRT's engine cache, fp16 engines and dynamic-batch profile (perception.runtime.session).
    Batches larger (or smaller) than a fixed-batch model's batch are split and padded transparently.
    """

    def __init__(
        self,
        path: str | Path,
        providers=None,
        threads: int | None = None,
        imgsz=None,
        optimization: str = "all",
        trt_cache_dir: str | Path | None = None,
        trt_fp16: bool = False,
        trt_max_batch: int = TRT_MAX_BATCH,
        warmup: bool = True,
        verbose: bool = True,
        spin: bool = True,
        **kwargs,
    ):
        self.path = Path(path)
        self.session = create_session(self.path, providers, threads, optimization, trt_cache_dir, trt_fp16, verbose, spin,
                                      trt_max_batch=trt_max_batch, imgsz=tuple(imgsz) if imgsz is not None else None)
        self.metadata = ModelMetadata.from_props(self.session.get_modelmeta().custom_metadata_map, self.path)
        config = self.metadata.config
        if imgsz is not None and tuple(imgsz) != tuple(config.imgsz):
            if not self.metadata.dynamic_hw:
                raise InputError(
                    f"{self.path}: exported for a fixed input of {tuple(config.imgsz)}, cannot run at {tuple(imgsz)}; "
                    "re-export with --dynamic or --imgsz"
                )
            config = type(config).from_dict(config.to_dict() | {"imgsz": list(imgsz)}, source=str(self.path))
        if self.metadata.nms is not None:
            self._check_nms_thresholds(kwargs)
        super().__init__(config, **kwargs)
        self.conf_adjustable = self.metadata.nms is None  # an NMS graph's threshold is baked in
        self.input = self.session.get_inputs()[0]
        self.input_dtype = np.float16 if "float16" in self.input.type else np.float32
        self.output_names = [o.name for o in self.session.get_outputs()]
        # one binding for the predictor's life: its device input buffer is reused call after call
        self.binding = DeviceBinding(self.session) if uses_cuda(self.session) else None
        if warmup:
            warm_up(self.session, self.metadata.batch or 1, self.imgsz)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def _check_nms_thresholds(self, kwargs: dict) -> None:
        """NMS thresholds are constants of an NMS graph: refuse silently different ones."""
        baked = self.metadata.nms
        for key in ("conf_threshold", "iou_threshold", "max_detections"):
            value = kwargs.get(key)
            if value is not None and not np.isclose(float(value), float(baked[key])):
                raise InputError(
                    f"{self.path}: {key}={value} differs from the {baked[key]} built into its NMS graph; "
                    "re-export with other --conf/--iou/--max-det, or export without --nms"
                )

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 3, H, W) float32 -> raw outputs by name (and `detections` for NMS graphs), batch B."""
        fixed = self.metadata.batch
        step = fixed or len(batch)
        chunks = []
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            real = len(chunk)
            if fixed and real < fixed:
                # A fixed-batch engine needs full batches: pad with copies of the last image, drop them after.
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - real, 0)])
            feed = {self.input.name: chunk.astype(self.input_dtype, copy=False)}
            values = self.binding.run(feed) if self.binding is not None else self.session.run(None, feed)
            outputs = dict(zip(self.output_names, values))
            chunks.append(_trim_chunk(outputs, real, start))
        return {name: np.concatenate([c[name] for c in chunks]) for name in self.output_names}

    def postprocess(self, outputs: dict[str, np.ndarray], infos: list[LetterboxInfo]) -> list[FrameResult]:
        if DETECTIONS not in outputs:
            return super().postprocess(outputs, infos)
        dense = {k: v for k, v in outputs.items() if k != DETECTIONS}
        results = super().postprocess(dense, infos)
        self._fill_detections(results, outputs[DETECTIONS], infos)
        return results

    def _fill_detections(self, results: list[FrameResult], dets: np.ndarray, infos: list[LetterboxInfo]) -> None:
        """Split the NMS graph's (N, 7) rows per image and head, keep the best `max_detections` of each head."""
        found = Detections(boxes=dets[:, 1:5], scores=dets[:, 5], classes=dets[:, 6].astype(np.int64))
        image_index = dets[:, 0].astype(np.int64)
        for b, (result, info) in enumerate(zip(results, infos)):
            for spec in self.config.detection_heads:
                head = found[(image_index == b) & np.isin(found.classes, spec.classes)]
                head = head[np.argsort(-head.scores, kind="stable")[: self.max_detections]]
                setattr(result, spec.task, detections_to_original(head, info))


def _trim_chunk(outputs: dict[str, np.ndarray], real: int, offset: int) -> dict[str, np.ndarray]:
    """Drop padded images from one chunk's outputs and shift `detections` batch indices to the full batch."""
    trimmed = {}
    for name, value in outputs.items():
        if name == DETECTIONS:
            value = value[value[:, 0] < real].copy()
            value[:, 0] += offset
            trimmed[name] = value
        else:
            trimmed[name] = value[:real]
    return trimmed
