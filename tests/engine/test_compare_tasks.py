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
    # its report has no separate models to add up: no "separate together" rows of zeros
    assert "| shared-pcgrad | " in (tmp_path / "p1" / "compare.md").read_text()
    assert "separate" not in (tmp_path / "p1" / "compare.md").read_text().split("| model |")[1]
    assert main(["compare-tasks", "--merge", *(str(tmp_path / d) for d in ("s0", "s1", "p1")), "--out", str(tmp_path / "both")]) == 0
    merged = json.loads((tmp_path / "both" / "compare.json").read_text())
    assert merged["config"]["seeds"] == [0, 1] and [r["seed"] for r in merged["runs"]] == [0, 0, 0, 1, 1, 1, 1]
    rows = [(r["shared_run"], r["task"], r["seeds"]) for r in merged["verdict"]["rows"]]
    assert rows == [("shared-fixed", "lanes", [0, 1]), ("shared-fixed", "drivable", [0, 1]),
                    ("shared-pcgrad", "lanes", [1]), ("shared-pcgrad", "drivable", [1])]
    assert all(r["band"] is not None for r in merged["verdict"]["rows"])
    assert main([*common[:1], "--merge", str(tmp_path / "s0"), str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "nowhere: no compare.json there" in capsys.readouterr().err


def test_a_comparison_split_by_model_over_two_parts_merges_into_the_whole(tiny_synthetic, tmp_path, capsys):
    common = ["compare-tasks", "--data", str(tiny_synthetic), "--tasks", "lanes,drivable", "--imgsz",
              *map(str, TINY_IMGSZ), "--max-steps", "1", "--batch", "2", "--workers", "0", "--seeds", "0", "--quiet"]
    assert main([*common, "--only", "shared-fixed,separate-lanes", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--only", "separate-drivable", "--out", str(tmp_path / "b")]) == 0
    part = json.loads((tmp_path / "b" / "compare.json").read_text())
    assert "all together" not in (tmp_path / "b" / "compare.md").read_text()  # one of two separate models
    assert [r["name"] for r in part["runs"]] == ["separate-drivable"] and not part["verdict"]["rows"]
    assert main(["compare-tasks", "--merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "ab")]) == 0
    merged = json.loads((tmp_path / "ab" / "compare.json").read_text())
    assert [r["name"] for r in merged["runs"]] == ["shared-fixed", "separate-lanes", "separate-drivable"]
    assert [(r["shared_run"], r["task"]) for r in merged["verdict"]["rows"]] == [("shared-fixed", "lanes"),
                                                                                  ("shared-fixed", "drivable")]
    # A part trained twice is refused by the merge; a name not in the plan, before anything trains.
    assert main(["compare-tasks", "--merge", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "x")]) == 2
    assert main([*common, "--only", "separate-objects", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "shared-fixed with seed 0 is already in an earlier one" in err
    assert "compare.only: ['separate-objects'] names separate-objects, not one of this comparison's models " in err
    assert not (tmp_path / "c" / "separate-objects").exists()


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


def test_a_subset_keeps_only_the_images_that_kept_their_labels(tiny_synthetic):
    dataset = build_dataset(str(tiny_synthetic), "train", ModelConfig(scale="n", imgsz=TINY_IMGSZ), train=False)
    masked = LabelFraction(dataset, {"objects": 0.5}, seed=0)
    subset = LabelFraction(dataset, {"objects": 0.5}, seed=0, subset=True)
    kept = [k for k in range(len(masked)) if masked[k]["labelled"]["objects"]]
    assert len(subset) == len(kept) == round(0.5 * len(dataset)) and subset.indices == kept
    assert all(subset[i]["labelled"]["objects"] for i in range(len(subset)))  # every remaining image is labelled
    assert [subset[i]["image"].tolist() == dataset[k]["image"].tolist() for i, k in enumerate(kept)] == [True] * len(kept)
    assert subset.item_weights().tolist() == [dataset.item_weights()[k] for k in kept]
    # the trainer's sampler yields (index, augmentation seed): the seed goes through to the wrapped image
    assert subset[(1, 7)]["image"].tolist() == dataset[(kept[1], 7)]["image"].tolist()


def test_low_data_separate_model_trains_on_the_labelled_images_and_the_shared_on_all(tiny_synthetic, tmp_path):
    from perception.config import ModelConfig as MC
    from perception.engine.distributed import DistContext
    from perception.engine.train_data import build_train_loaders
    from perception.multitask.compare import CompareConfig, run_train_config

    cfg = CompareConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, max_steps=1, batch=2, workers=0,
                        fraction=0.5, fraction_task="objects", val_period=1, out=str(tmp_path))
    sizes, schedule = {}, {}
    for name, heads in (("shared-fixed", ["objects", "pedestrians", "lanes", "drivable"]), ("separate-objects", ["objects"])):
        train_config = run_train_config(name, heads, "fixed", 0, cfg)
        assert train_config.label_fraction == {"objects": 0.5}
        schedule[name] = (train_config.val_period, train_config.warmup_epochs)
        loader, _ = build_train_loaders(train_config, MC(scale="n", imgsz=TINY_IMGSZ), DistContext())
        sizes[name] = len(loader.dataset)
        batch = next(iter(loader))  # through the trainer's own sampler, as training draws it
        assert batch["images"].shape[0] == 2
        if name == "separate-objects":
            assert batch["labelled"]["objects"].all()
    assert sizes == {"shared-fixed": 6, "separate-objects": 3}  # 6 train images, half keep their object labels
    # the subset's epochs are half as long: validation and warm-up fall on the same steps as the shared model's
    assert schedule == {"shared-fixed": (1, 1.0), "separate-objects": (2, 2.0)}


def test_merge_refuses_low_data_runs_that_fed_the_separate_model_differently(tmp_path, capsys):
    from perception.multitask.compare import LOW_DATA_SUBSET

    config = {"data": "d", "model": "n", "imgsz": [64, 128], "max_steps": 1, "batch": 2, "lr": 0.01,
              "tasks": ["objects"], "fraction": 0.1, "fraction_task": "objects", "seeds": [0], "balancers": ["fixed"]}
    old = {"config": config, "tasks": ["objects"], "headline": {}, "runs": [], "wall_seconds": 1.0}  # before the field
    new = {**old, "config": {**config, "seeds": [1]}, "separate_low_data": LOW_DATA_SUBSET}
    for name, result in (("old", old), ("new", new)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "compare.json").write_text(json.dumps(result))
    assert main(["compare-tasks", "--merge", str(tmp_path / "old"), str(tmp_path / "new"), "--out", str(tmp_path / "m")]) == 2
    assert "the separate model's low-data feeding differ" in capsys.readouterr().err


def test_a_low_data_cost_table_does_not_call_one_separate_model_all_of_them():
    from perception.multitask.report import _cost_table
    from perception.multitask.verdict import cost

    tasks = ["objects", "pedestrians", "lanes", "drivable"]

    def run(name, kind, params):
        return {"name": name, "kind": kind, "seed": 0, "params": params, "gflops": 1.0, "latency_ms": 10.0,
                "train_seconds": 100.0, "tasks": tasks if kind == "shared" else [name.removeprefix("separate-")]}

    # a low-data comparison lists only the scarce task (the one with a separate model) as its tasks
    low = {"tasks": ["objects"], "runs": [run("shared-fixed", "shared", 4e6), run("separate-objects", "separate", 3e6)]}
    table = "\n".join(_cost_table(low, {"cost": cost(low)}))
    assert "| separate trained (separate-objects) | 3.000 |" in table and "all together" not in table
    assert "| separate trained / shared-fixed | 0.75x |" in table and "not the cost of one model per task" in table
    full = {"tasks": tasks, "runs": [run("shared-fixed", "shared", 4e6)] + [run(f"separate-{t}", "separate", 3e6) for t in tasks]}
    table = "\n".join(_cost_table(full, {"cost": cost(full)}))
    assert "| separate, all together | 12.000 |" in table and "| separate together / shared-fixed | 3.00x |" in table


def test_label_share_oversamples_the_images_that_kept_the_scarce_tasks_labels(tiny_synthetic, tmp_path):
    from perception.config import ModelConfig as MC
    from perception.engine.distributed import DistContext
    from perception.engine.train_config import TrainConfig
    from perception.engine.train_data import build_train_loaders
    from perception.config import ConfigError

    dataset = build_dataset(str(tiny_synthetic), "train", ModelConfig(scale="n", imgsz=TINY_IMGSZ), train=False)
    shared = LabelFraction(dataset, {"objects": 0.5}, seed=0, share={"objects": 0.75})
    weights = shared.item_weights()
    labelled = [shared[k]["labelled"]["objects"] for k in range(len(shared))]
    assert sum(labelled) == 3 and len(weights) == 6
    assert weights[labelled].sum() / weights.sum() == pytest.approx(0.75)  # 3 of 6 images draw 3/4 of the weight
    assert len(set(weights[[not x for x in labelled]].tolist())) == 1  # the rest keep equal weights among them

    # the trainer's loader draws by those weights; a share without a thinned task is refused
    config = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, batch=2, workers=0, out=str(tmp_path),
                         label_fraction={"objects": 0.5}, label_share={"objects": 0.75})
    loader, _ = build_train_loaders(config, MC(scale="n", imgsz=TINY_IMGSZ), DistContext())
    drawn = loader.sampler.base.weights.numpy()
    assert drawn[labelled].sum() / drawn.sum() == pytest.approx(0.75)
    assert next(iter(loader))["images"].shape[0] == 2
    with pytest.raises(ConfigError, match="label_share"):
        TrainConfig(data=str(tiny_synthetic), label_share={"objects": 0.5})


def test_an_interrupted_comparison_resumes_keeping_its_finished_models(tiny_synthetic, tmp_path, monkeypatch, capsys):
    from perception.engine.trainer import Trainer

    out = tmp_path / "cmp"
    flags = ["compare-tasks", "--data", str(tiny_synthetic), "--tasks", "lanes,drivable", "--imgsz", *map(str, TINY_IMGSZ),
             "--max-steps", "5", "--batch", "2", "--workers", "0", "--grad-monitor", "1", "--val-period", "1", "--quiet"]
    assert main([*flags, "--out", str(tmp_path / "whole")]) == 0
    whole = {r["name"]: r for r in json.loads((tmp_path / "whole" / "compare.json").read_text())["runs"]}
    original, fits = Trainer.train_step, []

    def dies_in_the_second_model(self, batch):
        if "separate-lanes" in str(self.out_dir) and self.step == 4:  # after its epoch-end last.pt at step 3
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", dies_in_the_second_model)
    assert main([*flags, "--out", str(out)]) == 130  # Ctrl-C, as the CLI reports it
    monkeypatch.setattr(Trainer, "train_step", original)
    assert (out / "shared-fixed" / "compare_run.json").is_file() and not (out / "separate-lanes" / "compare_run.json").exists()
    capsys.readouterr()
    # Settings come from the comparison; one that would change it is refused in one line, before any training.
    assert main(["compare-tasks", "--resume", "--out", str(out), "--lr", "0.5", "--quiet"]) == 2
    assert f"--lr: the comparison in {out} was started with 0.002" in capsys.readouterr().err
    original_fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self: fits.append(str(self.out_dir)) or original_fit(self))
    assert main(["compare-tasks", "--resume", "--out", str(out), "--quiet"]) == 0
    assert [p.rsplit("/", 1)[-1] for p in fits] == ["separate-lanes", "separate-drivable"]  # shared-fixed was kept
    log = capsys.readouterr().out
    assert "finished before" in log and "continuing from" in log and "(step 3 of 5)" in log
    resumed = {r["name"]: r for r in json.loads((out / "compare.json").read_text())["runs"]}
    assert list(resumed) == list(whole) and all(r["steps"] == 5 for r in resumed.values())
    # Resumed exactly: the same metrics as the comparison that was never interrupted.
    for name, run in whole.items():
        assert resumed[name]["metrics"] == pytest.approx(run["metrics"]), name
    assert resumed["shared-fixed"]["gradient_monitor"]["measurements"] == 5
    assert main(["compare-tasks", "--resume", "--out", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_label_share_runs_are_named_apart_and_merge_with_the_plain_low_data_comparison(tiny_synthetic, tmp_path, capsys):
    import yaml

    common = ["compare-tasks", "--data", str(tiny_synthetic), "--tasks", "objects,lanes", "--imgsz", *map(str, TINY_IMGSZ),
              "--max-steps", "1", "--batch", "2", "--workers", "0", "--fraction", "0.5", "--fraction-task", "objects", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--label-share", "0.75", "--no-separate", "--out", str(tmp_path / "share")]) == 0
    shared = tmp_path / "share" / "shared-fixed-share75"
    assert yaml.safe_load((shared / "train.yaml").read_text())["train"]["label_share"] == {"objects": 0.75}
    # the plain shared and separate models are not trained again: the remedy's run merges with them
    assert main(["compare-tasks", "--merge", str(tmp_path / "plain"), str(tmp_path / "share"), "--out", str(tmp_path / "m")]) == 0
    merged = json.loads((tmp_path / "m" / "compare.json").read_text())
    assert [r["name"] for r in merged["runs"]] == ["shared-fixed", "separate-objects", "shared-fixed-share75"]
    assert [r["shared_run"] for r in merged["verdict"]["rows"]] == ["shared-fixed", "shared-fixed-share75"]
    assert "shared-fixed-share75 drew the images that kept them at 75% of every epoch" in (tmp_path / "m" / "compare.md").read_text()
    assert main([*common[:-5], "--label-share", "0.5", "--out", str(tmp_path / "x")]) == 2  # without --fraction
    assert "compare.label_share: 0.5 needs --fraction" in capsys.readouterr().err


def test_a_damaged_row_of_a_finished_model_is_named_with_what_to_do(tmp_path, capsys):
    out = tmp_path / "cmp"
    (out / "shared-fixed").mkdir(parents=True)
    (out / "shared-fixed" / "compare_run.json").write_text('{"name": "shared-fi')  # cut short by a full disk
    (out / "compare_config.json").write_text(json.dumps({"data": str(tmp_path), "tasks": ["lanes", "drivable"]}))
    assert main(["compare-tasks", "--resume", "--out", str(out), "--workers", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'shared-fixed' / 'compare_run.json'}: not valid JSON" in err and "delete it to train that model again" in err
