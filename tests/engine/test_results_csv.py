"""results.csv holds a validation metric only at the epochs that were validated: an epoch between validations
leaves its val/ cells empty (it used to repeat the last validation, which read as a measurement at that step and
drew flat false steps in compare-tasks' learning curves), and a resumed run reads the empty cells back as absent."""

from __future__ import annotations

import csv
import math

from perception.engine import TrainConfig, Trainer
from perception.engine.run_logger import RunLogger

from engine_sizes import TINY_IMGSZ


def test_only_validated_epochs_carry_validation_metrics(tiny_synthetic, tmp_path):
    config = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=4, val_period=2, batch=2,
                         workers=0, device="cpu", save_period=0, warmup_steps_min=1, max_val_batches=1,
                         out=str(tmp_path / "run"))
    Trainer(config, progress=False).fit()
    with (tmp_path / "run" / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    validated = [r["val/fitness"] != "" for r in rows]
    assert validated == [False, True, False, True]  # every 2nd epoch (the 3rd used to repeat the 2nd's)
    assert rows[0]["train/total"] != ""  # the training loss is every epoch's


def test_a_resumed_logger_reads_empty_cells_as_absent_and_still_plots(tmp_path):
    logger = RunLogger(tmp_path, tensorboard=False)
    logger.log_epoch({"epoch": 1, "step": 3, "train/total": 2.0}, plot=False)
    logger.log_epoch({"epoch": 2, "step": 6, "train/total": 1.5, "val/fitness": 0.25}, plot=False)
    resumed = RunLogger(tmp_path, tensorboard=False, resume=True)
    assert resumed.rows == [{"epoch": 1, "step": 3, "train/total": 2.0},
                            {"epoch": 2, "step": 6, "train/total": 1.5, "val/fitness": 0.25}]
    resumed.log_epoch({"epoch": 3, "step": 9, "train/total": 1.2, "val/fitness": 0.5})  # draws results.png
    assert (tmp_path / "results.png").stat().st_size > 0
    assert math.isclose(resumed.rows[-1]["val/fitness"], 0.5)
