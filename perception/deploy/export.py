"""PyTorch -> ONNX: the fused network (EMA weights), checked, simplified and self-describing.

The file carries everything the torch-free runtime needs in `metadata_props` (perception.runtime.metadata).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import onnx
import torch

from perception.atomic import atomic_path
from perception import __version__
from perception.classes import BDD100K_CLASSES
from perception.config import ModelConfig
from perception.errors import InputError
from perception.models import build_model, load_model, model_config_from_arg
from perception.models.network import MultiTaskNet
from perception.models.placement import zeros_input
from perception.runtime.metadata import ModelMetadata

INPUT_NAME = "images"
MIN_OPSET = 17


def load_export_model(
    weights: str | Path | None = None, model: str | None = None, imgsz: tuple[int, int] | None = None
) -> MultiTaskNet:
    """A fused, eval-mode network from a checkpoint (EMA weights when present) or a fresh one of a scale/YAML.

    imgsz (H, W) replaces the config's input size: it is the size the export is traced at and the runtime
    letterboxes to.
    """
    if weights is None and model is None:
        raise InputError("export: give --weights CHECKPOINT or --model SCALE|YAML")
    if weights is not None:
        net, config = load_model(weights)
        if imgsz is not None:
            config = ModelConfig.from_dict(config.to_dict() | {"imgsz": list(imgsz)}, source=str(weights))
            net.config = config
    else:
        overrides = {"imgsz": list(imgsz)} if imgsz is not None else {}
        # A fresh model is an export test; torchvision backbones must not try to download weights.
        net = build_model(model_config_from_arg(model, backbone_weights=None, **overrides))
    return net.eval().fuse()


def save_onnx_atomically(model_proto: onnx.ModelProto, path: str | Path) -> Path:
    """Write next to `path` then rename, so a reader never loads half a model."""
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(model_proto, str(tmp))
    return path


def set_metadata(model_proto: onnx.ModelProto, metadata: ModelMetadata) -> onnx.ModelProto:
    """Replace the perception entries of metadata_props (other entries are kept)."""
    props = metadata.to_props()
    kept = [p for p in model_proto.metadata_props if p.key not in props]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value
    return model_proto


def metadata_for(
    config: ModelConfig, output_names: list[str], batch: int | None, dynamic_hw: bool, nms: dict | None = None
) -> ModelMetadata:
    if nms is not None:
        # The graph's thresholds become the model's defaults so the runtime decodes exactly what the graph kept.
        config = ModelConfig.from_dict(config.to_dict() | nms, source="export")
    return ModelMetadata(
        config=config,
        output_names=list(output_names),
        batch=batch,
        dynamic_hw=dynamic_hw,
        precision="fp32",
        nms=nms,
        version=__version__,
        class_names=list(BDD100K_CLASSES),
    )


def export_onnx(
    model: MultiTaskNet,
    out: str | Path,
    batch: int | None = None,
    dynamic: bool = False,
    opset: int = MIN_OPSET,
    simplify: bool = True,
    nms: dict | None = None,
) -> Path:
    """Export a (fused, eval) MultiTaskNet to `out` at the size of `model.config.imgsz`.

    batch: None for a dynamic batch axis, or a fixed batch size (TensorRT engines prefer fixed shapes).
    dynamic: also make H and W dynamic axes (multiples of 32 at run time; not with `nms`).
    nms: {"conf_threshold", "iou_threshold", "max_detections"} to append decoding + NonMaxSuppression
    (perception.deploy.nms_graph); the outputs are then `detections`, `lane`, `drivable`.
    Returns the path; raises ValueError when the ONNX checker rejects the graph.
    """
    if opset < MIN_OPSET:
        raise InputError(f"--opset {opset}: need {MIN_OPSET} or newer")
    if batch is not None and batch < 1:
        raise InputError(f"--batch {batch}: must be >= 1 (or omitted for a dynamic batch)")
    if nms is not None and dynamic:
        raise InputError("--nms needs a fixed input size (its anchor points are constants); drop --dynamic")
    config = model.config
    module: torch.nn.Module = model.eval()
    if nms is not None:
        from perception.deploy.nms_graph import NMSExportWrapper

        module = NMSExportWrapper(model, **nms).eval()
    output_names = module.output_names
    dummy = zeros_input(model, batch or 1, tuple(config.imgsz))  # traced where the model is (a GPU, fp16)
    dynamic_axes = _dynamic_axes(output_names, batch, dynamic, nms is not None)
    out = Path(out)
    proto = trace_to_onnx(module, dummy, out.parent, opset, [INPUT_NAME], output_names, dynamic_axes)
    _check(proto, out)
    if simplify:
        proto = _simplify(proto)
        _check(proto, out)
    set_metadata(proto, metadata_for(config, output_names, batch, dynamic, nms))
    return save_onnx_atomically(proto, out)


def trace_to_onnx(module: torch.nn.Module, dummy: torch.Tensor, work_dir: Path, opset: int, input_names: list[str],
                  output_names: list[str], dynamic_axes: dict) -> onnx.ModelProto:
    """torch.onnx.export (TorchScript tracer, constant folding) of `module` on `dummy`, through a temp file in
    `work_dir` (created if missing), loaded back as a ModelProto."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".export.") as tmp:
        raw_path = Path(tmp) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # Tracer warnings about Python ints (strides, top-k) are expected: those values are constants.
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (dummy,), str(raw_path), dynamo=False, opset_version=opset, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes or None, do_constant_folding=True)
        return onnx.load(str(raw_path))


def _dynamic_axes(output_names: list[str], batch: int | None, dynamic: bool, nms: bool) -> dict[str, dict[int, str]]:
    """torch.onnx's dynamic_axes: batch (unless fixed), H and W (when `dynamic`), anchors and detections."""
    dynamic_axes = {}
    axes = {} if batch is not None else {0: "batch"}
    if dynamic:
        axes |= {2: "height", 3: "width"}
    if axes:
        dynamic_axes[INPUT_NAME] = dict(axes)
        for name in output_names:
            if name == "detections":
                dynamic_axes[name] = {0: "num_detections"}
            elif name in ("lane", "lane_attr", "crossing", "drivable"):
                dynamic_axes[name] = dict(axes)
            else:
                dynamic_axes[name] = {k: v for k, v in axes.items() if k == 0} | ({1: "anchors"} if dynamic else {})
    if nms:
        dynamic_axes.setdefault("detections", {0: "num_detections"})
    return dynamic_axes


def _check(proto: onnx.ModelProto, out: Path) -> None:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise InputError(f"{out}: exported graph fails the ONNX checker ({str(exc).splitlines()[0][:200]})") from None


def _simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Constant folding and dead-node removal with onnxslim (keeps the graph's inputs, outputs and shapes)."""
    import onnxslim

    return onnxslim.slim(proto)
