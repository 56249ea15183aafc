"""postprocess.boxes.box_iou: the one IoU of the package (NMS, matching, tracking, evaluation)."""

import numpy as np
import pytest
import torch
import torchvision

from perception.postprocess.boxes import box_iou


def test_box_iou_matches_hand_computation():
    a = np.array([[0, 0, 10, 10], [0, 0, 4, 4]], np.float32)
    b = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(25 / 175)
    assert iou[0, 1] == pytest.approx(1.0)
    assert iou[1, 1] == pytest.approx(16 / 100)
    assert iou[0, 2] == 0


def test_box_iou_equals_torchvision_on_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (2, 50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 60, (2, 50, 2))], 2)
    ours = box_iou(boxes[0], boxes[1])
    ref = torchvision.ops.box_iou(torch.from_numpy(boxes[0]), torch.from_numpy(boxes[1])).numpy()
    assert ours.dtype == np.float64  # float64 in, float64 out (evaluation, like pycocotools)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    assert box_iou(boxes[0].astype(np.float32), boxes[1].astype(np.float32)).dtype == np.float32  # NMS


def test_a_box_inside_a_crowd_region_overlaps_it_fully():
    # pycocotools' iscrowd rule (and CityPersons' ignore regions): inter / area(detection), whatever the region's size
    det = np.array([[10, 10, 20, 20], [0, 0, 20, 20]], np.float64)
    region = np.array([[0, 0, 100, 100], [15, 0, 25, 20]], np.float64)
    plain = box_iou(det, region)
    crowd = box_iou(det, region, crowd=np.array([True, False]))
    assert plain[0, 0] == pytest.approx(100 / 10000) and crowd[0, 0] == 1.0
    assert crowd[1, 0] == 1.0  # the whole detection lies inside the region
    np.testing.assert_array_equal(crowd[:, 1], plain[:, 1])  # not a crowd box: plain IoU
    assert crowd[0, 1] == pytest.approx(50 / (100 + 200 - 50))
