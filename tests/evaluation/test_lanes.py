"""Lane metrics on hand-made lanes: pixel accuracy/IoU, CULane F1, TuSimple accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from perception.evaluation.lane_instances import (
    CULaneAccumulator,
    TuSimpleAccumulator,
    lane_x_at_rows,
    row_anchors,
    tusimple_bench,
)
from perception.evaluation.lanes import LanePixelAccumulator, rasterize_lanes

SIZE = (590, 1640)


def _vertical(x: float, y0: float = 250, y1: float = 580, step: float = 10) -> np.ndarray:
    ys = np.arange(y0, y1 + 1, step)
    return np.stack([np.full_like(ys, x), ys], 1).astype(np.float32)


def test_pixel_accuracy_and_iou_on_masks():
    gt = np.zeros((10, 20), bool)
    gt[:, 5:9] = True  # 40 lane pixels
    pred = np.zeros((10, 20), bool)
    pred[:, 7:11] = True  # 20 correct, 20 false positives
    acc = LanePixelAccumulator(eval_width=20)
    out = acc.update(pred, gt)
    assert out["accuracy"] == pytest.approx(20 / 40) and out["iou"] == pytest.approx(20 / 60)
    acc.update(gt, gt)  # a perfect second image: sums, not averages of ratios
    summary = acc.summary()
    assert summary["accuracy"] == pytest.approx(60 / 80) and summary["iou"] == pytest.approx(60 / 100)


def test_gt_polylines_rasterised_at_stated_width_and_resolution():
    acc = LanePixelAccumulator(eval_width=640, line_width=4)  # not the default 8: any stated width
    lane = np.array([[640, 100], [640, 700]], np.float32)  # vertical line at x = 640 of a 1280x720 image
    pred, gt = acc.masks((720, 1280), None, [], None, [lane])
    assert gt.shape == (360, 640)
    cols = np.flatnonzero(gt[200])
    assert len(cols) in (4, 5) and abs(cols.mean() - 320) <= 1  # 4 px thick around x = 320
    assert not pred.any()
    full = rasterize_lanes([lane], (720, 1280), (720, 1280), 8)
    assert 8 <= full[400].sum() <= 9


@pytest.mark.parametrize(
    "shift,expected_f1",
    [(0.0, 1.0), (10.0, 1.0), (40.0, 0.0)],  # 30 px wide lines: 10 px shift IoU 0.5, 40 px no overlap
)
def test_culane_f1_shifted_lanes(shift, expected_f1):
    gt = [_vertical(400), _vertical(800), _vertical(1200)]
    pred = [lane + [shift, 0] for lane in gt]
    acc = CULaneAccumulator()
    acc.update(pred, gt, SIZE)
    assert acc.summary()["f1"] == pytest.approx(expected_f1)


def test_culane_precision_recall_with_missing_and_extra_lanes():
    gt = [_vertical(400), _vertical(800), _vertical(1200)]
    pred = [gt[0].copy(), gt[2] + [3, 0], _vertical(100)]  # two matches, one spurious, one missed
    acc = CULaneAccumulator()
    acc.update(pred, gt, SIZE)
    acc.update([], [_vertical(500)], SIZE)  # an image with a missed lane
    out = acc.summary()
    assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 2)
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 4)
    assert out["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_culane_rescales_other_image_sizes():
    # the same lanes on a 1280x720 image: a 10 px shift there is 12.8 px on the 1640 canvas -> IoU < 0.5
    gt = [_vertical(400, 100, 700) * [1, 1]]
    acc = CULaneAccumulator()
    acc.update([gt[0] + [10, 0]], gt, (720, 1280))
    assert acc.summary()["f1"] == 0.0
    acc2 = CULaneAccumulator()
    acc2.update([gt[0] + [5, 0]], gt, (720, 1280))
    assert acc2.summary()["f1"] == 1.0


def test_tusimple_accuracy_hand_made():
    rows = np.arange(160, 711, 10).astype(float)  # 56 rows
    gt_lane = np.stack([np.full(46, 300.0), rows[10:]], 1)  # valid on the lowest 46 rows
    gt = [gt_lane, gt_lane + [400, 0]]
    # lane 1: 5 of the 46 rows off by 25 px (> 20 px): 41/46 >= 0.85, matched
    pred1 = gt_lane.copy()
    pred1[:5, 0] += 25
    # lane 2: shifted 40 px everywhere -> only the 10 empty rows agree: 10/56 < 0.85 -> FN and FP
    pred2 = gt[1] + [40, 0]
    acc = TuSimpleAccumulator()
    out = acc.update([pred1, pred2], gt)
    anchors = row_anchors(gt)
    assert len(anchors) == 46  # the grid spans the labelled rows
    acc_lane1 = (46 - 5) / 46
    assert out["accuracy"] == pytest.approx((acc_lane1 + 0.0) / 2)
    assert out["fp"] == pytest.approx(1 / 2) and out["fn"] == pytest.approx(1 / 2)
    # with the official 56 h_samples the empty rows count as correct in both lanes
    xs = lambda lane: lane_x_at_rows(lane, rows)  # noqa: E731
    a, fp, fn = tusimple_bench([xs(pred1), xs(pred2)], [xs(g) for g in gt], rows)
    assert a == pytest.approx(((56 - 5) / 56 + 10 / 56) / 2)
    assert (fp, fn) == (0.5, 0.5)


def test_tusimple_angle_adjusted_threshold():
    rows = np.arange(300, 701, 10).astype(float)
    slanted = np.stack([100 + (rows - 300), rows], 1)  # 45 degrees: threshold 20 / cos(45) = 28.3 px
    pred = slanted + [25, 0]  # 25 px off: inside the adjusted threshold, outside the plain 20 px
    acc, fp, fn = tusimple_bench([lane_x_at_rows(pred, rows)], [lane_x_at_rows(slanted, rows)], rows)
    assert (acc, fp, fn) == (1.0, 0.0, 0.0)
    vertical = np.stack([np.full_like(rows, 100.0), rows], 1)
    acc, fp, fn = tusimple_bench([lane_x_at_rows(vertical + [25, 0], rows)], [lane_x_at_rows(vertical, rows)], rows)
    assert (acc, fp, fn) == (0.0, 1.0, 1.0)


def test_tusimple_too_many_predictions_scores_as_official():
    """LaneEval.bench: `if len(gt) + 2 < len(pred): return 0., 0., 1.` -- FP 0, not 1."""
    rows = np.arange(300, 701, 10).astype(float)
    gt = [lane_x_at_rows(np.stack([np.full_like(rows, x), rows], 1), rows) for x in (100.0, 300.0)]
    exact = list(gt)
    # 4 predictions for 2 gt lanes is still scored (2 exact, 2 spurious): acc 1, fp 2/4, fn 0
    spurious = [np.full_like(rows, 500.0), np.full_like(rows, 700.0)]
    assert tusimple_bench(exact + spurious, gt, rows) == (1.0, 0.5, 0.0)
    # 5 predictions > 2 + 2: the official early return, even though both gt lanes are matched
    assert tusimple_bench(exact + spurious + [np.full_like(rows, 900.0)], gt, rows) == (0.0, 0.0, 1.0)
