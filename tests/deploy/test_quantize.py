import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from perception.deploy.quantize import quantize_int8
from perception.runtime.metadata import read_metadata


@pytest.fixture(scope="module")
def calib_dir(frames, tmp_path_factory):
    folder = tmp_path_factory.mktemp("calib")
    for i, image in enumerate(frames):
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")  # counted and skipped, never silently dropped
    return folder


def test_int8_is_smaller_and_close_to_fp32(tiny_onnx, calib_dir, frames, tmp_path):
    from perception.preprocess import prepare_batch

    out = tmp_path / "tiny.int8.onnx"
    report = quantize_int8(tiny_onnx, out, calib_dir, count=8)
    assert report["calibration_images"] == len(frames)
    assert report["skipped_images"] == [str(calib_dir / "broken.jpg")]
    assert out.stat().st_size < 0.5 * tiny_onnx.stat().st_size
    meta = read_metadata(out)
    assert meta.precision == "int8"
    int8 = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert any(n.endswith("_QuantizeLinear") or "QuantizeLinear" in n for n in [n.name for n in _nodes(out)])
    fp32 = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    batch, _ = prepare_batch(frames[:1], meta.config.imgsz, meta.config.mean, meta.config.std)
    for name, a, b in zip([o.name for o in fp32.get_outputs()], fp32.run(None, {"images": batch}), int8.run(None, {"images": batch})):
        # Loose bound: the typical INT8 error is small next to each output's own variation.
        error = float(np.abs(a - b).mean())
        assert error <= 0.2 * float(a.std()) + 0.01, name


def _nodes(path):
    import onnx

    return onnx.load(str(path)).graph.node


def test_int8_without_images_is_a_clear_error(tiny_onnx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no readable images"):
        quantize_int8(tiny_onnx, tmp_path / "x.onnx", empty)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        quantize_int8(tiny_onnx, tmp_path / "x.onnx", tmp_path / "nowhere")
    assert not os.path.exists(tmp_path / "x.onnx")
