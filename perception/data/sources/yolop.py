"""YOLOP / HybridNets layout: per-image BDD JSON and binary masks.

    root/images/{split}/*.jpg
    root/det_annotations/{split}/<stem>.json    BDD per-image JSON (frames[0].objects or labels)
    root/da_seg_annotations/{split}/<stem>.png  drivable: nonzero = drivable, 0 = background
    root/ll_seg_annotations/{split}/<stem>.png  lane lines: nonzero = lane
(the mask folders may also hold the PNGs directly, without a split folder)

YOLOP's drivable masks merge direct and alternative, so nonzero pixels become class 0 (direct) and the
rest class 2 (background); alternative is never produced by this source. Lane masks have no polylines,
so these images train the binary lane term only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.data.sources import bdd_labels
from perception.data.sources.base import SourceAdapter, read_image, read_mask
from perception.errors import MissingFileError
from perception.imageio import list_images
from perception.structures import Sample


@dataclass
class YOLOPRecord:
    image_path: Path
    det: Path | None
    drivable: Path | None
    lane: Path | None


class YOLOPSource(SourceAdapter):
    type_name = "yolop"
    default_class_map = bdd_labels.BDD_CLASS_MAP

    def _folder(self, name: str) -> Path:
        split_dir = self.root / name / str(self.split_spec)
        return split_dir if split_dir.is_dir() else self.root / name

    def _index(self) -> list[YOLOPRecord]:
        image_dir = self.root / "images" / str(self.split_spec)
        if not image_dir.is_dir():
            raise MissingFileError(f"{image_dir}: YOLOP-layout image folder for split '{self.split_spec}' not found")
        det_dir, da_dir, ll_dir = (self._folder(n) for n in ("det_annotations", "da_seg_annotations", "ll_seg_annotations"))
        def existing(path: Path) -> Path | None:
            return path if path.is_file() else None

        records = (YOLOPRecord(img, existing(det_dir / f"{img.stem}.json"), existing(da_dir / f"{img.stem}.png"),
                               existing(ll_dir / f"{img.stem}.png")) for img in list_images(image_dir))
        return self.keep_labelled(records, lambda r: bool(r.det or r.drivable or r.lane))

    def _load(self, rec: YOLOPRecord) -> Sample:
        image = read_image(rec.image_path)
        h, w = image.shape[:2]
        sample = Sample(image=image, path=str(rec.image_path))
        labelled = {}
        if rec.det is not None:
            bdd_labels.set_boxes(self, sample, bdd_labels.load_image_json(rec.det), str(rec.det), rec.image_path.name)
            labelled["objects"] = labelled["pedestrians"] = True
        if rec.drivable is not None:
            sample.drivable = np.where(read_mask(rec.drivable, (h, w)) > 0, 0, 2).astype(np.uint8)
            labelled["drivable"] = True
        if rec.lane is not None:
            sample.lane_mask = (read_mask(rec.lane, (h, w)) > 0).astype(np.uint8)
            labelled["lanes"] = True
        sample.labelled = labelled
        return sample
