import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from perception.deploy.export import export_onnx, load_export_model
from perception.deploy.half import convert_to_fp16
from perception.deploy.parity import ParityError, check_parity
from perception.runtime.metadata import KEY_CONFIG, read_metadata

IMGSZ = (128, 256)  # as the conftest's tiny model


def _run(path, batch):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": batch})))


def _torch(model, batch):
    with torch.no_grad():
        return {k: v.numpy() for k, v in model(torch.from_numpy(batch)).items()}


def test_export_matches_torch_with_dynamic_batch(tiny_model, tiny_onnx, random_batch):
    graph = onnx.load(str(tiny_onnx)).graph
    assert [i.name for i in graph.input] == ["images"]
    assert [o.name for o in graph.output] == tiny_model.output_names
    for batch in (random_batch[:1], random_batch):
        got, want = _run(tiny_onnx, batch), _torch(tiny_model, batch)
        assert set(got) == set(want)
        for name in want:
            assert got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def detection_only(tmp_path_factory):
    """A fresh model with lanes and drivable off, exported with a fixed batch of 3 (64x128 keeps it quick)."""
    from perception.config import ModelConfig
    from perception.models import build_model

    heads = {"objects": True, "pedestrians": True, "lanes": False, "drivable": False}
    model = build_model(ModelConfig(scale="n", imgsz=(64, 128), heads=heads)).eval().fuse()
    return model, export_onnx(model, tmp_path_factory.mktemp("det") / "det_only.onnx", batch=3, simplify=False)


def test_export_without_lane_and_drivable_heads(detection_only):
    model, path = detection_only
    batch = np.random.default_rng(2).standard_normal((3, 3, 64, 128)).astype(np.float32)
    got, want = _run(path, batch), _torch(model, batch)
    assert list(got) == ["obj_reg", "obj_cls", "ped_reg", "ped_cls"]
    assert ort.InferenceSession(str(path)).get_inputs()[0].shape[0] == 3  # fixed batch
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)


def test_dynamic_height_width(tmp_path):
    from perception.config import ModelConfig
    from perception.models import build_model

    heads = {"objects": True, "pedestrians": False, "lanes": True, "drivable": False}
    config = ModelConfig(scale="n", imgsz=(64, 128), heads=heads)
    model = build_model(config).eval().fuse()
    path = export_onnx(model, tmp_path / "dyn.onnx", dynamic=True, simplify=False)
    batch = np.random.default_rng(1).standard_normal((2, 3, 96, 160)).astype(np.float32)
    got, want = _run(path, batch), _torch(model, batch)
    assert got["lane"].shape == (2, config.lane_channels, 96, 160)
    assert got["obj_reg"].shape[1] == 12 * 20 + 6 * 10 + 3 * 5
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)
    assert read_metadata(path).dynamic_hw


def test_metadata_holds_the_whole_config(tiny_model, tiny_onnx):
    props = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    assert json.loads(props[KEY_CONFIG]) == tiny_model.config.to_dict()
    meta = read_metadata(tiny_onnx)
    assert meta.config.to_dict() == tiny_model.config.to_dict()
    assert meta.output_names == tiny_model.output_names
    assert meta.batch is None and not meta.dynamic_hw and meta.precision == "fp32"
    assert meta.class_names[2] == "car" and json.loads(props["input_size"]) == list(IMGSZ)


def test_parity_passes_and_fails_loudly(tiny_model, tiny_onnx, frames):
    summary = check_parity(tiny_onnx, tiny_model, frames)
    assert summary["passed"] and summary["images"] == len(frames)
    assert set(summary["max_abs_diff"]) == set(tiny_model.output_names)
    assert max(summary["max_rel_diff"].values()) <= 1e-3
    # the bound scales with the output: each difference over its output's largest magnitude (at least 1)
    assert summary["max_rel_diff"] == pytest.approx({name: diff / max(1.0, summary["max_magnitude"][name])
                                                     for name, diff in summary["max_abs_diff"].items()})
    other = load_export_model(model="n", imgsz=IMGSZ)  # different random weights: a wrong file
    with torch.no_grad():
        other.object_head.cls_preds[0].bias.add_(1.0)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(tiny_onnx, other, frames[:1])


def test_fp16_copy_is_smaller_and_close(detection_only, tmp_path):
    # (Not the tiny_model fixture: its rescaled prediction weights, ~1e5, are outside FP16's range.)
    _, path = detection_only
    half = convert_to_fp16(path, tmp_path / "det.fp16.onnx")
    assert half.stat().st_size < 0.6 * path.stat().st_size
    assert read_metadata(half).precision == "fp16"
    batch = np.random.default_rng(3).standard_normal((3, 3, 64, 128)).astype(np.float32)
    got, want = _run(half, batch), _run(path, batch)
    for name in want:
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], want[name], atol=0.05, rtol=0.01, err_msg=name)


def test_bad_arguments_are_one_line_errors(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(tiny_model, tmp_path / "x.onnx", opset=13)
    with pytest.raises(ValueError, match="--nms needs a fixed input size"):
        export_onnx(tiny_model, tmp_path / "x.onnx", dynamic=True, nms={"conf_threshold": 0.3, "iou_threshold": 0.5, "max_detections": 10})
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_export_model(weights=tmp_path / "missing.pt")
