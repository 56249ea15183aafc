"""A full disk while training: checkpoints and results.csv are written whole or not at all, and the failure is
one line naming the file and what was kept (ENOSPC injected into the real file objects, and on a real tmpfs)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch
from disk_full import FullDisk, run_on_small_tmpfs

from perception.engine.checkpoint import load_checkpoint, save_checkpoint
from perception.engine.run_logger import RunLogger
from perception.errors import DiskFullError

REPO = Path(__file__).resolve().parents[2]


def _checkpoint(value: float, n: int = 1000) -> dict:
    return {"model": {"w": torch.full((n,), value)}, "step": int(value)}


def test_checkpoint_save_on_a_full_disk_keeps_the_earlier_one(tmp_path, monkeypatch):
    path = tmp_path / "weights" / "last.pt"
    save_checkpoint(_checkpoint(1.0), path)
    disk = FullDisk(monkeypatch, tmp_path, budget=3000)
    with pytest.raises(DiskFullError) as info:
        save_checkpoint(_checkpoint(2.0, 100_000), path)
    assert disk.refused == 1
    assert str(info.value) == f"{path}: no space left on the device; the earlier last.pt is kept"
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1 and [p.name for p in path.parent.iterdir()] == ["last.pt"]
    with pytest.raises(DiskFullError, match="best.pt: no space left on the device; nothing was written"):
        FullDisk(monkeypatch, tmp_path, budget=0)
        save_checkpoint(_checkpoint(3.0), path.with_name("best.pt"))
    monkeypatch.undo()
    assert not path.with_name("best.pt").exists()


def test_results_csv_on_a_full_disk_keeps_the_earlier_rows(tmp_path, monkeypatch):
    logger = RunLogger(tmp_path, tensorboard=False)
    logger.log_epoch({"epoch": 1, "step": 3, "train/total": 1.5}, plot=False)
    FullDisk(monkeypatch, tmp_path, budget=10, only="results.csv")
    with pytest.raises(DiskFullError, match=r"results.csv: no space left on the device; the earlier results.csv is kept"):
        logger.log_epoch({"epoch": 2, "step": 6, "train/total": 1.2}, plot=False)
    monkeypatch.undo()
    with (tmp_path / "results.csv").open(newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]


@pytest.mark.slow
def test_training_on_a_full_tmpfs_ends_in_one_line_with_a_loadable_checkpoint(tiny_synthetic, tmp_path):
    from engine_sizes import TINY_IMGSZ

    cmd = (f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m perception.cli.main train --data {tiny_synthetic} "
           f"--model n --imgsz {TINY_IMGSZ[0]} {TINY_IMGSZ[1]} --epochs 3 --batch 2 --workers 0 --device cpu "
           f"--save-period 1 --no-ema --out $SMALL/run --quiet")
    # a scale-n checkpoint with its optimizer state is 16.5 MB: room for the first last.pt, not for the next one
    # beside it (written to a temp file, renamed over it only when whole)
    result, kept = run_on_small_tmpfs(tmp_path, "24m", cmd)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith("perception train: error: ")
    assert lines[-1].endswith("/run/weights/last.pt: no space left on the device; the earlier last.pt is kept")
    assert load_checkpoint(kept / "run" / "weights" / "last.pt")["step"] == 1
    assert not [p for p in (kept / "run").rglob(".*") if p.name != ".perception.lock"]  # no temp files left
    assert not (kept / "run" / ".perception.lock").exists()
