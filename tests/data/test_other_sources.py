import json

import cv2
import numpy as np
import pytest

from perception.classes import class_index
from perception.data.errors import ErrorPolicy, LabelError
from perception.data.sources import get_source_type

from bdd_writers import box_label, write_image


def test_yolop_layout(tmp_path):
    root = tmp_path / "yolop"
    write_image(root / "images" / "val" / "x.jpg")
    (root / "det_annotations" / "val").mkdir(parents=True)
    # YOLOP ships BDD's old per-image format: frames[0].objects
    (root / "det_annotations" / "val" / "x.json").write_text(json.dumps(
        {"name": "x", "frames": [{"objects": [box_label("0", "car", (5, 5, 60, 40)), box_label("1", "person", (70, 5, 90, 60))]}]}))
    da = np.zeros((360, 640), np.uint8)
    da[200:, :] = 255
    ll = np.zeros((360, 640), np.uint8)
    ll[200:, 320:324] = 255
    for folder, mask in (("da_seg_annotations", da), ("ll_seg_annotations", ll)):
        (root / folder / "val").mkdir(parents=True)
        cv2.imwrite(str(root / folder / "val" / "x.png"), mask)
    sample = get_source_type("yolop")(root, "val").load(0)
    assert sample.classes.tolist() == [class_index("car"), class_index("pedestrian")]
    assert (sample.drivable[200:] == 0).all() and (sample.drivable[:200] == 2).all()
    assert sample.lane_mask.sum() == 160 * 4 and all(sample.labelled.values())


def test_culane(tmp_path):
    root = tmp_path / "culane"
    image = root / "driver_1" / "v.MP4" / "00000.jpg"
    write_image(image, 590, 1640)
    image.with_suffix(".lines.txt").write_text("500 590 600 400 700 300 \n1100 590 1000 400 900 300\n")
    (root / "list").mkdir()
    (root / "list" / "val_gt.txt").write_text("/driver_1/v.MP4/00000.jpg /laneseg/x.png 1 1 0 0\n")
    source = get_source_type("culane")(root, "val")
    sample = source.load(0)
    assert sample.labelled == {"objects": False, "pedestrians": False, "lanes": True, "drivable": False}
    np.testing.assert_allclose(sample.lanes[1], [[1100, 590], [1000, 400], [900, 300]])
    image.with_suffix(".lines.txt").write_text("1 2 3\n")
    with pytest.raises(LabelError, match="00000.lines.txt: line 1: needs an even count"):
        source.load(0)


def test_tusimple_absent_points_dropped(tmp_path):
    root = tmp_path / "tusimple"
    write_image(root / "clips" / "0313-1" / "10" / "20.jpg", 720, 1280)
    entry = {"raw_file": "clips/0313-1/10/20.jpg", "h_samples": [240, 250, 260, 270],
             "lanes": [[-2, 600, 590, 580], [-2, -2, -2, -2], [700, 710, 720, 730]]}
    (root / "label_data_0531.json").write_text(json.dumps(entry) + "\n" + json.dumps({"raw_file": "x.jpg"}) + "\n")
    with pytest.raises(LabelError, match=r"label_data_0531.json \[line 2\]: missing keys \['lanes', 'h_samples'\]"):
        get_source_type("tusimple")(root, "val")
    source = get_source_type("tusimple")(root, "val", policy=ErrorPolicy(strict=False))
    assert len(source) == 1 and source.policy.counts == {"missing_key": 1}
    lanes = source.load(0).lanes
    assert len(lanes) == 2  # the all-absent lane is dropped
    np.testing.assert_allclose(lanes[0], [[600, 250], [590, 260], [580, 270]])


def test_citypersons_visibility_and_ignore(tmp_path):
    root = tmp_path / "cp"
    write_image(root / "leftImg8bit" / "val" / "aachen" / "aachen_000000_000019_leftImg8bit.png", 512, 1024)
    objects = [
        {"label": "pedestrian", "bbox": [100, 100, 40, 100], "bboxVis": [100, 100, 40, 50]},
        {"label": "sitting person", "bbox": [300, 100, 20, 40], "bboxVis": [300, 100, 20, 40]},
        {"label": "rider", "bbox": [500, 100, 20, 60], "bboxVis": [500, 100, 10, 60]},
        {"label": "person group", "bbox": [700, 100, 80, 60], "bboxVis": [700, 100, 80, 60]},
        {"label": "ignore", "bbox": [800, 100, 30, 30], "bboxVis": [0, 0, 0, 0]},
    ]
    (root / "gtBboxCityPersons" / "val" / "aachen").mkdir(parents=True)
    (root / "gtBboxCityPersons" / "val" / "aachen" / "aachen_000000_000019_gtBboxCityPersons.json").write_text(
        json.dumps({"imgHeight": 512, "imgWidth": 1024, "objects": objects}))
    sample = get_source_type("citypersons")(root, "val").load(0)
    np.testing.assert_allclose(sample.boxes[0], [100, 100, 140, 200])
    assert sample.classes.tolist() == [0, 0, 1]
    np.testing.assert_allclose(sample.visibility, [0.5, 1.0, 0.5])
    assert len(sample.ignore_boxes) == 2
    assert sample.labelled == {"objects": False, "pedestrians": True, "lanes": False, "drivable": False}


def test_coco_mapping(tmp_path):
    root = tmp_path / "coco"
    write_image(root / "val2017" / "000001.jpg", 480, 640)
    data = {
        "images": [{"id": 1, "file_name": "000001.jpg", "height": 480, "width": 640}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 13, "name": "stop sign"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 60], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [100, 100, 80, 40], "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 13, "bbox": [300, 50, 20, 20], "iscrowd": 0},
            {"id": 4, "image_id": 1, "category_id": 18, "bbox": [400, 300, 50, 50], "iscrowd": 0},
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [500, 300, 100, 100], "iscrowd": 1},
        ],
    }
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    source = get_source_type("coco")(root, "val")
    sample = source.load(0)
    assert sample.classes.tolist() == [class_index("pedestrian"), class_index("car"), class_index("traffic sign")]
    np.testing.assert_allclose(sample.boxes[1], [100, 100, 180, 140])
    np.testing.assert_allclose(sample.ignore_boxes, [[500, 300, 600, 400]])
    assert source.dropped_categories == {"dog": 1}
    assert sample.labelled["objects"] and sample.labelled["pedestrians"] and not sample.labelled["lanes"]
    # labels are per class: no rider in COCO, and only stop signs of the traffic signs -> neither trains as
    # background on COCO images; the dataset item carries that coverage (and the crowd box) to the loss
    covered = source.labelled_classes()
    assert class_index("rider") not in covered and class_index("traffic sign") not in covered
    assert {class_index("pedestrian"), class_index("car"), class_index("traffic light")} <= covered
    from perception.data.dataset import MultiTaskDataset

    item = MultiTaskDataset([source], imgsz=(256, 320))[0]
    assert item["class_labelled"].tolist() == [i in covered for i in range(len(item["class_labelled"]))]
    assert len(item["ignore_boxes"]) == 1
