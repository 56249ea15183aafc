"""What an exported ONNX model says about itself (`metadata_props`), written by `perception.deploy.export`.

The runtime builds its whole configuration from these entries, so a deployed `.onnx` file is self-describing:
no checkpoint, YAML or torch is needed to run it. All values are strings (ONNX's rule); structured values
are JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perception.config import ModelConfig
from perception.errors import InputError, MissingFileError

# Keys of metadata_props. The schema is documented in export/README.md.
KEY_CONFIG = "perception_config"  # ModelConfig.to_dict() as JSON: the source of truth for decoding
KEY_VERSION = "perception_version"
KEY_CLASS_NAMES = "class_names"  # JSON list, global class index -> name
KEY_INPUT_SIZE = "input_size"  # JSON [H, W] used at export (the size to letterbox to)
KEY_MEAN = "mean"
KEY_STD = "std"
KEY_OBJECT_STRIDES = "object_strides"
KEY_PEDESTRIAN_STRIDES = "pedestrian_strides"
KEY_HEADS = "heads"  # JSON {task: bool}
KEY_LANE_SLOTS = "lane_slots"
KEY_OUTPUT_NAMES = "output_names"  # JSON list, in graph order
KEY_BATCH = "batch"  # "dynamic" or the fixed batch size
KEY_DYNAMIC_HW = "dynamic_hw"  # "true" when H and W are dynamic axes
KEY_PRECISION = "precision"  # fp32 | fp16 | int8
KEY_NMS = "nms"  # JSON {"conf_threshold", "iou_threshold", "max_detections"} when NMS is in the graph, else absent


@dataclass
class ModelMetadata:
    """The parsed metadata of one exported model."""

    config: ModelConfig
    output_names: list[str]
    batch: int | None  # None: dynamic batch
    dynamic_hw: bool
    precision: str = "fp32"
    nms: dict[str, float] | None = None
    version: str = ""
    class_names: list[str] = field(default_factory=list)

    def to_props(self) -> dict[str, str]:
        """The metadata_props entries (all strings) that describe this model."""
        cfg = self.config
        props = {
            KEY_CONFIG: json.dumps(cfg.to_dict()),
            KEY_VERSION: self.version,
            KEY_CLASS_NAMES: json.dumps(self.class_names),
            KEY_INPUT_SIZE: json.dumps(list(cfg.imgsz)),
            KEY_MEAN: json.dumps(list(cfg.mean)),
            KEY_STD: json.dumps(list(cfg.std)),
            KEY_OBJECT_STRIDES: json.dumps(list(cfg.object_strides)),
            KEY_PEDESTRIAN_STRIDES: json.dumps(list(cfg.pedestrian_strides)),
            KEY_HEADS: json.dumps(cfg.heads),
            KEY_LANE_SLOTS: str(cfg.lane_slots),
            KEY_OUTPUT_NAMES: json.dumps(self.output_names),
            KEY_BATCH: "dynamic" if self.batch is None else str(self.batch),
            KEY_DYNAMIC_HW: "true" if self.dynamic_hw else "false",
            KEY_PRECISION: self.precision,
        }
        if self.nms is not None:
            props[KEY_NMS] = json.dumps(self.nms)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str | Path = "model") -> "ModelMetadata":
        """Parse metadata_props; raises ValueError naming `source` when an entry is missing or invalid."""
        if KEY_CONFIG not in props:
            raise InputError(
                f"{source}: ONNX model has no '{KEY_CONFIG}' metadata; export it with `perception export`"
            )
        try:
            config_dict: dict[str, Any] = json.loads(props[KEY_CONFIG])
            output_names = json.loads(props[KEY_OUTPUT_NAMES])
            batch_text = props.get(KEY_BATCH, "dynamic")
            nms = json.loads(props[KEY_NMS]) if KEY_NMS in props else None
            class_names = json.loads(props.get(KEY_CLASS_NAMES, "[]"))
        except (json.JSONDecodeError, KeyError) as exc:
            raise InputError(f"{source}: corrupt perception metadata ({exc.__class__.__name__}: {exc})") from None
        config = ModelConfig.from_dict(config_dict, source=f"{source} metadata")
        return cls(
            config=config,
            output_names=list(output_names),
            batch=None if batch_text == "dynamic" else int(batch_text),
            dynamic_hw=props.get(KEY_DYNAMIC_HW, "false") == "true",
            precision=props.get(KEY_PRECISION, "fp32"),
            nms=nms,
            version=props.get(KEY_VERSION, ""),
            class_names=list(class_names),
        )


def read_metadata(path: str | Path) -> ModelMetadata:
    """Metadata of an ONNX file without building a session (reads the header via onnxruntime)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: ONNX model not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise InputError(f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0][:160]})") from None
    return ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, path)
