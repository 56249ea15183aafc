import numpy as np
import pytest

from perception.models.torch_predictor import TorchPredictor
from perception.loading import load_predictor
from perception.runtime import OnnxPredictor

from parity import assert_detections_agree, flippable_per_image

KW = {"conf_threshold": 0.55, "iou_threshold": 0.5, "max_detections": 50}


def test_onnx_predictions_equal_torch_predictions(runtime_model, runtime_onnx, runtime_frames):
    onnx_predictor = load_predictor(runtime_onnx, providers="cpu", threads=2, **KW)
    assert isinstance(onnx_predictor, OnnxPredictor)
    assert onnx_predictor.config.to_dict() == runtime_model.config.to_dict()  # built from metadata alone
    torch_predictor = TorchPredictor(runtime_model, **KW)
    got, want = onnx_predictor.predict(runtime_frames), torch_predictor.predict(runtime_frames)
    assert len(got) == len(want) == 3  # 3 images through a fixed batch of 2: split and padded
    batch, _ = torch_predictor.preprocess(runtime_frames)
    flippable = flippable_per_image(torch_predictor.infer(batch), onnx_predictor.infer(batch), torch_predictor.config,
                                    KW["conf_threshold"], KW["iou_threshold"], KW["max_detections"])
    detections = 0
    for g, w, image, flips in zip(got, want, runtime_frames, flippable):
        for head in ("objects", "pedestrians"):
            # Raw outputs agree within ~1e-4 (the export's parity gate is 1e-3): boxes, in original-image pixels
            # after up-scaling from the letterbox, within 0.01 px; sigmoid scores within 1e-4. Detections whose
            # decision lies on a threshold may be missing on one side only (tests/parity.py).
            assert_detections_agree(getattr(g, head), getattr(w, head), sum(flips.get(head, {}).values()),
                                    box_atol=1e-2, score_atol=1e-4)
            detections += len(getattr(w, head))
        assert g.drivable.shape == image.shape[:2]
        # Argmax masks: only pixels whose top two logits are within the output difference can change; 0.1 %.
        assert (g.drivable != w.drivable).mean() < 1e-3 and (g.lane_mask != w.lane_mask).mean() < 1e-3
        assert [lane.slot for lane in g.lanes] == [lane.slot for lane in w.lanes]
    assert detections > 0
    assert set(onnx_predictor.latency_ms()) == {"preprocess", "inference", "postprocess"}


def test_fixed_size_model_refuses_other_sizes(runtime_onnx):
    with pytest.raises(ValueError, match="fixed input"):
        OnnxPredictor(runtime_onnx, providers="cpu", imgsz=(256, 256), warmup=False)


def test_non_perception_onnx_is_a_clear_error(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ValueError, match="foreign.onnx: ONNX model has no 'perception_config'"):
        OnnxPredictor(path, providers="cpu")
