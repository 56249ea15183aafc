"""COCO instances JSON: objects and pedestrians.

    root/annotations/instances_{split}2017.json and root/{split}2017/*.jpg  (default)
    or, in the dataset YAML, `splits: {val: {annotations: path.json, images: folder}}` relative to root.

Mapping (COCO name -> global class): person -> pedestrian, car, bus, truck, train, motorcycle, bicycle,
traffic light, stop sign -> traffic sign. Other COCO categories are not driving classes: they are
dropped (counted in `dropped_categories`, not errors). COCO has no 'rider' (a cyclist is a 'person'), so
riders from COCO train as pedestrians. iscrowd=1 boxes become ignore regions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from perception.classes import class_index
from perception.data.errors import LabelError
from perception.data.sources.base import DROP, IGNORE_REGION, SourceAdapter, check_box, read_image
from perception.errors import MissingFileError
from perception.structures import Sample

COCO_CLASS_MAP: dict[str, str | None] = {
    "person": "pedestrian",
    "bicycle": "bicycle",
    "car": "car",
    "motorcycle": "motorcycle",
    "bus": "bus",
    "train": "train",
    "truck": "truck",
    "traffic light": "traffic light",
    "stop sign": "traffic sign",
}


PARTIAL_CLASSES = ("traffic sign",)  # global classes COCO labels only a few kinds of


class COCOSource(SourceAdapter):
    type_name = "coco"
    supported_tasks = ("objects", "pedestrians")
    default_class_map = COCO_CLASS_MAP

    def labelled_classes(self) -> frozenset[int]:
        # Only mapped categories are labelled (COCO has no rider). 'traffic sign' is only partly labelled
        # (stop signs): its boxes are positives, but an unlabelled sign must not be trained as background.
        mapped = {class_index(v) for v in self.class_map.values() if v not in (DROP, IGNORE_REGION)}
        return frozenset(mapped - {class_index(c) for c in PARTIAL_CLASSES})

    def map_category(self, category: str, path: str, item: str):
        # Every COCO category not in the map is a known non-driving class, so drop it (counted) rather
        # than flag it as unknown.
        if category.strip().lower() not in self.class_map:
            self.dropped_categories[category] = self.dropped_categories.get(category, 0) + 1
            return DROP
        return super().map_category(category, path, item)

    def _index(self):
        spec = self.split_spec
        if isinstance(spec, dict):
            ann, images = self.root / spec["annotations"], self.root / spec["images"]
        else:
            ann, images = self.root / "annotations" / f"instances_{spec}2017.json", self.root / f"{spec}2017"
        if not ann.is_file():
            raise MissingFileError(f"{ann}: COCO annotation file not found")
        self.ann_path = str(ann)
        try:
            data = json.loads(ann.read_text())
        except json.JSONDecodeError as exc:
            raise LabelError(str(ann), f"not valid JSON (line {exc.lineno}: {exc.msg})", kind="bad_json") from None
        missing = [k for k in ("images", "annotations", "categories") if k not in data]
        if missing:
            raise LabelError(str(ann), f"missing keys {missing}", kind="missing_key")
        self.categories = {c["id"]: c["name"] for c in data["categories"]}
        per_image = defaultdict(list)
        for a in data["annotations"]:
            per_image[a.get("image_id")].append(a)
        records = []
        for img in data["images"]:
            path = images / img["file_name"]
            if not path.is_file():
                self.policy.report(LabelError(str(ann), f"image {path} not found", kind="missing_image",
                                              item=f"image id {img.get('id')}", image=str(path)))
                continue
            records.append((path, per_image.get(img["id"], [])))
        return records

    def _load(self, record) -> Sample:
        path, anns = record
        image = read_image(path)
        h, w = image.shape[:2]
        boxes, classes, ignores = [], [], []
        for a in anns:
            item = f"{path.name} annotation {a.get('id', '?')}"
            try:
                if "bbox" not in a or "category_id" not in a:
                    raise LabelError(self.ann_path, "annotation needs 'bbox' and 'category_id'", kind="missing_key", item=item)
                name = self.categories.get(a["category_id"])
                if name is None:
                    raise LabelError(self.ann_path, f"unknown category_id {a['category_id']}", kind="unknown_category", item=item)
                target = self.map_category(name, self.ann_path, item)
                if target is DROP:
                    continue
                x, y, bw, bh = (float(v) for v in a["bbox"])
                box = check_box((x, y, x + bw, y + bh), w, h, self.ann_path, item)
            except LabelError as err:
                self.policy.report(err)
                continue
            if a.get("iscrowd") or target == IGNORE_REGION:
                ignores.append(box)
            else:
                boxes.append(box)
                classes.append(target)
        return Sample(image=image, boxes=np.array(boxes, np.float32).reshape(-1, 4), classes=classes,
                      ignore_boxes=np.array(ignores, np.float32).reshape(-1, 4),
                      labelled={"objects": True, "pedestrians": True}, path=str(path))
