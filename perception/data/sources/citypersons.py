"""CityPersons: pedestrians only.

    root/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
    root/gtBboxCityPersons/{split}/{city}/{stem}_gtBboxCityPersons.json
        {"imgHeight", "imgWidth", "objects": [{"label", "bbox": [x, y, w, h], "bboxVis": [x, y, w, h]}]}

Labels: pedestrian -> pedestrian, rider -> rider, sitting person -> pedestrian; person (other), person
group and ignore -> ignore regions. visibility = area(bboxVis) / area(bbox), which the 'reasonable'
protocol (height >= 50 px, visibility >= 0.65) needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perception.data.errors import LabelError
from perception.data.sources.base import DROP, IGNORE_REGION, SourceAdapter, check_box, read_image
from perception.errors import MissingFileError
from perception.structures import Sample

CITYPERSONS_CLASS_MAP: dict[str, str | None] = {
    "pedestrian": "pedestrian",
    "rider": "rider",
    "sitting person": "pedestrian",
    "person (other)": IGNORE_REGION,
    "person group": IGNORE_REGION,
    "ignore": IGNORE_REGION,
}


class CityPersonsSource(SourceAdapter):
    type_name = "citypersons"
    supported_tasks = ("pedestrians",)
    default_class_map = CITYPERSONS_CLASS_MAP

    def _index(self) -> list[tuple[Path, Path]]:
        label_dir = self.root / "gtBboxCityPersons" / str(self.split_spec)
        if not label_dir.is_dir():
            raise MissingFileError(f"{label_dir}: CityPersons label folder for split '{self.split_spec}' not found")
        records = []
        for label in sorted(label_dir.glob("*/*_gtBboxCityPersons.json")):
            stem = label.name.removesuffix("_gtBboxCityPersons.json")
            image = self.root / "leftImg8bit" / str(self.split_spec) / label.parent.name / f"{stem}_leftImg8bit.png"
            if not image.is_file():
                self.policy.report(LabelError(str(label), f"image {image} not found", kind="missing_image",
                                              image=str(image)))
                continue
            records.append((image, label))
        return records

    def _load(self, record) -> Sample:
        image_path, label_path = record
        image = read_image(image_path)
        h, w = image.shape[:2]
        try:
            data = json.loads(label_path.read_text())
        except json.JSONDecodeError as exc:
            raise LabelError(str(label_path), f"not valid JSON ({exc.msg})", kind="bad_json") from None
        if "objects" not in data:
            raise LabelError(str(label_path), "missing key 'objects'", kind="missing_key")
        boxes, classes, vis, ignores = [], [], [], []
        for k, obj in enumerate(data["objects"]):
            item = f"object {k}"
            try:
                if "label" not in obj or "bbox" not in obj:
                    raise LabelError(str(label_path), "object needs 'label' and 'bbox'", kind="missing_key", item=item)
                target = self.map_category(obj["label"], str(label_path), item)
                if target is DROP:
                    continue
                x, y, bw, bh = (float(v) for v in obj["bbox"])
                box = check_box((x, y, x + bw, y + bh), w, h, str(label_path), item)
            except LabelError as err:
                self.policy.report(err)
                continue
            if target == IGNORE_REGION:
                ignores.append(box)
                continue
            visible = obj.get("bboxVis")
            visibility = 1.0
            if visible is not None and bw * bh > 0:
                visibility = float(np.clip(float(visible[2]) * float(visible[3]) / (bw * bh), 0.0, 1.0))
            boxes.append(box)
            classes.append(target)
            vis.append(visibility)
        return Sample(image=image, boxes=np.array(boxes, np.float32).reshape(-1, 4), classes=classes,
                      visibility=np.array(vis, np.float32), ignore_boxes=np.array(ignores, np.float32).reshape(-1, 4),
                      labelled={"pedestrians": True}, path=str(image_path))
