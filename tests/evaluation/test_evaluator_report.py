"""The Evaluator scores only labelled tasks, and the report writes its files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perception.config import ConfigError
from perception.evaluation import EvalConfig, Evaluator
from perception.evaluation.report import write_report
from perception.evaluation.worst import WorstImages
from perception.structures import Detections, FrameResult, Lane, Sample

ALL = {"objects": True, "pedestrians": True, "lanes": True, "drivable": True}


def _sample(rng: np.random.Generator, index: int, labelled=ALL) -> tuple[Sample, FrameResult]:
    h, w = 120, 200
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 50, 40], [60, 20, 120, 60], [130, 10, 150, 80], [160, 30, 190, 100]], np.float32)
    classes = np.array([2, 3, 0, 0])  # car, truck, two pedestrians 70 px tall
    lanes = [np.array([[40, 119], [80, 40]], np.float32), np.array([[160, 119], [120, 40]], np.float32)]
    drivable = np.full((h, w), 2, np.uint8)
    drivable[80:, 40:160] = 0
    drivable[:5] = 255
    gt = Sample(image=image, boxes=boxes, classes=classes, lanes=lanes, drivable=drivable,
                visibility=np.ones(4, np.float32), labelled=labelled, path=f"img_{index}.jpg", source="synthetic")
    # the truck is predicted as a car on odd images; one spurious low-score car everywhere
    obj_cls = np.array([2, 3 if index % 2 == 0 else 2, 2])
    obj = Detections(np.r_[boxes[:2] + 1, [[170, 100, 190, 115]]], [0.9, 0.8, 0.3], obj_cls)
    peds = Detections(boxes[2:] + rng.normal(0, 1, (2, 4)), [0.95, 0.7], [0, 0])
    pred_drivable = drivable.copy()
    pred_drivable[pred_drivable == 255] = 2
    pred_drivable[100:, 40:60] = 2
    pred = FrameResult(objects=obj, pedestrians=peds, lanes=[Lane(lanes[0] + [index, 0], 0.9, 3)],
                       drivable=pred_drivable, lane_mask=None)
    return gt, pred


def test_only_labelled_tasks_are_scored():
    rng = np.random.default_rng(0)
    ev = Evaluator(EvalConfig())
    gt, pred = _sample(rng, 0, labelled={"pedestrians": True})
    ev.update(pred, gt)
    out = ev.summary()
    assert out["objects"] is None and out["lanes"] is None and out["drivable"] is None
    assert out["pedestrians"]["reasonable"]["num_gt"] == 2
    assert out["images_per_task"] == {"objects": 0, "pedestrians": 1, "lanes": 0, "drivable": 0}


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ConfigError, match="eval.tasks: unknown evaluation task"):
        EvalConfig(tasks=("objects", "depth"))


def test_summary_values_and_report_files(tmp_path):
    rng = np.random.default_rng(1)
    worst = WorstImages(k=4, width=160)
    ev = Evaluator(EvalConfig(vehicle_protocol=True), worst=worst)
    per_image = [ev.update(*reversed(_sample(rng, i))) for i in range(6)]
    assert all(0.0 <= s["score"] <= 1.0 for s in per_image)
    out = ev.summary()
    per_class = out["objects"]["per_class"]
    assert set(per_class) == {"pedestrian", "car", "truck"}
    assert per_class["pedestrian"]["ap50"] == pytest.approx(1.0)
    # truck found on 3 of 6 images, ranked above nothing wrong -> AP50 = recall = 0.5 (envelope 1 up to 0.5)
    assert per_class["truck"]["recall50"] == pytest.approx(0.5)
    assert per_class["truck"]["ap50"] == pytest.approx(51 / 101)
    # vehicle protocol: car/truck confusion disappears, the low-score spurious car stays a FP at the end
    assert out["vehicle"]["recall50"] == pytest.approx(1.0) and out["vehicle"]["map50"] == pytest.approx(1.0)
    names = out["objects"]["confusion"]["names"]
    matrix = np.array(out["objects"]["confusion"]["matrix"])
    assert matrix[names.index("truck"), names.index("car")] == 3
    assert matrix[names.index("truck"), names.index("truck")] == 3
    assert out["drivable"]["iou"]["alternative"] is None  # absent from gt and prediction
    assert out["drivable"]["iou"]["direct"] == pytest.approx((40 * 120 - 20 * 20) / (40 * 120))
    assert 0 < out["lanes"]["pixel"]["iou"] < 1 and out["lanes"]["culane"]["tp"] >= 1

    report = write_report(tmp_path, out, meta={"weights": "w.onnx"}, latency={"median_ms_per_image": 3.5, "what": "x"},
                          worst=worst)
    for name in ("report.json", "report.md", "pr_curves.png", "confusion_matrix.png", "miss_rate_fppi.png",
                 "worst_images.png", "vehicle_pr.png"):
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 200, name
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["metrics"]["objects"]["map50"] == pytest.approx(out["objects"]["map50"])
    assert len(data["worst_images"]) == 4
    assert data["worst_images"][0]["score"] <= data["worst_images"][-1]["score"]
    md = (tmp_path / "report.md").read_text()
    assert "| **mean** |" in md and "MR^-2" in md and "mIoU" in md
    assert report["figures"]["worst_images"].endswith("worst_images.png")
