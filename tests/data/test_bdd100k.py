import json
import re
import shutil

import cv2
import numpy as np
import pytest

from perception.classes import class_index
from perception.data.errors import ErrorPolicy, LabelError
from perception.data.sources.bdd100k import BDD100KSource
from perception.data.sources.bdd_labels import decode_lane_mask

from bdd_writers import box_label, write_bdd, write_image


def test_bdd_official_layout_all_tasks(bdd_root):
    source = BDD100KSource(bdd_root, "val")
    assert len(source) == 2
    a, b = source.load(0), source.load(1)
    assert a.path.endswith("a.jpg") and a.image.shape == (360, 640, 3)
    # car, pedestrian, and the traffic sign clipped to the 640-px image; crowd + 'other vehicle' are ignore regions
    np.testing.assert_allclose(a.boxes, [[100, 150, 200, 220], [300, 100, 330, 180], [600, 20, 640, 60]])
    assert a.classes.tolist() == [class_index("car"), class_index("pedestrian"), class_index("traffic sign")]
    np.testing.assert_allclose(a.ignore_boxes, [[400, 150, 500, 220], [10, 10, 50, 50]])
    assert len(a.lanes) == 3
    assert [x["direction"] for x in a.lane_attrs] == ["parallel", "parallel", "vertical"]
    assert a.lane_attrs[1]["style"] == "dashed" and a.lane_attrs[2]["category"] == "crosswalk"
    # the L C C L crosswalk is a sampled Bezier: endpoints kept, apex at 0.75 * 290 + 0.25 * 300 from the curve
    crosswalk = a.lanes[2]
    np.testing.assert_allclose(crosswalk[0], [100, 300]) and np.testing.assert_allclose(crosswalk[-1], [540, 300])
    assert len(crosswalk) == 9 and crosswalk[:, 1].min() == pytest.approx(292.5, abs=0.3)
    assert a.drivable is not None and a.drivable[300, 300] == 0 and a.drivable[300, 500] == 1 and a.drivable[0, 0] == 2
    assert a.labelled == {"objects": True, "pedestrians": True, "lanes": True, "drivable": True}
    # b has only a lane mask: lanes labelled (binary), nothing else
    assert b.labelled == {"objects": False, "pedestrians": False, "lanes": True, "drivable": False}
    assert b.lane_mask.sum() == 160 * 6 and b.lane_mask[250, 303] == 1 and not b.lanes


def test_tasks_restriction_clears_flags(bdd_root):
    source = BDD100KSource(bdd_root, "val", tasks=["drivable"])
    assert len(source) == 1  # b.jpg has no drivable label, so it is not indexed
    assert source.load(0).labelled == {"objects": False, "pedestrians": False, "lanes": False, "drivable": True}


def test_official_example_annotation_polygons_become_boxes(shared_data, tmp_path):
    frames = json.loads((shared_data / "bdd100k_format" / "example_annotation.json").read_text())
    root = tmp_path / "bdd"
    write_image(root / "images" / "100k" / "val" / frames[0]["name"], 720, 1280)
    (root / "labels" / "det_20").mkdir(parents=True)
    shutil.copy(shared_data / "bdd100k_format" / "example_annotation.json", root / "labels" / "det_20" / "det_val.json")
    sample = BDD100KSource(root, "val").load(0)
    expected = []
    for label in frames[0]["labels"]:
        pts = np.concatenate([np.asarray(p["vertices"]) for p in label["poly2d"]])
        expected.append([*pts.min(0), *pts.max(0)])
    expected = np.clip(np.asarray(expected), 0, [1280, 720, 1280, 720])
    assert len(frames[0]["labels"]) == 4
    np.testing.assert_allclose(sample.boxes, expected, rtol=0, atol=1e-3)
    assert sample.classes.tolist() == [class_index("car")] * 4


