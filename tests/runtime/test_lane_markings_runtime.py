"""The ONNX runtime gives lanes their style/colour/type and the crossings, as the PyTorch model does."""

from dataclasses import replace

import numpy as np

from perception.models.torch_predictor import TorchPredictor
from perception.postprocess import decode_outputs
from perception.runtime import OnnxPredictor


def test_onnx_lane_markings_and_crossings_equal_torch(runtime_model, runtime_onnx, runtime_frames):
    predictor = OnnxPredictor(runtime_onnx, providers="cpu", threads=1, warmup=False)
    assert {"lane_attr", "crossing"} <= set(predictor.output_names)
    reference = TorchPredictor(runtime_model)
    batch, infos = reference.preprocess(runtime_frames[:2])
    ort_raw, torch_raw = predictor.infer(batch), reference.infer(batch)
    np.testing.assert_allclose(ort_raw["lane_attr"], torch_raw["lane_attr"], atol=1e-3)
    np.testing.assert_allclose(ort_raw["crossing"], torch_raw["crossing"], atol=1e-3)
    # low thresholds (on a copy of the config) so the untrained model yields lanes and crossings to compare
    config = replace(runtime_model.config, lane_threshold=0.05, lane_min_rows=1)
    got, want = decode_outputs(ort_raw, config, infos), decode_outputs(torch_raw, config, infos)
    compared = 0
    for g, w in zip(got, want):
        assert [c.category for c in g.crossings] == [c.category for c in w.crossings]
        assert len(g.lanes) == len(w.lanes)
        for a, b in zip(g.lanes, w.lanes):
            assert (a.style, a.color, a.type) == (b.style, b.color, b.type) and a.style is not None
            np.testing.assert_allclose([a.style_score, a.color_score, a.type_score],
                                       [b.style_score, b.color_score, b.type_score], atol=1e-3)
            compared += 1
        assert "style" in g.to_json()["lanes"][0] and "crossings" in g.to_json()
    assert compared > 0
