import numpy as np
import onnx
import torch

from perception.deploy.export import export_onnx
from perception.models.torch_predictor import TorchPredictor
from perception.runtime import OnnxPredictor

from parity import assert_detections_agree, flippable_per_image

THRESHOLDS = {"conf_threshold": 0.6, "iou_threshold": 0.5, "max_detections": 60}


def test_nms_graph_equals_numpy_decoding(tiny_model, tiny_onnx, frames, tmp_path):
    path = export_onnx(tiny_model, tmp_path / "nms.onnx", nms=THRESHOLDS)
    graph = onnx.load(str(path)).graph
    assert "NonMaxSuppression" in {n.op_type for n in graph.node}
    assert [o.name for o in graph.output] == ["detections", "lane", "lane_attr", "crossing", "drivable"]

    graph_predictor = OnnxPredictor(path, providers="cpu", threads=2, warmup=False)
    reference = TorchPredictor(tiny_model, **THRESHOLDS)
    batch, infos = reference.preprocess(frames)
    graph_out, raw = graph_predictor.infer(batch), reference.infer(batch)
    detections = graph_out["detections"]
    assert detections.shape[1] == 7 and np.all(np.diff(detections[:, 5]) <= 0)  # sorted by score

    # The graph decodes ONNX Runtime's outputs, the reference PyTorch's: detections whose threshold, class or NMS
    # decision the two runtimes' raw outputs (the plain export's, same network) put on different sides may be
    # missing on one side (tests/parity.py); paired boxes within 1e-3 px, scores within 1e-5.
    ort_raw = OnnxPredictor(tiny_onnx, providers="cpu", threads=2, warmup=False).infer(batch)
    flippable = flippable_per_image(raw, ort_raw, tiny_model.config, THRESHOLDS["conf_threshold"],
                                    THRESHOLDS["iou_threshold"], THRESHOLDS["max_detections"])
    total = 0
    for got, want, flips in zip(graph_predictor.postprocess(graph_out, infos), reference.postprocess(raw, infos),
                                flippable):
        for head in ("objects", "pedestrians"):
            g, w = getattr(got, head), getattr(want, head)
            assert_detections_agree(g, w, sum(flips.get(head, {}).values()), box_atol=1e-3, score_atol=1e-5)
            total += len(w)
        np.testing.assert_array_equal(got.drivable, want.drivable)
        assert len(got.lanes) == len(want.lanes)
    # The comparison means something: boxes survived, and NMS removed some of the candidates above threshold.
    assert total > 0
    above = sum((1 / (1 + np.exp(-raw[k].max(-1))) > THRESHOLDS["conf_threshold"]).sum() for k in ("obj_cls", "ped_cls"))
    assert above > len(detections)


def test_nms_wrapper_runs_eagerly(tiny_model, frames):
    from perception.deploy.nms_graph import NMSExportWrapper

    wrapper = NMSExportWrapper(tiny_model, **THRESHOLDS).eval()
    batch, _ = TorchPredictor(tiny_model).preprocess(frames[:1])
    with torch.no_grad():
        out = wrapper(torch.from_numpy(batch))
    dets = out["detections"].numpy()
    assert dets.shape[1] == 7 and set(np.unique(dets[:, 0])) == {0.0}
    assert np.all(dets[:, 5] > THRESHOLDS["conf_threshold"])
