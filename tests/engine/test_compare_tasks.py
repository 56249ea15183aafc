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
                 "--seeds", "0,1", "--val-period", "1", "--out", str(out), "--quiet"])
    assert code == 0
    result = json.loads((out / "compare.json").read_text())
    names = [(r["name"], r["seed"]) for r in result["runs"]]
    plan = ["shared-fixed", "shared-pcgrad", "separate-lanes", "separate-drivable"]
    assert names == [(n, 0) for n in plan] + [(n, 1) for n in plan]
    assert all(r["steps"] == 2 for r in result["runs"])
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(f"{n}-seed{s}" for n in plan for s in (0, 1))
    shared, lanes, drivable = result["runs"][0], result["runs"][2], result["runs"][3]
    assert set(shared["metrics"]) == {"lanes", "drivable"} and set(lanes["metrics"]) == {"lanes"}
    # One encoder instead of two: the shared model is smaller and cheaper than the separate ones together.
    assert shared["params"] < lanes["params"] + drivable["params"]
    cost = result["verdict"]["cost"]
    assert cost["separate_over_shared"]["shared-fixed"]["gflops"] > 1
    assert shared["gradient_monitor"]["measurements"] == 2 and "gradient_monitor" not in (lanes.get("gradient_monitor") or {})
    # Two seeds: every shared run against every separate model, each with the seed-to-seed band of its task.
    rows = result["verdict"]["rows"]
    assert [(r["shared_run"], r["task"]) for r in rows] == [(s, t) for s in plan[:2] for t in ("lanes", "drivable")]
    assert all(r["seeds"] == [0, 1] and r["band"] is not None and len(r["diffs"]) == 2 for r in rows)
    runs = {(r["name"], r["seed"]): r["metrics"] for r in result["runs"]}
    assert rows[0]["diffs"] == pytest.approx([runs["shared-fixed", s]["lanes"] - runs["separate-lanes", s]["lanes"] for s in (0, 1)])
    table = (out / "compare.md").read_text()
    assert "| lanes | lane IoU | shared-pcgrad |" in table and "separate, all together" in table and "noise band" in table
    assert (out / "compare.png").stat().st_size > 0 and (out / "curves.png").stat().st_size > 0


def test_compare_tasks_merges_comparisons_of_one_experiment_run_with_other_seeds(tiny_synthetic, tmp_path, capsys):
    common = ["compare-tasks", "--data", str(tiny_synthetic), "--tasks", "lanes,drivable", "--imgsz",
              *map(str, TINY_IMGSZ), "--max-steps", "1", "--batch", "2", "--workers", "0", "--quiet"]
    for seed in (0, 1):
        assert main([*common, "--seeds", str(seed), "--out", str(tmp_path / f"s{seed}")]) == 0
    # A balancer trained afterwards with one of the seeds, without retraining the separate models.
    assert main([*common, "--seeds", "1", "--balancing", "pcgrad", "--no-separate", "--out", str(tmp_path / "p1")]) == 0
    assert [r["name"] for r in json.loads((tmp_path / "p1" / "compare.json").read_text())["runs"]] == ["shared-pcgrad"]
    assert main(["compare-tasks", "--merge", *(str(tmp_path / d) for d in ("s0", "s1", "p1")), "--out", str(tmp_path / "both")]) == 0
    merged = json.loads((tmp_path / "both" / "compare.json").read_text())
    assert merged["config"]["seeds"] == [0, 1] and [r["seed"] for r in merged["runs"]] == [0, 0, 0, 1, 1, 1, 1]
    rows = [(r["shared_run"], r["task"], r["seeds"]) for r in merged["verdict"]["rows"]]
    assert rows == [("shared-fixed", "lanes", [0, 1]), ("shared-fixed", "drivable", [0, 1]),
                    ("shared-pcgrad", "lanes", [1]), ("shared-pcgrad", "drivable", [1])]
    assert all(r["band"] is not None for r in merged["verdict"]["rows"])
    assert main([*common[:1], "--merge", str(tmp_path / "s0"), str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "nowhere: no compare.json there" in capsys.readouterr().err


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
