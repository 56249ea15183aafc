import random
import subprocess
import sys
import json

import numpy as np
import pytest
import torch

from perception.config import ConfigError, ModelConfig
from perception.data.dataset import WeightedDistributedSampler, build_dataloader, build_dataset, collate, iter_samples
from perception.data.dataset_config import load_dataset_config

from bdd_writers import write_image


def _culane(root):
    image = root / "d" / "0.jpg"
    write_image(image, 590, 1640)
    image.with_suffix(".lines.txt").write_text("500 589 600 400\n1100 589 1000 400\n")
    (root / "list").mkdir(parents=True)
    (root / "list" / "val.txt").write_text("/d/0.jpg\n")
    (root / "list" / "train.txt").write_text("/d/0.jpg\n")


@pytest.fixture
def mixed_yaml(tmp_path, bdd_root):
    _culane(tmp_path / "culane")
    path = tmp_path / "mixed.yaml"
    path.write_text(f"""
name: mixed
sources:
  - type: bdd100k
    root: {bdd_root}
    splits: {{train: val, val: val}}
    weight: 3
  - type: culane
    root: {tmp_path / 'culane'}
    splits: {{train: train, val: val}}
""")
    return path


def test_collate_shapes_dtypes(mixed_yaml):
    config = ModelConfig(imgsz=(192, 320), lane_slots=4)
    dataset = build_dataset(mixed_yaml, "val", config, train=False, strict=True)
    assert len(dataset) == 3
    batch = collate([dataset[i] for i in range(3)])
    # uint8 through the loader (normalised and widened on the device by move_batch: tests/engine/test_train_data.py)
    assert batch["images"].shape == (3, 3, 192, 320) and batch["images"].dtype == torch.uint8
    assert batch["lane_target"].shape == (3, 192, 320) and batch["lane_target"].dtype == torch.uint8
    assert batch["drivable_target"].dtype == torch.uint8
    assert batch["lane_attr_target"].dtype == batch["crossing_target"].dtype == torch.uint8
    assert [b.shape[1] for b in batch["boxes"]] == [4, 4, 4] and batch["classes"][0].dtype == torch.int64
    assert batch["boxes"][0].shape == (3, 4)  # a.jpg at half scale
    np.testing.assert_allclose(batch["boxes"][0][0].numpy(), [50, 81, 100, 116])  # (100,150,200,220)*0.5 + pad 6
    assert batch["labelled"]["objects"].tolist() == [True, False, False]
    assert batch["labelled"]["lanes"].tolist() == [True, True, True]
    assert batch["lane_instances"].tolist() == [True, False, True]  # b.jpg has a lane mask only
    # slots 1..K, K+1 for the crosswalk; mask-only image uses K+1; drivable padding is ignore
    assert set(torch.unique(batch["lane_target"][0]).tolist()) <= {0, 2, 3, 5}
    assert set(torch.unique(batch["lane_target"][2]).tolist()) == {0, 2, 3}
    assert set(torch.unique(batch["lane_target"][1]).tolist()) == {0, 5}
    assert batch["drivable_target"][0, 0, 0] == 255 and (batch["drivable_target"][1] == 255).all()
    assert batch["images"][0, :, 0, 0].tolist() == [114, 114, 114]  # the letterbox padding, RGB channels first


def test_train_loader_weighted_and_distributed(mixed_yaml):
    dataset = build_dataset(mixed_yaml, "train", ModelConfig(imgsz=(192, 320)), train=True)
    weights = dataset.item_weights()
    assert weights[:2].sum() / weights.sum() == pytest.approx(0.75)  # BDD weight 3 vs CULane weight 1
    loader = build_dataloader(dataset, batch_size=2, workers=0, rank=0, world_size=1)
    batch = next(iter(loader))
    assert batch["images"].shape == (2, 3, 192, 320)
    ranks = [list(WeightedDistributedSampler(weights, 8, rank=r, world_size=2, seed=3)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 4
    sampler = WeightedDistributedSampler(weights, 4000, seed=0)
    drawn = np.bincount(list(sampler), minlength=3)
    assert drawn[:2].sum() / drawn.sum() == pytest.approx(0.75, abs=0.03)


def test_iter_samples_and_directory_arg(bdd_root):
    samples = list(iter_samples(bdd_root, "val"))
    assert [s.path.split("/")[-1] for s in samples] == ["a.jpg", "b.jpg"]
    assert samples[0].image.shape == (360, 640, 3)


def test_yaml_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: kitti\n    root: x\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: sources\[0\].type: 'kitti' is not one of"):
        load_dataset_config(bad)
    bad.write_text("sources:\n  - type: culane\n    root: x\n    tasks: [objects]\n")
    with pytest.raises(ConfigError, match=r"sources\[0\].tasks: a culane source cannot label \['objects'\]"):
        load_dataset_config(bad)
    bad.write_text("sources:\n  - type: coco\n    root: x\n    classes: {dog: wolf}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\].classes.dog: 'wolf' is not a BDD100K class"):
        load_dataset_config(bad)


def test_repo_dataset_yamls_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[2] / "datasets").glob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        assert load_dataset_config(f).sources


def test_cli_check_and_show(tmp_path, bdd_root):
    out_json = tmp_path / "check.json"
    run = subprocess.run([sys.executable, "-m", "perception.cli.main", "data", "check", "--data", str(bdd_root), "--split", "val",
                          "--json", str(out_json)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(out_json.read_text())
    assert report["total"]["images"] == 2 and report["total"]["boxes_per_class"] == {"car": 1, "pedestrian": 1, "traffic sign": 1}
    assert report["total"]["lanes"] == 3 and report["total"]["lane_masks"] == 1 and report["errors"]["total"] == 0
    grid, show_json = tmp_path / "grid.png", tmp_path / "show.json"
    run = subprocess.run([sys.executable, "-m", "perception.cli.main", "data", "show", "--data", str(bdd_root), "--split", "val",
                          "--out", str(grid), "--num", "2", "--imgsz", "192", "320", "--json", str(show_json)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    import cv2

    image = cv2.imread(str(grid))
    assert image.shape == (192, 320 * 2 + 4, 3)  # 2 tiles side by side
    assert json.loads(show_json.read_text())["num"] == 2


def test_cli_strict_error_is_one_line(tmp_path):
    from bdd_writers import box_label, write_bdd

    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": [box_label("5", "car", (900, 10, 990, 40))]}})
    run = subprocess.run([sys.executable, "-m", "perception.cli.main", "data", "check", "--data", str(root)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    # tqdm may draw on stderr too; the error itself is exactly one line
    lines = [line for line in run.stderr.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("perception data: error: ")
    assert "det_val.json [a.jpg label 5]" in lines[0] and "outside the 640x360 image" in lines[0]
    from perception.data.check import check_dataset

    report = check_dataset(root, "val", strict=False, progress=False)  # what `data check --lenient` prints
    assert report["errors"]["by_kind"] == {"box_outside": 1} and report["total"]["images"] == 1
