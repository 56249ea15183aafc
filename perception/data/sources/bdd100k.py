"""BDD100K official layout (also what `perception synth` writes).

    root/images/100k/{split}/*.jpg                       (images/{split}/ accepted too)
    root/labels/det_20/det_{split}.json                  box2d per label -> objects + pedestrians
    root/labels/lane/polygons/lane_{split}.json          poly2d lanes -> lanes + lane_attrs
    root/labels/lane/masks/{split}/*.png                 official lane bytes -> lane_mask (no slots)
    root/labels/drivable/masks/{split}/*.png             0 direct, 1 alternative, 2 background
    root/labels/drivable/polygons/drivable_{split}.json  direct/alternative polygons

Each image's `labelled` flags say which of these exist for that image; an image that appears in no label
source is counted in `unlabelled_images` and left out (said by every command, not an error), as is a mask
without its image. A labelled image that is missing is one skip however many label files list it. A task
of the source with none of its label files or folders present is in `missing_tasks`. Lane polylines win
over lane masks when both exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.data.errors import LabelError
from perception.data.sources import bdd_labels
from perception.data.sources.base import SourceAdapter, read_image, read_mask
from perception.errors import MissingFileError
from perception.imageio import list_images
from perception.structures import Sample


@dataclass
class BDDRecord:
    name: str
    image_path: Path
    det: dict | None
    lane: dict | None
    drivable_json: dict | None
    lane_mask: Path | None
    drivable_mask: Path | None


class BDD100KSource(SourceAdapter):
    type_name = "bdd100k"
    default_class_map = bdd_labels.BDD_CLASS_MAP

    def _paths(self) -> dict[str, Path]:
        split = str(self.split_spec)
        labels = self.root / "labels"
        image_dir = self.root / "images" / "100k" / split
        if not image_dir.is_dir() and (self.root / "images" / split).is_dir():
            image_dir = self.root / "images" / split
        return {
            "images": image_dir,
            "det": labels / "det_20" / f"det_{split}.json",
            "lane_json": labels / "lane" / "polygons" / f"lane_{split}.json",
            "lane_masks": labels / "lane" / "masks" / split,
            "drivable_masks": labels / "drivable" / "masks" / split,
            "drivable_json": labels / "drivable" / "polygons" / f"drivable_{split}.json",
        }

    def _index(self) -> list[BDDRecord]:
        p = self._paths()
        self.label_files = {k: v for k, v in p.items() if k != "images" and v.exists()}
        if not p["images"].is_dir():
            raise MissingFileError(f"{p['images']}: BDD100K image folder for split '{self.split_spec}' not found")
        self.missing_tasks = self._missing_tasks(p)
        want = set(self.tasks)
        det = bdd_labels.load_frames(p["det"]) if p["det"].is_file() and want & {"objects", "pedestrians"} else {}
        lane = bdd_labels.load_frames(p["lane_json"]) if p["lane_json"].is_file() and "lanes" in want else {}
        drv = bdd_labels.load_frames(p["drivable_json"]) if p["drivable_json"].is_file() and "drivable" in want else {}
        lane_masks = {m.stem: m for m in list_images(p["lane_masks"])} if "lanes" in want else {}
        drv_masks = {m.stem: m for m in list_images(p["drivable_masks"])} if "drivable" in want else {}
        images = {img.name: img for img in list_images(p["images"])}
        self._report_missing_images(p, set(images), {"det": det, "lane_json": lane, "drivable_json": drv})
        stems = {Path(name).stem for name in images}
        for masks, key, reason in ((lane_masks, "lane_masks", "lane masks without an image"),
                                   (drv_masks, "drivable_masks", "drivable masks without an image")):
            self.policy.note_left_out(reason, len(set(masks) - stems), str(p[key]))
        records = (BDDRecord(name, path, det.get(name), lane.get(name), drv.get(name), lane_masks.get(Path(name).stem),
                             drv_masks.get(Path(name).stem)) for name, path in images.items())
        return self.keep_labelled(records, lambda r: any(
            v is not None for v in (r.det, r.lane, r.drivable_json, r.lane_mask, r.drivable_mask)))

    def _missing_tasks(self, p: dict[str, Path]) -> dict[str, str]:
        """Task -> what was looked for, for each task of this source none of whose label files exists."""
        has_masks = {k: bool(list_images(p[k])) for k in ("lane_masks", "drivable_masks")}
        looked_for = {
            "objects": (p["det"].is_file(), f"{p['det']}"),
            "pedestrians": (p["det"].is_file(), f"{p['det']}"),
            "lanes": (p["lane_json"].is_file() or has_masks["lane_masks"], f"{p['lane_json']} or {p['lane_masks']}/*.png"),
            "drivable": (p["drivable_json"].is_file() or has_masks["drivable_masks"],
                         f"{p['drivable_json']} or {p['drivable_masks']}/*.png"),
        }
        return {t: looked_for[t][1] for t in self.tasks if not looked_for[t][0]}

    def _report_missing_images(self, p: dict[str, Path], present: set[str], tables: dict[str, dict]) -> None:
        """A labelled image that is not there is a data error, reported by name (strict) or counted (lenient)
        once per image, naming every label file that lists it."""
        listed: dict[str, list[str]] = {}
        for key, table in tables.items():
            for name in set(table) - present:
                listed.setdefault(name, []).append(str(p[key]))
        for name in sorted(listed):
            first, *others = listed[name]
            also = f" (also listed in {', '.join(others)})" if others else ""
            self.policy.report(LabelError(first, f"labelled image not found in {p['images']}{also}", kind="missing_image",
                                          item=name, image=name))

    def _load(self, rec: BDDRecord) -> Sample:
        image = read_image(rec.image_path)
        h, w = image.shape[:2]
        sample = Sample(image=image, path=str(rec.image_path))
        labelled = {}
        if rec.det is not None:
            bdd_labels.set_boxes(self, sample, rec.det, str(self._paths()["det"]), rec.name)
            labelled["objects"] = labelled["pedestrians"] = True
        if rec.lane is not None:
            src = str(self._paths()["lane_json"])
            sample.lanes, sample.lane_attrs = bdd_labels.parse_lanes(self, bdd_labels.frame_labels(rec.lane, src), src, rec.name)
            labelled["lanes"] = True
        elif rec.lane_mask is not None:
            sample.lane_bits = read_mask(rec.lane_mask, (h, w))
            sample.lane_mask = bdd_labels.decode_lane_mask(sample.lane_bits)["lane"]
            labelled["lanes"] = True
        if rec.drivable_mask is not None:
            sample.drivable = self._check_drivable(read_mask(rec.drivable_mask, (h, w)), rec.drivable_mask)
            labelled["drivable"] = True
        elif rec.drivable_json is not None:
            src = str(self._paths()["drivable_json"])
            labels = bdd_labels.frame_labels(rec.drivable_json, src)
            sample.drivable = bdd_labels.parse_drivable_polygons(self, labels, w, h, src, rec.name)
            labelled["drivable"] = True
        sample.labelled = labelled
        return sample

    @staticmethod
    def _check_drivable(mask: np.ndarray, path: Path) -> np.ndarray:
        bad = np.setdiff1d(np.unique(mask), [0, 1, 2, 255])
        if bad.size:
            raise LabelError(str(path), f"drivable mask has values {bad.tolist()[:5]}; expected 0 direct, 1 alternative, 2 background",
                             kind="bad_mask")
        return mask
