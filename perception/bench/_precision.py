"""INT8 (QDQ, static calibration) and FP16 variants of an exported fp32 ONNX model.

Private stop-gap: the deploy module owns precision conversion; the benchmark switches to it once it exists.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from perception.deploy.export import save_onnx_atomically
from perception.runtime.metadata import KEY_PRECISION


def _with_precision(proto: onnx.ModelProto, source: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    """Carry the fp32 file's metadata_props over (quantizers drop some) and record the precision."""
    props = {p.key: p.value for p in source.metadata_props} | {p.key: p.value for p in proto.metadata_props}
    props[KEY_PRECISION] = precision
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def quantize_int8(fp32_path: str | Path, out: str | Path, calibration: list[np.ndarray]) -> Path:
    """Static INT8 in QDQ format (per-channel int8 weights, uint8 activations), calibrated with MinMax on
    `calibration`: a list of (1, 3, H, W) float32 network inputs."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ValueError(f"{fp32_path}: INT8 calibration needs at least one image")
    fp32_path, out = Path(fp32_path), Path(out)
    source = onnx.load(str(fp32_path))
    input_name = source.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._items = iter([{input_name: x} for x in calibration])

        def get_next(self):
            return next(self._items, None)

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".int8.") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        # Shape inference + graph optimisation first, as ONNX Runtime's quantization guide recommends.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        proto = onnx.load(str(quantized))
    return save_onnx_atomically(_with_precision(proto, source, "int8"), out)


def convert_fp16(fp32_path: str | Path, out: str | Path) -> Path:
    """FP16 weights and activations with float32 inputs/outputs (keep_io_types), for GPU providers."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = onnx.load(str(fp32_path))
    proto = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    return save_onnx_atomically(_with_precision(proto, source, "fp16"), out)