def test_official_lane_masks_bits(shared_data, tmp_path):
    masks = sorted((shared_data / "bdd100k_format" / "lane_masks").glob("*.png"))
    assert len(masks) == 4
    raw = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    decoded = decode_lane_mask(raw)
    # 255 = background (bit 3 set); every other value is a lane pixel of category value & 7
    np.testing.assert_array_equal(decoded["lane"], (raw != 255).astype(np.uint8))
    values = set(np.unique(raw[raw != 255]).tolist())
    assert values <= set(range(8))  # these masks only hold parallel, solid markings
    assert set(np.unique(decoded["category"][decoded["lane"] == 1]).tolist()) == values
    assert decoded["direction"][decoded["lane"] == 1].max() == 0 and decoded["style"][decoded["lane"] == 1].max() == 0
    # through the source: official layout labels/lane/masks/{split}/<stem>.png
    root = tmp_path / "bdd"
    (root / "labels" / "lane" / "masks" / "val").mkdir(parents=True)
    for m in masks:
        write_image(root / "images" / "100k" / "val" / f"{m.stem}.jpg", 720, 1280)
        shutil.copy(m, root / "labels" / "lane" / "masks" / "val" / m.name)
    source = BDD100KSource(root, "val")
    assert len(source) == 4
    for i, m in enumerate(masks):
        sample = source.load(i)
        raw = cv2.imread(str(m), cv2.IMREAD_UNCHANGED)
        assert sample.labelled["lanes"] and not sample.labelled["objects"]
        assert int(sample.lane_mask.sum()) == int((raw != 255).sum()) > 0


def test_strict_errors_name_file_and_label(tmp_path):
    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": [box_label("7", "car", (700, 400, 800, 500)),
                                                                  box_label("8", "car", (10, 10, 50, 50))]}})
    source = BDD100KSource(root, "val")
    with pytest.raises(LabelError) as err:
        source.load(0)
    msg = str(err.value)
    assert "det_val.json" in msg and "a.jpg label 7" in msg and "outside" in msg and "\n" not in msg
    lenient = BDD100KSource(root, "val", policy=ErrorPolicy(strict=False))
    sample = lenient.load(0)
    assert len(sample.boxes) == 1 and lenient.policy.counts == {"box_outside": 1}


@pytest.mark.parametrize("label, kind, words", [
    (box_label("1", "spaceship", (10, 10, 50, 50)), "unknown_category", "unknown category 'spaceship'"),
    (box_label("2", "car", (50, 10, 50, 60)), "degenerate_box", "degenerate box"),
    ({"id": "3", "category": "car", "box2d": {"x1": 1, "y1": 2, "x2": 30}}, "missing_key", "box2d is missing ['y2']"),
    ({"id": "4", "box2d": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}}, "missing_key", "no 'category'"),
])
def test_bad_labels_strict_and_lenient(tmp_path, label, kind, words):
    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": [label, box_label("9", "bus", (10, 10, 90, 90))]}})
    with pytest.raises(LabelError, match=re.escape(words)):
        BDD100KSource(root, "val").load(0)
    source = BDD100KSource(root, "val", policy=ErrorPolicy(strict=False))
    assert source.load(0).classes.tolist() == [class_index("bus")]
    assert source.policy.counts == {kind: 1}


def test_missing_and_corrupt_images(tmp_path):
    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": []}, "b.jpg": {"det": []}})
    det = root / "labels" / "det_20" / "det_val.json"
    det.write_text(json.dumps(json.loads(det.read_text()) + [{"name": "gone.jpg", "labels": []}]))
    with pytest.raises(LabelError, match=r"det_val.json \[gone.jpg\]: labelled image not found"):
        BDD100KSource(root, "val")
    policy = ErrorPolicy(strict=False)
    source = BDD100KSource(root, "val", policy=policy)
    assert len(source) == 2 and policy.counts == {"missing_image": 1}
    (root / "images" / "100k" / "val" / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(LabelError, match="b.jpg: image cannot be decoded"):
        source.load(1)


def test_bad_json_names_file(tmp_path):
    root = write_bdd(tmp_path / "bdd", "val", {"a.jpg": {"det": []}})
    (root / "labels" / "det_20" / "det_val.json").write_text("[{\"name\": ")
    with pytest.raises(LabelError, match="det_val.json: not valid JSON"):
        BDD100KSource(root, "val")
    (root / "labels" / "det_20" / "det_val.json").write_text('[{"labels": []}]')
    with pytest.raises(LabelError, match=r"det_val.json \[frame 0\]: frame 0 has no 'name' key"):
        BDD100KSource(root, "val")
