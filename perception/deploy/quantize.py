"""INT8 static quantization (QDQ, per-channel weights) calibrated on real images.

Follows ONNX Runtime's recipe: `quant_pre_process` (symbolic shape inference + graph optimisation) first, then
`quantize_static` with a CalibrationDataReader that feeds letterboxed, normalised images exactly as the runtime
does. Defaults target the CPU provider (uint8 activations, int8 per-channel weights: the U8S8 kernels of
x86/ARM). For TensorRT, pass `symmetric_activations=True` (int8 activations, symmetric), the QDQ form its
explicit-precision parser expects.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from perception.config import ModelConfig
from perception.deploy.export import save_onnx_atomically, set_metadata
from perception.errors import InputError, MissingFileError
from perception.imageio import read_images
from perception.preprocess import prepare_batch
from perception.runtime.metadata import ModelMetadata

# Ops left in float: the in-graph NMS tail (indices, thresholds, sorting) has nothing to gain from INT8.
NOT_QUANTIZED = ("NonMaxSuppression", "TopK", "Gather", "GatherElements", "Concat", "ArgMax", "Sigmoid", "Softplus")


def _calibration_reader(images: list[np.ndarray], config: ModelConfig, input_name: str, batch: int):
    from onnxruntime.quantization import CalibrationDataReader

    class LetterboxCalibrationReader(CalibrationDataReader):
        """Yields {input_name: (batch, 3, H, W) float32} batches, preprocessed like the runtime."""

        def __init__(self):
            self._batches = iter(
                prepare_batch(images[i : i + batch], config.imgsz, config.mean, config.std)[0]
                for i in range(0, len(images) - batch + 1, batch)
            )

        def get_next(self):
            chunk = next(self._batches, None)
            return None if chunk is None else {input_name: chunk}

    return LetterboxCalibrationReader()


def quantize_int8(
    src: str | Path,
    dst: str | Path,
    calib_dir: str | Path,
    count: int = 32,
    per_channel: bool = True,
    symmetric_activations: bool = False,
) -> dict:
    """Quantize the FP32 model `src` into `dst` with up to `count` images of `calib_dir`.

    Returns {"path", "calibration_images", "skipped_images"}. Raises FileNotFoundError/ValueError (one line,
    naming the folder or file) when there is nothing to calibrate on.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = Path(src)
    if not src.is_file():
        raise MissingFileError(f"{src}: ONNX model not found")
    proto = onnx.load(str(src))
    metadata = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, src)
    images, skipped = read_images(calib_dir, count)
    batch = metadata.batch or 1
    if len(images) < batch:
        raise InputError(f"{calib_dir}: {len(images)} readable image(s), the model's fixed batch needs {batch}")
    input_name = proto.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix=".quant.", dir=Path(dst).parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        # ONNX's own shape inference is enough for a CNN; ORT's symbolic pass is for transformers and gives
        # up ("Incomplete symbolic shape inference") on the dynamic batch axis of this graph.
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            _calibration_reader(images, metadata.config, input_name, batch),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QInt8 if symmetric_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=None,
            nodes_to_exclude=[n.name for n in onnx.load(str(prepared)).graph.node if n.op_type in NOT_QUANTIZED],
            extra_options={"ActivationSymmetric": symmetric_activations, "WeightSymmetric": True},
        )
        result = onnx.load(str(quantized))
    metadata.precision = "int8"
    set_metadata(result, metadata)
    save_onnx_atomically(result, dst)
    return {"path": str(dst), "calibration_images": len(images), "skipped_images": skipped}
