"""COCO AP must equal pycocotools' COCOeval on the same detections."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from perception.evaluation.detection import DetectionAccumulator

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

CLASSES = {0: "pedestrian", 2: "car", 3: "truck", 9: "traffic sign"}


def _random_image(rng: np.random.Generator):
    """Realistic detections: jittered copies of the gts, duplicates, wrong classes and pure noise."""
    num_gt = int(rng.integers(0, 9))
    xy = rng.uniform(0, 500, (num_gt, 2))
    wh = rng.uniform(8, 150, (num_gt, 2))
    gt_boxes = np.concatenate([xy, xy + wh], 1)
    gt_classes = rng.choice(list(CLASSES), num_gt)
    boxes, scores, classes = [], [], []
    for box, cls in zip(gt_boxes, gt_classes):
        for _ in range(int(rng.integers(0, 3))):
            jitter = rng.normal(0, 0.08, 4) * np.r_[box[2:] - box[:2], box[2:] - box[:2]]
            boxes.append(box + jitter)
            scores.append(rng.uniform(0.05, 1.0))
            classes.append(cls if rng.random() > 0.15 else rng.choice(list(CLASSES)))
    for _ in range(int(rng.integers(0, 30))):
        xy = rng.uniform(0, 500, 2)
        boxes.append(np.r_[xy, xy + rng.uniform(5, 120, 2)])
        scores.append(rng.uniform(0.001, 0.6))
        classes.append(rng.choice(list(CLASSES)))
    ignore = []
    if rng.random() < 0.4:
        xy = rng.uniform(0, 400, 2)
        ignore.append(np.r_[xy, xy + rng.uniform(40, 200, 2)])
        # detections inside the crowd region: must not be false positives
        for _ in range(3):
            inner = np.r_[xy + 5, xy + 30]
            boxes.append(inner)
            scores.append(rng.uniform(0.1, 0.9))
            classes.append(rng.choice(list(CLASSES)))
    return (
        gt_boxes.reshape(-1, 4),
        np.asarray(gt_classes, np.int64),
        np.asarray(boxes, np.float64).reshape(-1, 4),
        np.asarray(scores, np.float64),
        np.asarray(classes, np.int64),
        np.asarray(ignore, np.float64).reshape(-1, 4),
    )


def _coco_eval(images, max_det: int) -> np.ndarray:
    gt = {"images": [], "annotations": [], "categories": [{"id": c + 1, "name": n} for c, n in CLASSES.items()]}
    results = []
    for img_id, (gb, gc, db, ds, dc, ig) in enumerate(images, start=1):
        gt["images"].append({"id": img_id, "width": 640, "height": 640})
        for box, cls in zip(gb, gc):
            w, h = box[2:] - box[:2]
            gt["annotations"].append(
                {"id": len(gt["annotations"]) + 1, "image_id": img_id, "category_id": int(cls) + 1,
                 "bbox": [*box[:2], w, h], "area": w * h, "iscrowd": 0}
            )
        for box in ig:  # a class-agnostic ignore region = a crowd box of every class
            w, h = box[2:] - box[:2]
            for cls in CLASSES:
                gt["annotations"].append(
                    {"id": len(gt["annotations"]) + 1, "image_id": img_id, "category_id": cls + 1,
                     "bbox": [*box[:2], w, h], "area": w * h, "iscrowd": 1}
                )
        for box, score, cls in zip(db, ds, dc):
            results.append({"image_id": img_id, "category_id": int(cls) + 1,
                            "bbox": [*box[:2], *(box[2:] - box[:2])], "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        dets = coco.loadRes(results)
        ev = COCOeval(coco, dets, "bbox")
        ev.params.maxDets = [max_det]
        ev.evaluate()
        ev.accumulate()
    return ev.eval


@pytest.mark.parametrize("seed,max_det", [(0, 100), (1, 100), (2, 5)])
def test_equals_pycocotools(seed, max_det):
    rng = np.random.default_rng(seed)
    images = [_random_image(rng) for _ in range(25)]
    acc = DetectionAccumulator(CLASSES, max_detections=max_det)
    for gb, gc, db, ds, dc, ig in images:
        acc.update(db, ds, dc, gb, gc, ignore_boxes=ig)
    ours = acc.summary()
    ref = _coco_eval(images, max_det)
    precision = ref["precision"][:, :, :, 0, -1]  # (T, R, K) area 'all', maxDets max_det
    recall = ref["recall"][:, :, 0, -1]  # (T, K)
    valid = precision > -1
    ref_map = precision[valid].mean()
    ref_map50 = precision[0][valid[0]].mean()
    assert ours["map50_95"] == pytest.approx(ref_map, abs=1e-3)
    assert ours["map50"] == pytest.approx(ref_map50, abs=1e-3)
    for k, cls in enumerate(CLASSES):
        name = CLASSES[cls]
        if recall[0, k] < 0:
            assert name not in ours["per_class"]
            continue
        got = ours["per_class"][name]
        assert got["ap50"] == pytest.approx(precision[0, :, k].mean(), abs=1e-6)
        assert got["ap50_95"] == pytest.approx(precision[:, :, k].mean(), abs=1e-6)
        assert got["recall50"] == pytest.approx(recall[0, k], abs=1e-6)
        assert got["ar"] == pytest.approx(recall[:, k].mean(), abs=1e-6)
    # the random case must be non-trivial: neither perfect nor empty
    assert 0.1 < ours["map50"] < 0.95


def test_perfect_detections_give_ap_one():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 60, 50]], float)
    acc = DetectionAccumulator({2: "car"})
    acc.update(boxes, [0.9, 0.8], [2, 2], boxes, [2, 2])
    out = acc.summary()
    assert out["map50"] == pytest.approx(1.0) and out["map50_95"] == pytest.approx(1.0)


def test_detection_in_ignore_region_is_not_false_positive():
    gt = np.array([[0, 0, 10, 10]], float)
    dets = np.array([[100, 100, 110, 110], [0, 0, 10, 10]], float)
    acc = DetectionAccumulator({2: "car"})
    # the higher-scored detection sits inside an ignore region: without it AP would be < 1
    acc.update(dets, [0.9, 0.8], [2, 2], gt, [2], ignore_boxes=np.array([[90, 90, 200, 200]], float))
    assert acc.summary()["map50"] == pytest.approx(1.0)
