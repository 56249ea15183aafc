"""Drivable IoU against a direct numpy computation over all pixels of a split."""

from __future__ import annotations

import numpy as np
import pytest

from perception.evaluation.drivable import DrivableAccumulator


def test_iou_matches_direct_computation_with_ignore():
    rng = np.random.default_rng(0)
    acc = DrivableAccumulator()
    gts, preds = [], []
    for _ in range(4):
        gt = rng.integers(0, 3, (30, 40)).astype(np.uint8)
        gt[rng.random((30, 40)) < 0.1] = 255
        pred = np.where(rng.random((30, 40)) < 0.7, gt, rng.integers(0, 3, (30, 40))).astype(np.uint8)
        pred[gt == 255] = 0  # whatever is predicted under ignore must not count
        acc.update(pred, gt)
        gts.append(gt)
        preds.append(pred)
    gt, pred = np.concatenate(gts), np.concatenate(preds)
    valid = gt != 255
    out = acc.summary()
    expected = []
    for c, name in enumerate(("direct", "alternative", "background")):
        tp = np.sum((gt == c) & (pred == c) & valid)
        fp = np.sum((gt != c) & (pred == c) & valid)
        fn = np.sum((gt == c) & (pred != c) & valid)
        expected.append(tp / (tp + fp + fn))
        assert out["iou"][name] == pytest.approx(expected[-1])
    assert out["miou"] == pytest.approx(np.mean(expected))
    drivable_gt, drivable_pred = (gt < 2) & valid, (pred < 2) & valid
    tp = np.sum(drivable_gt & drivable_pred)
    assert out["binary_iou"] == pytest.approx(tp / np.sum(drivable_gt | drivable_pred))


def test_prediction_resized_to_gt_and_perfect_is_one():
    gt = np.zeros((40, 60), np.uint8)
    gt[20:, :30] = 1
    gt[:10] = 2
    pred = gt[::2, ::2]  # half resolution: nearest resize back reproduces gt
    acc = DrivableAccumulator()
    acc.update(pred, gt)
    assert acc.summary()["miou"] == pytest.approx(1.0)
