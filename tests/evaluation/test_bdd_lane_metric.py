"""BDD100K's official lane-marking metric: our implementation against the official toolkit's numbers.

The reference (data/bdd_lane_toolkit_reference.json) was computed by the toolkit itself (bdd100k 1.0.1,
`bdd100k.eval.lane.evaluate_lane_marking`) on the official example masks and on the predictions that
`derive_predictions` makes from them; `test_live_toolkit` recomputes it where the toolkit is installed
(`pip install bdd100k`, 540 MB with its dependencies, hence not a test extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from perception.evaluation.bdd_lane_metric import (
    LaneMarkingMetric,
    boundary_f_score,
    draw_lane_byte_mask,
    encode_lane_byte,
    frame_lane_scores,
)

REFERENCE = Path(__file__).parent / "data" / "bdd_lane_toolkit_reference.json"


def derive_predictions(gt: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions derived from a ground-truth lane byte mask: shifted, eroded, attributes flipped, ..."""
    fg = (gt & 8) == 0
    out = {"identical": gt.copy(), "empty": np.full_like(gt, 255)}
    shifted = np.full_like(gt, 255)
    shifted[2:, 3:] = gt[:-2, :-3]
    out["shifted_3x_2y"] = shifted
    far = np.full_like(gt, 255)
    far[:, 6:] = gt[:, :-6]
    out["shifted_6x"] = far
    out["eroded"] = np.where(ndimage.binary_erosion(fg, np.ones((3, 3), bool)), gt, 255).astype(np.uint8)
    out["style_flipped"] = np.where(fg, gt ^ 16, 255).astype(np.uint8)
    out["direction_flipped"] = np.where(fg, gt ^ 32, 255).astype(np.uint8)
    out["category_rotated"] = np.where(fg, (gt & 0xF8) | ((gt + 1) & 7), 255).astype(np.uint8)
    half = fg & (np.arange(gt.shape[1])[None, :] < gt.shape[1] // 2)
    dilated = ndimage.binary_dilation(half, np.ones((5, 5), bool))
    out["left_half_dashed_dilated"] = np.where(dilated, 16 | 6, np.where(fg, gt, 255)).astype(np.uint8)
    return out


def _official_masks(shared_data: Path) -> list[tuple[Path, np.ndarray]]:
    import cv2

    paths = sorted((shared_data / "bdd100k_format" / "lane_masks").glob("*.png"))
    if not paths:
        pytest.skip("official example lane masks not present")
    return [(p, cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in paths]


def _ours(masks: list[tuple[Path, np.ndarray]]) -> dict[str, dict[str, float]]:
    scores: dict[str, LaneMarkingMetric] = {}
    for _, gt in masks:
        for name, pred in derive_predictions(gt).items():
            scores.setdefault(name, LaneMarkingMetric()).update(gt, pred)
    return {name: metric.compute() for name, metric in scores.items()}


def test_equals_official_toolkit_on_example_masks(shared_data):
    masks = _official_masks(shared_data)
    reference = json.loads(REFERENCE.read_text())["scores"]
    ours = _ours(masks)
    assert set(ours) == set(reference)
    for name, expected in reference.items():
        assert set(ours[name]) == set(expected), name
        for key, value in expected.items():
            assert ours[name][key] == pytest.approx(value, abs=1e-9), f"{name} {key}"
    # the derived cases do exercise the metric: not all 100 or all 0
    assert 60 < ours["eroded"]["F1_pix1"] < ours["eroded"]["F1_pix2"] < ours["eroded"]["F1_pix5"] < 100
    assert ours["style_flipped"]["F1_pix5/STYLE"] == 0.0


def test_live_toolkit(shared_data, tmp_path):
    lane = pytest.importorskip("bdd100k.eval.lane")
    import cv2

    masks = _official_masks(shared_data)
    gt_paths = [str(p) for p, _ in masks]
    ours = _ours(masks)
    for name in ("shifted_3x_2y", "eroded", "category_rotated"):
        preds = []
        for path, gt in masks:
            out = tmp_path / name / path.name
            out.parent.mkdir(exist_ok=True)
            cv2.imwrite(str(out), derive_predictions(gt)[name])
            preds.append(str(out))
        summary = lane.evaluate_lane_marking(gt_paths, preds, nproc=1, with_logs=False).summary()
        for key, value in summary.items():
            assert ours[name][key] == pytest.approx(value, abs=1e-9), f"{name} {key}"


def test_toolkit_hand_cases():
    # The toolkit's own unit cases (tests/eval/lane_test.py of bdd100k/bdd100k).
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[3, 3:7] = True
    b[7, 3:7] = True
    for radius in (1, 2, 3):
        assert boundary_f_score(a, b, radius) == pytest.approx(0.0)
    for radius in (4, 5, 6):
        assert boundary_f_score(a, b, radius) == pytest.approx(1.0)
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[3, 3:6] = True
    b[5:8, 7] = True
    assert boundary_f_score(a, b, 2) == pytest.approx(0.0)
    assert boundary_f_score(a, b, 3) == pytest.approx(1 / 3)
    assert boundary_f_score(a, b, 4) == pytest.approx(2 / 3)
    assert boundary_f_score(a, b, 5) == pytest.approx(1.0)


def test_empty_cases_and_aggregation():
    empty = np.full((20, 30), 255, np.uint8)
    assert boundary_f_score(empty == 0, empty == 0, 1) == 1.0
    gt = draw_lane_byte_mask([(np.array([[5, 19], [5, 0]]), encode_lane_byte("parallel", "dashed", "single yellow"), False)],
                             (20, 30), thickness=2)
    assert set(np.unique(gt)) == {255, (1 << 4) | 7}
    scores = frame_lane_scores(gt, empty)
    # values absent from both score 1; the values the ground truth has score 0
    assert scores["direction"][:, 0].tolist() == [0.0, 1.0]
    assert scores["style"][:, 0].tolist() == [1.0, 0.0]
    assert scores["category"][7, 0] == 0.0 and scores["category"][:7, 0].tolist() == [1.0] * 7
    metric = LaneMarkingMetric()
    metric.update(gt, gt)
    metric.update(gt, empty)
    result = metric.compute()
    # mean over images (1 and 0 -> 50) of the present values, 100 for the absent ones
    assert result["F1_pix1/STYLE"] == pytest.approx((100 + 50) / 2)
    assert result["F1_pix1/CATEGORY"] == pytest.approx((7 * 100 + 50) / 8)
    assert result["F1_pix1"] == pytest.approx((75 + 75 + (750 / 8)) / 3)
