"""The verdict: shared minus separate per task, called only outside the seed-to-seed noise band."""

import pytest

from perception.config import ConfigError
from perception.multitask.compare import merge_comparisons
from perception.multitask.report import learning_curves, render_markdown
from perception.multitask.verdict import HELPS, HURTS, NOISE, ONE_SEED, verdict


def _run(name, seed, metrics, **cost):
    kind = "separate" if name.startswith("separate-") else "shared"
    base = {"params": 1e6, "gflops": 0.2, "latency_ms": 10.0, "train_seconds": 100.0, "steps": 100,
            "out": f"/nonexistent/{name}-{seed}"}
    return {"name": name, "seed": seed, "kind": kind, "tasks": list(metrics), "metrics": metrics, **base, **cost}


def _result(runs, tasks=("objects", "lanes")):
    return {"config": {"seeds": sorted({r["seed"] for r in runs})}, "tasks": list(tasks), "runs": runs,
            "headline": {"objects": "mAP50", "lanes": "lane IoU"}, "wall_seconds": 1.0}


RUNS = [
    _run("shared-fixed", 0, {"objects": 0.30, "lanes": 0.50}, params=1.3e6, gflops=0.28, latency_ms=48.0, train_seconds=300),
    _run("shared-fixed", 1, {"objects": 0.32, "lanes": 0.52}, params=1.3e6, gflops=0.28, latency_ms=48.0, train_seconds=320),
    _run("shared-gradnorm", 0, {"objects": 0.26, "lanes": 0.60}, params=1.3e6, gflops=0.28, latency_ms=48.0, train_seconds=400),
    _run("separate-objects", 0, {"objects": 0.20}, train_seconds=100),
    _run("separate-objects", 1, {"objects": 0.25}, train_seconds=110),
    _run("separate-lanes", 0, {"lanes": 0.58}, train_seconds=90),
    _run("separate-lanes", 1, {"lanes": 0.59}, train_seconds=94),
]


def test_differences_are_called_against_the_largest_seed_to_seed_range_of_the_task():
    rows = {(r["shared_run"], r["task"]): r for r in verdict(_result(RUNS))["rows"]}
    objects = rows["shared-fixed", "objects"]
    # Seeds: shared 0.30/0.32, separate 0.20/0.25 -> diffs +0.10/+0.07, band = the separate model's range 0.05.
    assert objects["diffs"] == pytest.approx([0.10, 0.07]) and objects["diff"] == pytest.approx(0.085)
    assert objects["band"] == pytest.approx(0.05) and objects["verdict"] == HELPS
    lanes = rows["shared-fixed", "lanes"]
    assert lanes["diff"] == pytest.approx(-0.075) and lanes["band"] == pytest.approx(0.02) and lanes["verdict"] == HURTS
    # GradNorm ran with seed 0 only: judged against the band the twice-trained models measured.
    assert rows["shared-gradnorm", "lanes"]["diffs"] == pytest.approx([0.02]) and rows["shared-gradnorm", "lanes"]["verdict"] == NOISE
    assert rows["shared-gradnorm", "objects"]["diff"] == pytest.approx(0.06) and rows["shared-gradnorm", "objects"]["verdict"] == HELPS


def test_a_difference_whose_seeds_disagree_in_sign_is_noise_and_one_seed_calls_nothing():
    runs = [_run("shared-fixed", 0, {"objects": 0.30}), _run("shared-fixed", 1, {"objects": 0.10}),
            _run("separate-objects", 0, {"objects": 0.05}), _run("separate-objects", 1, {"objects": 0.16})]
    (row,) = verdict(_result(runs, ("objects",)))["rows"]
    assert row["diffs"] == pytest.approx([0.25, -0.06]) and row["band"] == pytest.approx(0.20) and row["verdict"] == NOISE
    (single,) = verdict(_result([runs[0], runs[2]], ("objects",)))["rows"]
    assert single["band"] is None and single["verdict"] == ONE_SEED


def test_cost_side_and_what_balancing_did_to_the_task_sharing_hurt():
    judged = verdict(_result(RUNS))
    together = judged["cost"]["separate_together"]
    # Per seed the two separate models sum to 190 s and 204 s: 197 s on average; parameters 2 M against 1.3 M.
    assert together["train_seconds"] == pytest.approx(197) and together["params"] == pytest.approx(2e6)
    assert judged["cost"]["separate_over_shared"]["shared-fixed"]["params"] == pytest.approx(2 / 1.3)
    assert judged["cost"]["separate_over_shared"]["shared-fixed"]["train_seconds"] == pytest.approx(197 / 310)
    (item,) = judged["balancing"]
    assert item["task"] == "lanes" and item["balanced_run"] == "shared-gradnorm" and item["removed"] is True


