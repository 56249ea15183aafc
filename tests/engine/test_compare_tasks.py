"""`perception compare-tasks`: shared and separate models trained alike, reported as table, JSON and chart."""

import json

import pytest

from perception.cli.main import main
from perception.config import ModelConfig
from perception.data.dataset import build_dataset
from perception.data.label_fraction import LabelFraction

from engine_sizes import TINY_IMGSZ


def test_compare_tasks_trains_shared_and_separate_and_writes_the_report(tiny_synthetic, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare-tasks", "--data", str(tiny_synthetic), "--tasks", "lanes,drivable", "--imgsz", *map(str, TINY_IMGSZ),
                 "--max-steps", "2", "--batch", "2", "--workers", "0", "--balancing", "fixed,pcgrad", "--grad-monitor", "1",
                 "--out", str(out), "--quiet"])
    assert code == 0
    result = json.loads((out / "compare.json").read_text())
    names = [r["name"] for r in result["runs"]]
    assert names == ["shared-fixed", "shared-pcgrad", "separate-lanes", "separate-drivable"]
    assert all(r["steps"] == 2 for r in result["runs"])
    shared, lanes, drivable = result["runs"][0], result["runs"][2], result["runs"][3]
    assert set(shared["metrics"]) == {"lanes", "drivable"} and set(lanes["metrics"]) == {"lanes"}
    # One encoder instead of two: the shared model is smaller and cheaper than the separate ones together.
    assert shared["params"] < lanes["params"] + drivable["params"]
    assert shared["gflops"] < result["separate_total"]["gflops"]
    assert shared["gradient_monitor"]["measurements"] == 2 and "gradient_monitor" not in (lanes.get("gradient_monitor") or {})
    table = (out / "compare.md").read_text()
    assert "| lanes | lane IoU |" in table and "shared-pcgrad" in table and "separate, all together" in table
    assert (out / "compare.png").stat().st_size > 0


def test_compare_tasks_refuses_an_unknown_balancer(tiny_synthetic, tmp_path, capsys):
    assert main(["compare-tasks", "--data", str(tiny_synthetic), "--balancing", "fixed,mgda", "--out", str(tmp_path)]) == 2
    assert "compare.balancers: ['fixed', 'mgda'] must each be one of" in capsys.readouterr().err


def test_label_fraction_keeps_one_tasks_labels_on_a_seeded_subset(tiny_synthetic):
    dataset = build_dataset(str(tiny_synthetic), "train", ModelConfig(scale="n", imgsz=TINY_IMGSZ), train=False)
    thinned = LabelFraction(dataset, {"lanes": 0.5}, seed=0)
    items = [thinned[k] for k in range(len(thinned))]
    assert sum(item["labelled"]["lanes"] for item in items) == round(0.5 * len(dataset))
    assert all(item["labelled"]["drivable"] and item["labelled"]["objects"] for item in items)  # other tasks whole
    again = LabelFraction(dataset, {"lanes": 0.5}, seed=0)
    assert [again[k]["labelled"]["lanes"] for k in range(len(again))] == [i["labelled"]["lanes"] for i in items]
