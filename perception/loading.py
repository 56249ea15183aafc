"""Open whatever model file this is: `.pt` -> TorchPredictor, `.onnx` -> OnnxPredictor.

It sits above both predictors so neither they nor their base class know about each other; importing it does
not import torch (`.onnx` models run without it).
"""

from __future__ import annotations

from pathlib import Path

from perception.errors import InputError, MissingFileError
from perception.runtime.base_predictor import BasePredictor


def load_predictor(path: str | Path, **kwargs) -> BasePredictor:
    """`.pt` checkpoint -> TorchPredictor; `.onnx` -> OnnxPredictor (ONNX Runtime, no torch).

    kwargs: conf_threshold, iou_threshold, max_detections, masks, lane_masks, imgsz ((H, W): another input size,
    which an ONNX model must have been exported --dynamic for), and device ("cpu"/"cuda", torch; for ONNX it
    picks the provider) or providers / threads / spin / trt_cache_dir / trt_fp16 / trt_max_batch (ONNX Runtime).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        from perception.runtime.onnx_predictor import OnnxPredictor

        device = kwargs.pop("device", None)
        if device is not None:
            if kwargs.get("providers") is not None:
                raise InputError(f"--device {device} --providers {kwargs['providers']}: both choose where {path.name} "
                                 "runs; give one")
            if device != "cpu" and not device.startswith("cuda"):
                raise InputError(f"--device {device}: an ONNX model runs on cpu or cuda")
            # the CUDA provider falls back to the CPU with a warning when it cannot start
            kwargs["providers"] = "cpu" if device == "cpu" else "cuda"
        return OnnxPredictor(path, **kwargs)
    if path.suffix in (".pt", ".pth"):
        from perception.models.torch_predictor import TorchPredictor

        for key in ("providers", "threads", "spin", "trt_cache_dir", "trt_fp16", "trt_max_batch"):
            kwargs.pop(key, None)
        if kwargs.get("device") is None:
            kwargs.pop("device", None)
        return TorchPredictor.from_checkpoint(path, **kwargs)
    raise InputError(f"{path}: unknown model format {path.suffix!r}; expected .pt or .onnx")