def test_merge_joins_seeds_of_one_experiment_and_refuses_another_one():
    config = {"data": "d", "model": "n", "imgsz": [64, 128], "max_steps": 10, "seeds": [0], "balancers": ["fixed", "gradnorm"]}
    first = {**_result(RUNS[:1]), "config": config}
    second = {**_result(RUNS[1:2]), "config": {**config, "seeds": [1], "balancers": ["fixed"]}}
    merged = merge_comparisons([first, second], ["a", "b"])
    assert merged["config"]["seeds"] == [0, 1] and [r["seed"] for r in merged["runs"]] == [0, 1]
    assert merged["config"]["balancers"] == ["fixed", "gradnorm"]  # GradNorm trained with seed 0 only
    with pytest.raises(ConfigError, match="b: not the same experiment as a: max_steps differ"):
        merge_comparisons([first, {**second, "config": {**config, "seeds": [1], "max_steps": 20}}], ["a", "b"])
    with pytest.raises(ConfigError, match="b: shared-fixed with seed 0 is already in an earlier one"):
        merge_comparisons([first, first], ["a", "b"])
    # Another balancer with an existing seed (compare-tasks --no-separate) joins the runs of that seed.
    extra = {**_result(RUNS[2:3]), "config": {**config, "seeds": [0], "balancers": ["gradnorm"]}}
    merged = merge_comparisons([first, second, extra], ["a", "b", "c"])
    assert merged["config"]["seeds"] == [0, 1] and [r["name"] for r in merged["runs"]][-1] == "shared-gradnorm"


def _curve(folder, column, points):
    """A run folder whose results.csv holds the validation metric `column` at `points` [(step, value)]."""
    folder.mkdir()
    rows = "".join(f"{step},{value}\n" for step, value in points)
    (folder / "results.csv").write_text(f"step,val/{column}\n{rows}")
    return str(folder)


def test_at_equal_compute_each_separate_model_is_read_off_its_curve_where_the_shared_runs_time_runs_out(tmp_path):
    # Seconds per step: objects 1.0, lanes 2.0 -> the shared run's 150 s buy each separate model 150 / 3 = 50 steps.
    objects0 = _curve(tmp_path / "o0", "objects/map50", [(25, 0.1), (50, 0.2), (75, 0.3), (100, 0.4)])
    lanes0 = _curve(tmp_path / "l0", "lanes/iou", [(40, 0.5), (80, 0.6), (100, 0.7)])
    runs = [_run("shared-fixed", 0, {"objects": 0.30, "lanes": 0.60}, train_seconds=150),
            _run("separate-objects", 0, {"objects": 0.40}, train_seconds=100, out=objects0),
            _run("separate-lanes", 0, {"lanes": 0.70}, train_seconds=200, out=lanes0),
            # seed 1: a shared run slower than both together (k = 400 / 3 > 100): the separate models' final metrics
            _run("shared-fixed", 1, {"objects": 0.35, "lanes": 0.65}, train_seconds=400),
            _run("separate-objects", 1, {"objects": 0.45}, train_seconds=100),
            _run("separate-lanes", 1, {"lanes": 0.60}, train_seconds=200)]
    result = _result(runs)
    result["config"].update(model="n", imgsz=[64, 96], batch=2, max_steps=100, lr=0.01, device="cpu")
    rows = {r["task"]: r for r in verdict(result, learning_curves(result))["equal_compute"]}
    assert rows["objects"]["steps"] == [50, 133] and rows["objects"]["read_at"] == [50, 100]
    assert rows["objects"]["diffs"] == pytest.approx([0.30 - 0.2, 0.35 - 0.45])
    assert rows["lanes"]["read_at"] == [40, 100] and rows["lanes"]["diffs"] == pytest.approx([0.60 - 0.5, 0.65 - 0.60])
    assert verdict(result)["equal_compute"] == []  # without the curves, nothing is read
    # a seed that lacks one of the separate models has no "four together" to split the time between
    partial = _result([r for r in runs if (r["name"], r["seed"]) != ("separate-lanes", 1)])
    assert [r["seeds"] for r in verdict(partial, learning_curves(partial))["equal_compute"]] == [[0], [0]]
    table = render_markdown(result)
    # lanes: behind at equal images (-0.025 mean), ahead at equal compute (+0.075): the report says the sign flips
    assert "| lanes | lane IoU | shared-fixed | 0.625 | 0.550 | **+0.075** | +0.100, +0.050 | 50 (40), 133 (100) | " \
        "-0.025, the other sign |" in table
