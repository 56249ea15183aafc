"""MR^-2 and AP50 of the CityPersons protocol on a case computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perception.evaluation.pedestrian import FPPI_POINTS, PedestrianAccumulator, log_average_miss_rate


def _two_images() -> PedestrianAccumulator:
    acc = PedestrianAccumulator(person_class=0, ignore_classes=(1,))
    # image A: p1 reasonable, p2 too occluded for 'reasonable' (vis 0.5) but in 'all'
    gt_a = np.array([[0, 0, 30, 100], [100, 0, 130, 60]], float)
    dets_a = np.array(
        [
            [500, 0, 510, 15],  # 15 px tall: dropped before matching (< 50/1.25 and < 20/1.25)
            [0, 0, 30, 100],  # matches p1
            [100, 0, 130, 60],  # matches p2
            [300, 0, 330, 100],  # false positive
        ],
        float,
    )
    acc.update(dets_a, [0.99, 0.9, 0.8, 0.7], [0, 0, 0, 0], gt_a, [0, 0], [1.0, 0.5])
    # image B: p3 detected, p4 missed, a rider (ignored class) with a detection on it
    gt_b = np.array([[0, 0, 40, 120], [400, 0, 440, 100], [200, 0, 240, 100]], float)
    dets_b = np.array([[200, 0, 240, 100], [0, 0, 40, 120], [600, 0, 640, 100], [0, 0, 40, 120]], float)
    # the last detection is class 1 (rider): not a pedestrian prediction, never counted
    acc.update(dets_b, [0.95, 0.6, 0.5, 0.97], [0, 0, 0, 1], gt_b, [0, 0, 1], [1.0, 1.0, 1.0])
    return acc


def test_mr2_and_ap50_hand_computed():
    out = _two_images().summary()
    # reasonable: gts p1, p3, p4; counted detections by score: TP, FP, TP, FP over 2 images
    # recall 1/3 up to FPPI 0.5, then 2/3: the 7 reference FPPIs below 0.5 read miss rate 2/3
    expected = math.exp((7 * math.log(2 / 3) + 2 * math.log(1 / 3)) / 9)
    assert out["reasonable"]["num_gt"] == 3
    assert out["reasonable"]["mr2"] == pytest.approx(expected, abs=1e-9)
    # envelope precision 1 up to recall 1/3 (34 points), 2/3 up to recall 2/3 (33 points)
    assert out["reasonable"]["ap50"] == pytest.approx((34 + 33 * 2 / 3) / 101, abs=1e-9)
    assert out["reasonable"]["recall"] == pytest.approx(2 / 3)
    # all: p2 counts too: TP, TP, FP, TP, FP -> miss 0.5 until FPPI 0.5, then 0.25
    expected_all = math.exp((7 * math.log(0.5) + 2 * math.log(0.25)) / 9)
    assert out["all"]["num_gt"] == 4
    assert out["all"]["mr2"] == pytest.approx(expected_all, abs=1e-9)


def test_perfect_detector_has_zero_miss_rate_and_no_gt_gives_none():
    acc = PedestrianAccumulator()
    gt = np.array([[0, 0, 40, 100]], float)
    acc.update(gt, [0.9], [0], gt, [0], [1.0])
    out = acc.summary()
    assert out["reasonable"]["mr2"] < 1e-9 and out["reasonable"]["ap50"] == pytest.approx(1.0)
    empty = PedestrianAccumulator()
    empty.update(np.zeros((0, 4)), [], [], np.zeros((0, 4)), [], [])
    assert empty.summary()["reasonable"] is None


def test_log_average_reads_curve_at_reference_points():
    # a detector that never reaches FPPI 0.01 before its first false positive reads miss rate 1 there
    fppi = np.array([0.5, 1.0])
    miss = np.array([0.5, 0.5])
    mr, sampled = log_average_miss_rate(miss, fppi)
    assert len(FPPI_POINTS) == 9 and sampled[:7].tolist() == [1.0] * 7
    assert mr == pytest.approx(math.exp(2 * math.log(0.5) / 9))
