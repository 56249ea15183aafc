"""`export --int8` says whether the INT8 copy is acceptable, by decoded-output agreement on frames it was not
calibrated on, and says which folder any frame came from (issue 25, point 9)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

from perception.deploy.agreement import AGREEMENT_THRESHOLDS, judge_copy, verdict_frames, verdict_line
from perception.deploy.export import export_onnx
from perception.deploy.quantize import quantize_int8

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def calib_six(frames, tmp_path_factory):
    """Six frames: the first four calibrate, the last two are held out."""
    folder = tmp_path_factory.mktemp("calib6")
    for i in range(6):
        image = frames[i % len(frames)]
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.cvtColor(image if i < 3 else image[:, ::-1], cv2.COLOR_RGB2BGR))
    return folder


def test_int8_copy_is_judged_on_held_out_frames(tiny_onnx, calib_six, tmp_path):
    out = tmp_path / "tiny.int8.onnx"
    report = quantize_int8(tiny_onnx, out, calib_six, count=4)
    frames, where = verdict_frames(calib_six, report["calibration_images"])
    assert len(frames) == 2 and "2 held-out frame(s)" in where
    judgement = judge_copy(tiny_onnx, out, frames, where)
    assert judgement["boxes_reference"] > 0  # the tiny model's logits are spread: there are boxes to agree on
    for key in AGREEMENT_THRESHOLDS:
        assert 0.0 <= judgement[key] <= 1.0
    assert judgement["acceptable"] == all(judgement[k] >= v for k, v in AGREEMENT_THRESHOLDS.items())
    assert verdict_line(judgement).startswith("ACCEPTABLE" if judgement["acceptable"] else "NOT ACCEPTABLE")


def test_a_copy_with_other_boxes_is_not_acceptable(tiny_model, tiny_onnx, calib_six, tmp_path):
    other = copy.deepcopy(tiny_model)  # the same model with its class scores reversed: other boxes win NMS
    with torch.no_grad():
        for head in (other.object_head, other.pedestrian_head):
            for pred in head.cls_preds:
                pred.weight.neg_()
                pred.bias.neg_()
    other_path = export_onnx(other, tmp_path / "other.onnx")
    frames6, where = verdict_frames(calib_six, 4)
    judgement = judge_copy(tiny_onnx, other_path, frames6, where)
    assert not judgement["acceptable"] and "box_f1" in judgement["failing"]
    assert judgement["drivable_agreement"] == 1.0  # the other heads are untouched and agree exactly
    assert verdict_line(judgement).startswith("NOT ACCEPTABLE")


def test_cli_prints_the_verdict_and_uses_the_named_folder(calib_six, tmp_path):
    out, summary_path = tmp_path / "m.onnx", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "perception.cli.export", "--model", "n", "--out", str(out), "--imgsz", "64", "128",
           "--int8", "--calib", str(calib_six), "--calib-count", "4", "--no-simplify", "--json", str(summary_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict = [line for line in proc.stdout.splitlines() if line.startswith("int8 verdict: ")]
    assert len(verdict) == 1 and "held-out frame(s) of " + str(calib_six) in verdict[0]
    summary = json.loads(summary_path.read_text())
    judgement = summary["int8"]["verdict"]
    # The printed line is the JSON's verdict, and "acceptable" is exactly "no figure below its threshold".
    assert verdict[0] == "int8 verdict: " + verdict_line(judgement)
    assert judgement["acceptable"] is (not judgement["failing"])
    assert judgement["failing"] == [k for k, low in AGREEMENT_THRESHOLDS.items() if judgement[k] < low]
    assert {p["source"] for p in summary["parity"].values()} == {str(calib_six)}  # only the folder given
