"""TuSimple: lanes only.

    root/label_data_*.json (JSON lines): {"raw_file": "clips/.../20.jpg", "lanes": [[x, ...], ...],
                                          "h_samples": [y, ...]}; x = -2 marks "no lane at this row".

Default split files: train = label_data_0313 + label_data_0601, val = label_data_0531, test =
test_label.json; `splits:` in the dataset YAML may list other files (relative to root).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perception.data.errors import LabelError
from perception.data.sources.base import SourceAdapter, read_image
from perception.errors import MissingFileError
from perception.structures import Sample

DEFAULT_SPLITS = {
    "train": ["label_data_0313.json", "label_data_0601.json"],
    "val": ["label_data_0531.json"],
    "test": ["test_label.json"],
}


class TuSimpleSource(SourceAdapter):
    type_name = "tusimple"
    supported_tasks = ("lanes",)

    def _index(self) -> list[tuple[Path, list[np.ndarray], str]]:
        spec = self.split_spec
        names = DEFAULT_SPLITS.get(spec, [spec]) if isinstance(spec, str) else list(spec)
        records = []
        for name in names:
            path = self.root / name
            if not path.is_file():
                raise MissingFileError(f"{path}: TuSimple label file not found")
            for line_no, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                where = f"line {line_no}"
                try:
                    entry = json.loads(line)
                    missing = [k for k in ("raw_file", "lanes", "h_samples") if k not in entry]
                    if missing:
                        raise LabelError(str(path), f"missing keys {missing}", kind="missing_key", item=where)
                    lanes = self._lanes(entry, str(path), where)
                except json.JSONDecodeError as exc:
                    self.policy.report(LabelError(str(path), f"not valid JSON ({exc.msg})", kind="bad_json", item=where))
                    continue
                except LabelError as err:
                    self.policy.report(err)
                    continue
                image = self.root / entry["raw_file"]
                if not image.is_file():
                    self.policy.report(LabelError(str(path), f"image {image} not found", kind="missing_image", item=where,
                                                      image=str(image)))
                    continue
                records.append((image, lanes, f"{path}:{line_no}"))
        return records

    def _lanes(self, entry: dict, path: str, where: str) -> list[np.ndarray]:
        ys = np.asarray(entry["h_samples"], np.float32)
        lanes = []
        for k, xs in enumerate(entry["lanes"]):
            xs = np.asarray(xs, np.float32)
            if xs.shape != ys.shape:
                raise LabelError(path, f"lane {k} has {xs.size} x values for {ys.size} h_samples", kind="bad_lane", item=where)
            keep = xs >= 0  # -2 = lane absent at this row
            if keep.sum() >= 2:
                lanes.append(np.stack([xs[keep], ys[keep]], 1))
        return lanes

    def _load(self, record) -> Sample:
        image_path, lanes, _ = record
        image = read_image(image_path)
        attrs = [{"direction": "parallel", "style": "unknown", "category": "lane"} for _ in lanes]
        return Sample(image=image, lanes=lanes, lane_attrs=attrs, labelled={"lanes": True}, path=str(image_path))
