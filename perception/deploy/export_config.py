"""What one `perception export` job does, as data: torch-free, so the CLI builds its flags without loading the
exporter (perception/deploy/export_job.py runs it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from perception.config import ConfigBase, check_at_least, option
from perception.errors import InputError

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class ExportConfig(ConfigBase):
    """Everything one `perception export` job does: `out` from `model` (a training checkpoint, or a fresh model
    of a scale or YAML), at `imgsz`, then parity, and the optional FP16 / INT8 siblings (`<out>.fp16.onnx`,
    `<out>.int8.onnx`). Fields with help text are the command's flags (cli/common.add_config_flags)."""

    SECTION: ClassVar[str] = "export"

    model: str | None = option(None, "a training checkpoint (.pt; EMA weights are used when present), or n|s|m or a "
                               "model YAML to export a freshly initialised model", metavar="CKPT|SCALE|YAML")
    out: str = option("model.onnx", "output .onnx file", metavar="PATH", required=True)
    imgsz: tuple[int, int] | None = option(None, "input size (default: the model's)")
    batch: int | None = option(None, "fixed batch size (default: dynamic batch axis)")
    dynamic: bool = option(False, "also make height and width dynamic")
    opset: int = option(17, "ONNX opset (>= 17)")
    half: bool = option(False, "also write <out>.fp16.onnx for GPU providers")
    int8: bool = option(False, "also write <out>.int8.onnx (static QDQ, per-channel)")
    calib: str | None = option(None, "image folder for --int8 calibration and its verdict, and for the parity check",
                               metavar="DIR")
    calib_count: int = option(32, "calibration images to use")
    nms: bool = option(False, "decode boxes and run NonMaxSuppression inside the graph")
    # The in-graph NMS thresholds; None: the model's own (its ModelConfig).
    conf: float | None = option(None, "--nms score threshold (default: the model's)")
    iou: float | None = option(None, "--nms IoU threshold (default: the model's)")
    max_det: int | None = option(None, "--nms detections per class and image")
    simplify: bool = option(True, "onnxslim simplification (--no-simplify skips it)")
    threads: int = option(2, "CPU threads for parity and latency")
    latency_runs: int = 10

    def validate(self) -> None:
        if self.int8 and self.calib is None:
            raise InputError("--int8 needs --calib DIR (a folder of calibration images)")
        check_at_least(self, 1, "batch", "calib_count", "threads", "latency_runs", "max_det")
        check_at_least(self, 17, "opset")

    @property
    def checkpoint(self) -> str | None:
        """`model` when it names a checkpoint (a .pt/.pth path, or any existing file but a YAML), else None (a
        scale or a model YAML: a fresh model)."""
        if not self.model:
            return None
        path = Path(self.model)
        is_file = path.suffix in CHECKPOINT_SUFFIXES or (path.is_file() and path.suffix not in (".yaml", ".yml"))
        return self.model if is_file else None

    def nms_thresholds(self) -> dict | None:
        return {"conf_threshold": self.conf, "iou_threshold": self.iou, "max_detections": self.max_det} if self.nms else None
