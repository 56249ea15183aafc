"""A user's own dataset (issue 25): nothing silently disabled, dropped or mis-scored.

A task listed with no label file is an error; images without labels and masks without images are said;
skips are counted per image and per reason; BDD100K's `occluded` flag maps to the MR^-2 protocol; a YAML's
roots resolve against its own folder; data check and eval agree on how many images each task has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bdd_writers import box_label, lane_label, standard_frames, write_bdd, write_image
from perception.config import ConfigError
from perception.data.check import check_dataset
from perception.data.dataset import iter_samples
from perception.data.dataset_config import build_sources, load_dataset_config
from perception.data.errors import ErrorPolicy
from perception.errors import InputError


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "perception.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _yaml(path: Path, root: str, tasks: str = "[objects, pedestrians, lanes, drivable]") -> Path:
    path.write_text(f"name: own\nsources:\n  - type: bdd100k\n    root: {root}\n    tasks: {tasks}\n")
    return path


def test_listed_task_without_label_file_is_an_error(tmp_path):
    root = write_bdd(tmp_path / "bdd", "val", standard_frames())
    (root / "labels" / "det_20").rename(root / "labels" / "det20")  # the misnamed folder of the issue
    config = _yaml(tmp_path / "own.yaml", str(root))
    with pytest.raises(ConfigError, match=r"lists tasks \['objects', 'pedestrians'\] .*det_20/det_val.json"):
        build_sources(load_dataset_config(config), "val", ErrorPolicy(strict=False))
    run = _cli("data", "check", "--data", str(config), "--lenient")
    assert run.returncode == 2 and "--allow-missing-labels" in run.stderr
    # explicitly allowed: the source loads, and says which tasks it lacks
    sources = build_sources(load_dataset_config(config), "val", ErrorPolicy(strict=False), allow_missing_labels=True)
    assert set(sources[0].missing_tasks) == {"objects", "pedestrians"}


def test_model_task_no_source_labels_is_an_error_unless_allowed(tmp_path):
    from perception.data.dataset_config import require_task_labels

    root = write_bdd(tmp_path / "bdd", "val", standard_frames())
    (root / "labels" / "det_20").rename(root / "labels" / "det20")
    sources = build_sources(load_dataset_config(_yaml(tmp_path / "d.yaml", str(root), "[lanes]")), "val",
                            ErrorPolicy(strict=False))
    with pytest.raises(InputError, match="the model trains objects, pedestrians but no source"):
        require_task_labels(sources, ("objects", "pedestrians", "lanes"), "d.yaml")
    assert set(require_task_labels(sources, ("objects", "lanes"), "d.yaml", allow=True)) == {"objects"}
    # a directory (no tasks: list): data check warns by name instead of reporting 0 labelled and nothing else
    run = _cli("data", "check", "--data", str(root), "--lenient")
    assert run.returncode == 0 and "WARNING" in run.stdout and "objects, pedestrians" in run.stdout


def test_images_without_labels_and_masks_without_images_are_said(tmp_path):
    frames = standard_frames()
    root = write_bdd(tmp_path / "bdd", "val", frames)
    for k in range(3):
        write_image(root / "images" / "100k" / "val" / f"extra{k}.jpg", seed=10 + k)  # real frames, no labels
    shutil.copy(root / "labels" / "lane" / "masks" / "val" / "b.png", root / "labels" / "lane" / "masks" / "val" / "gone.png")
    report = check_dataset(root, "val", strict=False, progress=False)
    assert report["errors"]["left_out"] == {"images without labels": 3, "lane masks without an image": 1}
    run = _cli("data", "check", "--data", str(root), "--lenient")
    assert "left out, not errors: images without labels 3, lane masks without an image 1" in run.stdout


def test_skips_counted_per_image_and_reason(tmp_path):
    from perception.data.errors import summary_lines

    frames = standard_frames()
    frames["c.jpg"] = {"det": [box_label("1", "car", (10, 10, 50, 50))], "lane": [lane_label("2", [(0, 300), (50, 200)])]}
    frames["d.jpg"] = {"det": [box_label("1", "car", (900, 10, 990, 40)), box_label("2", "car", (10, 10, 50, 50))]}
    root = write_bdd(tmp_path / "bdd", "val", frames)
    (root / "images" / "100k" / "val" / "c.jpg").unlink()  # listed by two label files: one missing image
    report = check_dataset(root, "val", strict=False, progress=False)
    errors = report["errors"]
    assert errors["images_skipped"] == 1 and errors["images_by_reason"] == {"missing_image": 1}
    assert errors["labels_skipped"] == 1 and errors["labels_by_reason"] == {"box_outside": 1}
    assert summary_lines(errors, "val")[:2] == ["val: skipped 1 image(s) (missing_image 1)",
                                                "val: skipped 1 label(s), their images kept (box_outside 1)"]


def test_bdd_occluded_flag_is_outside_reasonable(tmp_path):
    """det_20 labels carry occluded/truncated booleans, no visibility: occluded -> 0.5 (< 0.65), else 1.0."""
    det = [box_label("1", "pedestrian", (100, 50, 130, 150)), box_label("2", "pedestrian", (200, 50, 230, 150)),
           box_label("3", "pedestrian", (300, 50, 330, 150))]
    det[1]["attributes"]["occluded"] = True
    det[2]["attributes"]["truncated"] = True  # cut by the border, not occluded: stays in "reasonable"
    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": det}})
    sample = next(iter_samples(root, "val"))
    np.testing.assert_allclose(sample.visibility, [1.0, 0.5, 1.0])
    from perception.evaluation.pedestrian import PedestrianAccumulator

    acc = PedestrianAccumulator(person_class=int(sample.classes[0]))
    acc.update(sample.boxes, np.ones(3), sample.classes, sample.boxes, sample.classes, sample.visibility, sample.ignore_boxes)
    summary = acc.summary()
    assert summary["reasonable"]["num_gt"] == 2 and summary["all"]["num_gt"] == 3
    assert "occluded=true -> 0.5" in summary["reasonable"]["visibility_mapping"]


def test_dataset_yaml_root_resolves_against_its_folder(tmp_path, monkeypatch):
    write_bdd(tmp_path / "sets" / "bdd", "val", standard_frames())
    config = _yaml(tmp_path / "sets" / "own.yaml", "bdd", "[objects, lanes]")
    monkeypatch.chdir(tmp_path)  # not the YAML's folder
    sources = build_sources(load_dataset_config(config), "val", ErrorPolicy())
    assert sources[0].root == tmp_path / "sets" / "bdd" and len(sources[0]) == 2


def test_data_check_and_eval_count_an_empty_lane_file_alike(tmp_path):
    """An image whose .lines.txt is empty is labelled 'no lanes': both count it, eval scores it."""
    from perception.evaluation.evaluator import Evaluator
    from perception.structures import FrameResult

    root = tmp_path / "culane"
    for k, text in enumerate(["500 590 600 400 700 300\n", ""]):
        image = root / "d" / f"{k:05d}.jpg"
        write_image(image, 590, 1640, seed=k)
        image.with_suffix(".lines.txt").write_text(text)
    (root / "list").mkdir()
    (root / "list" / "val_gt.txt").write_text("/d/00000.jpg\n/d/00001.jpg\n")
    data = tmp_path / "c.yaml"
    data.write_text(f"sources:\n  - type: culane\n    root: {root}\n    splits: {{val: val}}\n")
    checked = check_dataset(data, "val", strict=False, progress=False)["total"]["labelled"]["lanes"]
    evaluator = Evaluator()
    for sample in iter_samples(data, "val"):
        evaluator.update(FrameResult(), sample)
    assert checked == evaluator.summary()["images_per_task"]["lanes"] == 2


def test_eval_reports_each_source_of_a_mixed_split(tmp_path):
    from perception.evaluation.evaluator import Evaluator
    from perception.structures import FrameResult

    write_bdd(tmp_path / "a", "val", standard_frames())
    write_bdd(tmp_path / "b", "val", {"x.jpg": {"det": [box_label("1", "car", (10, 10, 90, 90))]}})
    data = tmp_path / "mix.yaml"
    data.write_text("sources:\n  - {type: bdd100k, root: a, name: first}\n  - {type: bdd100k, root: b, name: second}\n")
    evaluator = Evaluator()
    for sample in iter_samples(data, "val"):
        evaluator.update(FrameResult(), sample)
    summary = evaluator.summary()
    per = summary["per_source"]
    assert set(per) == {"first", "second"} and per["first"]["num_images"] == 2 and per["second"]["num_images"] == 1
    assert per["second"]["objects"]["per_class"]["car"]["num_gt"] == 1
    assert per["first"]["images_per_task"]["lanes"] == summary["images_per_task"]["lanes"] == 2
