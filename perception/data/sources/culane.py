"""CULane: lanes only.

    root/list/{split}_gt.txt or root/list/{split}.txt   one image path per line (relative to root,
                                                         leading '/' allowed; extra columns ignored)
    <image>.lines.txt beside each image                  one lane per line: "x y x y ..." in pixels

`splits:` in the dataset YAML may name other list files (relative to root). Lanes keep the file's order;
all CULane lanes are along the road, so every lane gets a slot by position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.data.errors import LabelError
from perception.data.sources.base import SourceAdapter, read_image
from perception.errors import MissingFileError
from perception.structures import Sample


class CULaneSource(SourceAdapter):
    type_name = "culane"
    supported_tasks = ("lanes",)

    def _list_files(self) -> list[Path]:
        spec = self.split_spec
        if isinstance(spec, str) and not spec.endswith(".txt"):
            for candidate in (f"list/{spec}_gt.txt", f"list/{spec}.txt"):
                if (self.root / candidate).is_file():
                    return [self.root / candidate]
            raise MissingFileError(f"{self.root}/list: no {spec}_gt.txt or {spec}.txt list file for split '{spec}'")
        files = [self.root / s for s in ([spec] if isinstance(spec, str) else spec)]
        for f in files:
            if not f.is_file():
                raise MissingFileError(f"{f}: CULane list file not found")
        return files

    def _index(self) -> list[Path]:
        records = []
        for list_file in self._list_files():
            for line_no, line in enumerate(list_file.read_text().splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                image = self.root / parts[0].lstrip("/")
                if not image.is_file():
                    self.policy.report(LabelError(str(list_file), f"line {line_no}: image {image} not found", kind="missing_image",
                                                  image=str(image)))
                    continue
                records.append(image)
        return records

    def _load(self, image_path: Path) -> Sample:
        image = read_image(image_path)
        lines_file = image_path.with_suffix(".lines.txt")
        if not lines_file.is_file():
            raise LabelError(str(lines_file), "lane file missing for this image", kind="missing_label")
        lanes = []
        for line_no, line in enumerate(lines_file.read_text().splitlines(), 1):
            values = line.split()
            if not values:
                continue
            try:
                pts = np.asarray([float(v) for v in values], np.float32)
            except ValueError:
                self.policy.report(LabelError(str(lines_file), f"line {line_no}: non-numeric coordinate", kind="bad_lane"))
                continue
            if len(pts) % 2 or len(pts) < 4:
                self.policy.report(LabelError(str(lines_file), f"line {line_no}: needs an even count of >= 4 numbers (x y pairs)",
                                              kind="degenerate_polygon"))
                continue
            lanes.append(pts.reshape(-1, 2))
        attrs = [{"direction": "parallel", "style": "unknown", "category": "lane"} for _ in lanes]
        return Sample(image=image, lanes=lanes, lane_attrs=attrs, labelled={"lanes": True}, path=str(image_path))
