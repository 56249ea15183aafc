"""The trainer's validation is `perception eval`: the last epoch's numbers equal the report's on its weights."""

from __future__ import annotations

import json

import pytest

from engine_sizes import TINY_IMGSZ
from perception.cli.main import main
from perception.engine import TrainConfig, Trainer
from perception.evaluation.validator import headline_metrics


def test_last_epoch_validation_equals_perception_eval_on_last_pt(tiny_synthetic, tmp_path, capsys):
    config = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=2, batch=2, lr=1e-3,
                         warmup_steps_min=1, augment=False, val_period=2, save_period=0, workers=0, device="cpu",
                         seed=0, out=str(tmp_path / "run"))
    summary = Trainer(config, progress=False).fit()
    trained = summary["val_metrics"]
    assert {"objects/map50", "pedestrians/map50", "lanes/f1", "lanes/iou", "drivable/miou", "fitness"} <= set(trained)

    weights = tmp_path / "run" / "weights" / "last.pt"
    assert main(["eval", "--model", str(weights), "--data", str(tiny_synthetic), "--split", "val", "--worst", "0",
                 "--out", str(tmp_path / "eval")]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    evaluated = headline_metrics(report["metrics"])
    assert evaluated == pytest.approx(trained, abs=1e-12), (evaluated, trained)
