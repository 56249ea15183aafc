"""The synthetic world: determinism, BDD100K layout, exact labels, occlusion, video, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.classes import BDD100K_CLASSES, TASKS
from perception.data.sources.bdd100k import BDD100KSource
from perception.data.synthetic.lighting import Lighting
from perception.data.synthetic.render import render_scene
from perception.data.synthetic.scene import sample_scene
from perception.data.synthetic.video import count_frames, write_clip
from perception.data.synthetic.writer import generate_dataset, image_seed

IMGSZ = (192, 320)
NUM = 10


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth")
    summary = generate_dataset(root, NUM, seed=5, imgsz=IMGSZ, val_fraction=0.2, workers=2, progress=False)
    return root, summary


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    generate_dataset(tmp_path / "a", 4, seed=9, imgsz=(128, 224), workers=1, progress=False)
    generate_dataset(tmp_path / "b", 4, seed=9, imgsz=(128, 224), workers=2, progress=False)
    generate_dataset(tmp_path / "c", 4, seed=10, imgsz=(128, 224), workers=1, progress=False)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(a) == 4 * 3 + 6 and a == b
    images = [k for k in a if k.endswith(".jpg")]
    assert all(a[k] != c.get(k.replace("synth9-", "synth10-")) for k in images)


def test_official_bdd100k_layout_parses(dataset):
    root, summary = dataset
    assert summary["images"] == {"train": 8, "val": 2}
    for split, count in summary["images"].items():
        det = json.loads((root / f"labels/det_20/det_{split}.json").read_text())
        lanes = json.loads((root / f"labels/lane/polygons/lane_{split}.json").read_text())
        drivable = json.loads((root / f"labels/drivable/polygons/drivable_{split}.json").read_text())
        assert len(det) == len(lanes) == len(drivable) == count
        for frame, lane_frame, area_frame in zip(det, lanes, drivable):
            name = frame["name"]
            assert lane_frame["name"] == area_frame["name"] == name
            image = cv2.imread(str(root / "images/100k" / split / name))
            assert image.shape == (*IMGSZ, 3)
            assert set(frame["attributes"]) == {"weather", "timeofday", "scene"}
            mask = cv2.imread(str(root / "labels/drivable/masks" / split / name.replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
            assert mask.shape == IMGSZ and mask.dtype == np.uint8
            lane_mask = cv2.imread(str(root / "labels/lane/masks" / split / name.replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
            assert lane_mask.shape == IMGSZ and (lane_mask == 255).mean() > 0.5
            for label in lane_frame["labels"]:
                assert label["attributes"]["laneDirection"] in ("parallel", "vertical")
                assert label["attributes"]["laneStyle"] in ("solid", "dashed")
                poly = label["poly2d"][0]
                # crosswalks are closed polygons (the zebra band); lanes and stop lines open polylines
                closed = label["category"] == "crosswalk"
                assert poly["closed"] is closed and len(poly["types"]) == len(poly["vertices"]) >= (3 if closed else 2)
            assert {l["category"] for l in area_frame["labels"]} <= {"area/drivable", "area/alternative"}


def test_boxes_inside_image_non_degenerate_with_visibility(dataset):
    root, _ = dataset
    h, w = IMGSZ
    frames = json.loads((root / "labels/det_20/det_train.json").read_text())
    assert sum(len(f["labels"]) for f in frames) > 3 * len(frames)
    for frame in frames:
        ids = [label["id"] for label in frame["labels"]]
        assert len(ids) == len(set(ids))
        for label in frame["labels"]:
            box = label["box2d"]
            assert 0 <= box["x1"] < box["x2"] <= w and 0 <= box["y1"] < box["y2"] <= h
            assert box["x2"] - box["x1"] >= 2 and box["y2"] - box["y1"] >= 2
            assert label["category"] in BDD100K_CLASSES
            vis = label["attributes"]["visibility"]
            assert 0.05 <= vis <= 1.0 and label["attributes"]["occluded"] == (vis < 0.75)


def test_every_class_appears_across_a_small_set():
    seen = set()
    for seed in range(60):
        seen |= {o["category"] for o in render_scene(sample_scene(seed, (128, 224)), clean=True).objects}
        if seen == set(BDD100K_CLASSES):
            break
    assert seen == set(BDD100K_CLASSES)


def test_fully_hidden_objects_dropped_and_partial_occlusion_measured():
    from perception.data.synthetic.actors import make_vehicle

    scene = sample_scene(3, (384, 640))
    scene.shape.curvature, scene.shape.yaw = 0.0, 0.0
    rng = np.random.default_rng(0)
    centre = 0.5 * (scene.lane_edges[scene.ego_lane] + scene.lane_edges[scene.ego_lane + 1])
    truck = make_vehicle(rng, "truck", 10.0, centre, 1, 0.0, 1)
    hidden = make_vehicle(rng, "car", 30.0, centre, 1, 0.0, 2)
    # The truck (2.3-2.55 m wide at 10 m) hides lateral offsets up to ~3 m at 25 m: this car straddles that.
    partial = make_vehicle(rng, "car", 25.0, centre + 3.2, 1, 0.0, 3)
    scene.actors = [truck, hidden, partial]
    scene.fog_distance = None
    objects = {o["track_id"]: o for o in render_scene(scene, clean=True).objects}
    assert set(objects) == {1, 3}
    assert objects[1]["visibility"] == 1.0 and not objects[1]["occluded"]
    assert 0.05 < objects[3]["visibility"] < 0.9


def test_lane_polylines_lie_on_painted_marking_pixels():
    checked = 0
    for seed in range(12):
        scene = sample_scene(seed, (384, 640))
        # Nothing may stand in front of the road here: no actors, no buildings (curved roads run behind them).
        scene.actors, scene.buildings, scene.fog_distance, scene.weather = [], [], None, "clear"
        frame = render_scene(scene, clean=True)
        light = Lighting(scene)
        cam = scene.camera
        for lane in frame.lanes:
            pts = lane["points"]
            assert np.all(np.diff(pts[:, 1]) <= 1e-6) or lane["direction"] == "vertical"  # bottom to top
            if lane["category"] not in ("single white", "single yellow") or lane["style"] != "solid" or lane["direction"] == "vertical":
                continue
            expected = np.array(light.shade(
                next(l.color for l in scene.lines if l.category == lane["category"] and l.style == "solid"), 0))
            # Points along the polyline where the marking is at least ~3 px wide (within ~20 m).
            fine = np.concatenate([np.linspace(a, b, 8, endpoint=False) for a, b in zip(pts[:-1], pts[1:])])
            fine = fine[cam.ground_depth(fine[:, 1]) < 20.0]
            fine = fine[(fine[:, 0] >= 1) & (fine[:, 0] < cam.width - 1) & (fine[:, 1] < cam.height - 1)]
            if len(fine) < 5:
                continue
            # OpenCV draws with pixel centres at integer coordinates; allow the 3x3 neighbourhood for lines
            # that run nearly horizontally in the image and are only ~1 px tall there.
            x, y = np.rint(fine[:, 0]).astype(int), np.rint(fine[:, 1]).astype(int)
            error = np.full(len(fine), np.inf)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    pix = frame.image[np.clip(y + dy, 0, cam.height - 1), np.clip(x + dx, 0, cam.width - 1)]
                    error = np.minimum(error, np.abs(pix.astype(float) - expected).max(1))
            close = error < 40
            assert close.mean() > 0.9, (seed, lane["category"], close.mean())
            checked += 1
    assert checked >= 5


def test_drivable_mask_values_ego_lane_and_polygon_parity(dataset):
    root, _ = dataset
    frames = json.loads((root / "labels/drivable/polygons/drivable_train.json").read_text())
    h, w = IMGSZ
    for frame in frames:
        mask = cv2.imread(str(root / "labels/drivable/masks/train" / frame["name"].replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(mask)) <= {0, 1, 2}
        assert mask[h - 1, w // 2] == 0  # the ground just ahead of the ego vehicle is its own lane
        raster = np.zeros_like(mask)
        for label in frame["labels"]:
            if label["category"] == "area/drivable":
                cv2.fillPoly(raster, [np.round(np.array(label["poly2d"][0]["vertices"])).astype(np.int32)], 1)
        direct = mask == 0
        iou = (direct & (raster == 1)).sum() / max(1, (direct | (raster == 1)).sum())
        assert iou > 0.9


def test_sample_conversion_matches_what_the_bdd100k_adapter_reads_back(tmp_path):
    # Two routes to the same labels: the rendered frame's own Sample, and the image written in the BDD100K
    # layout and read back by the official adapter (labels in JSON, masks in PNG).
    generate_dataset(tmp_path, 1, seed=4, imgsz=(128, 224), val_fraction=0.0, workers=1, progress=False)
    read = BDD100KSource(tmp_path, "train").load(0)
    frame = render_scene(sample_scene(image_seed(4, 0), (128, 224)))
    sample = frame.to_sample()
    assert sample.image.shape == (128, 224, 3) and sample.drivable.shape == (128, 224)
    assert len(sample.boxes) == len(frame.objects) > 0 and len(sample.lanes) == len(frame.lanes) > 0
    np.testing.assert_allclose(sample.boxes, read.boxes, atol=1e-3)
    np.testing.assert_array_equal(sample.classes, read.classes)
    np.testing.assert_allclose(sample.visibility, read.visibility, atol=1e-3)
    det = json.loads((tmp_path / "labels/det_20/det_train.json").read_text())[0]["labels"]
    assert [str(t) for t in sample.track_ids] == [label["id"] for label in det]
    assert len(sample.lanes) == len(read.lanes)
    for mine, theirs in zip(sample.lanes, read.lanes):
        np.testing.assert_allclose(mine, theirs, atol=1e-3)
    assert sample.lane_attrs == read.lane_attrs
    np.testing.assert_array_equal(sample.drivable, read.drivable)
    assert sample.labelled == read.labelled == {task: True for task in TASKS}


def test_video_frame_count_and_stable_moving_tracks(tmp_path):
    summary = write_clip(tmp_path, seconds=1.2, fps=10, seed=2, imgsz=(128, 224), workers=2, progress=False)
    video = tmp_path / "video/synth.mp4"
    assert summary["frames"] == 12 and count_frames(video) == 12
    entries = json.loads((tmp_path / "video/synth_labels.json").read_text())
    assert [e["frameIndex"] for e in entries] == list(range(12))
    assert all(e["videoName"] == "synth" for e in entries)
    tracks: dict[str, list] = {}
    for e in entries:
        for label in e["labels"]:
            tracks.setdefault(label["id"], []).append((label["category"], label["box2d"]))
    long_tracks = {k: v for k, v in tracks.items() if len(v) >= 6}
    assert long_tracks
    assert all(len({c for c, _ in v}) == 1 for v in long_tracks.values())
    moved = [max(abs(v[-1][1][k] - v[0][1][k]) for k in ("x1", "y1", "x2", "y2")) for v in long_tracks.values()]
    assert max(moved) > 2.0


def test_cli_writes_dataset_and_json_summary(tmp_path):
    out, summary_path = tmp_path / "ds", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "perception.cli.main", "synth", "--out", str(out), "--num", "3", "--imgsz", "96", "160",
           "--workers", "1", "--no-progress", "--json", str(summary_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_path.read_text())
    assert sum(summary["images"].values()) == 3 and summary["images_per_second"] > 0
    assert sum(summary["objects"].values()) > 0 and sum(summary["lanes"].values()) > 0
    assert len(list((out / "images/100k").rglob("*.jpg"))) == 3
    bad = subprocess.run(cmd[:7] + ["0", "--exist-ok"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--num" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # a second dataset is never rendered over the first one unasked (perception.out_dir)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and again.stderr.strip() == (
        f"perception synth: error: --out {out}: already holds files of another run; choose a new folder, or pass "
        "--exist-ok to write into it")
