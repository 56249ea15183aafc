"""Lane-marking evaluation in `perception eval`: attribute accuracy over matched lanes and the official
BDD100K F-scores of predictions drawn as lane byte masks."""

import numpy as np
import pytest

from perception.evaluation.evaluator import Evaluator
from perception.evaluation.report import markdown_report
from perception.structures import Crossing, FrameResult, Lane, Sample

H, W = 360, 640


def line(x0, x1):
    return np.array([[x0, H - 1], [x1, 150]], np.float32)


def gt_sample():
    lanes = [line(100, 250), line(540, 390), np.array([[200, 200], [440, 200], [440, 215], [200, 215]], np.float32)]
    attrs = [{"direction": "parallel", "style": "dashed", "category": "single white"},
             {"direction": "parallel", "style": "solid", "category": "double yellow"},
             {"direction": "vertical", "style": "solid", "category": "crosswalk", "closed": True}]
    return Sample(image=np.zeros((H, W, 3), np.uint8), lanes=lanes, lane_attrs=attrs, labelled={"lanes": True})


def test_perfect_prediction_scores_full_marks():
    gt = gt_sample()
    pred = FrameResult(lanes=[Lane(line(100, 250), style="dashed", color="white", type="single"),
                              Lane(line(540, 390), style="solid", color="yellow", type="double")],
                       crossings=[Crossing(gt.lanes[2], "crosswalk", 0.9)])
    ev = Evaluator(tasks=("lanes",))
    ev.update(pred, gt)
    summary = ev.summary()["lanes"]["markings"]
    assert summary["attributes"]["matched_lanes"] == 2
    for name in ("style", "color", "type"):
        assert summary["attributes"][name]["accuracy"] == 1.0
    assert summary["attributes"]["style"]["chance_uniform"] == 0.5
    assert summary["attributes"]["color"]["chance_uniform"] == pytest.approx(1 / 3)
    assert summary["bdd100k"]["F1_pix1"] == pytest.approx(100.0)
    text = markdown_report({"metrics": ev.summary()})
    assert "BDD100K lane marking (official metric" in text and "Lane attributes over 2 CULane-matched lanes" in text


def test_flipped_attributes_lower_accuracy_and_the_official_score():
    gt = gt_sample()
    pred = FrameResult(lanes=[Lane(line(100, 250), style="solid", color="white", type="single"),
                              Lane(line(540, 390), style="dashed", color="white", type="double")])
    ev = Evaluator(tasks=("lanes",))
    ev.update(pred, gt)
    summary = ev.summary()["lanes"]["markings"]
    attrs = summary["attributes"]
    assert attrs["style"]["accuracy"] == 0.0 and attrs["color"]["accuracy"] == 0.5 and attrs["type"]["accuracy"] == 1.0
    assert attrs["color"]["confusion"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert attrs["color"]["balanced_accuracy"] == 0.5 and attrs["color"]["chance_balanced"] == 0.5
    official = summary["bdd100k"]
    # both lanes' styles swapped: only where the lane predicted solid crosses the (solid) crosswalk
    assert official["F1_pix5/STYLE"] < 10
    assert official["F1_pix5/DIRECTION"] == pytest.approx(50.0, abs=2)  # the crosswalk (vertical) was missed
    assert official["F1_pix5"] < 60


def test_lanes_without_marking_labels_get_no_marking_scores():
    gt = gt_sample()
    gt.lane_attrs = [{"direction": "parallel", "style": "unknown", "category": "lane"}] * 3
    ev = Evaluator(tasks=("lanes",))
    ev.update(FrameResult(lanes=[Lane(line(100, 250), style="solid", color="white", type="single")]), gt)
    markings = ev.summary()["lanes"]["markings"]
    assert markings is None or ("bdd100k" not in markings and not any(
        isinstance(v, dict) for v in (markings.get("attributes") or {}).values()))
