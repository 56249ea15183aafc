"""Reports on a full disk: each file is written whole or not at all, and the failure is one line naming it."""

from __future__ import annotations

import json

import pytest
from disk_full import FullDisk

from perception.errors import DiskFullError
from perception.evaluation.report import write_report

METRICS = {"num_images": 3, "images_per_task": {"objects": 3}}


def test_report_on_a_full_disk_keeps_the_earlier_one_and_leaves_no_temp_file(tmp_path, monkeypatch):
    write_report(tmp_path, METRICS, meta={"weights": "first.onnx"})
    disk = FullDisk(monkeypatch, tmp_path, budget=20, only="report.json")
    with pytest.raises(DiskFullError) as info:
        write_report(tmp_path, METRICS, meta={"weights": "second.onnx"})
    monkeypatch.undo()
    assert disk.refused == 1
    assert str(info.value) == f"{tmp_path / 'report.json'}: no space left on the device; the earlier report.json is kept"
    assert json.loads((tmp_path / "report.json").read_text())["meta"]["weights"] == "first.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]
