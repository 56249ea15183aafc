"""Parsers for BDD100K (Scalabel) label JSON: detection boxes, lane polylines, drivable polygons, masks.

Shared by the BDD100K official layout and the YOLOP layout (which stores the same JSON per image).
Bit layout of the official lane masks (bdd100k/eval/lane.py): bits 0-2 category, bit 3 background,
bit 4 style (0 solid, 1 dashed), bit 5 direction (0 parallel, 1 vertical); 255 is background.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.data.errors import LabelError
from perception.data.sources.base import DROP, IGNORE_REGION, SourceAdapter, check_box, poly2d_points
from perception.markings import BDD_LANE_CATEGORIES
from perception.structures import Sample

DRIVABLE_IDS = {"direct": 0, "area/drivable": 0, "alternative": 1, "area/alternative": 1}

# BDD100K det_20 categories outside the 10 evaluated classes become ignore regions (as in the official
# evaluation, which does not count detections on them as false positives).
BDD_CLASS_MAP: dict[str, str | None] = {
    "other person": IGNORE_REGION,
    "other vehicle": IGNORE_REGION,
    "trailer": IGNORE_REGION,
    "person": "pedestrian",
    "bike": "bicycle",
    "motor": "motorcycle",
}


# BDD100K det_20 labels carry no visible share, only `occluded: true/false`. The CityPersons/Caltech
# "reasonable" subset keeps pedestrians with visibility >= 0.65 (Dollar et al., PAMI 2012: "no or partial
# occlusion", at most 35 % occluded; Zhang et al., CVPR 2017 CityPersons), so an occluded BDD100K pedestrian
# cannot be shown to be inside it and is taken as outside: visibility 0.5, which is below 0.65 ("reasonable"
# ignores it) and above 0.2 (the "all" setup still counts it). `truncated` (cut by the image border) is not
# occlusion in either protocol and leaves visibility alone. A numeric `visibility` (CityPersons-derived or
# synthetic labels) wins over the flag; a label with neither counts as fully visible. docs/metrics.md.
OCCLUDED_VISIBILITY = 0.5


def label_visibility(attributes: dict[str, Any]) -> float:
    """Visible share in [0, 1] of a det_20 label: its numeric `visibility`, else OCCLUDED_VISIBILITY when
    `occluded` is true, else 1.0."""
    vis = attributes.get("visibility")
    if isinstance(vis, (int, float)) and not isinstance(vis, bool):
        return float(np.clip(vis, 0.0, 1.0))
    return OCCLUDED_VISIBILITY if attributes.get("occluded") is True else 1.0


def load_frames(path: Path) -> dict[str, dict[str, Any]]:
    """A Scalabel JSON (list of frames, or {"frames": [...]}) -> {image name: frame}; errors name the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(str(path), f"cannot read label file ({exc.__class__.__name__})", kind="unreadable_json") from None
    except json.JSONDecodeError as exc:
        raise LabelError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})", kind="bad_json") from None
    frames = data.get("frames") if isinstance(data, dict) else data
    if isinstance(data, dict) and frames is None and "name" in data:
        frames = [data]  # one per-image file
    if not isinstance(frames, list):
        raise LabelError(str(path), "expected a list of frames (or a mapping with 'frames')", kind="bad_json")
    out: dict[str, dict[str, Any]] = {}
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or "name" not in frame:
            raise LabelError(str(path), f"frame {i} has no 'name' key", kind="missing_key", item=f"frame {i}")
        out[Path(str(frame["name"])).name] = frame
    return out


def load_image_json(path: Path) -> dict[str, Any]:
    """One per-image BDD JSON (YOLOP layout): {"name", "frames": [{"objects": [...]}]} or {"labels": [...]}."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LabelError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})", kind="bad_json") from None
    if not isinstance(data, dict):
        raise LabelError(str(path), "expected one JSON object per image", kind="bad_json")
    return data


def frame_labels(frame: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The label list of a frame. BDD100K omits 'labels' on images with none; older files nest 'objects'."""
    labels = frame.get("labels")
    if labels is None and isinstance(frame.get("frames"), list) and frame["frames"]:
        labels = frame["frames"][0].get("objects")
    labels = labels or []
    if not isinstance(labels, list):
        raise LabelError(path, "'labels' is not a list", kind="bad_json", item=str(frame.get("name")))
    return labels


def _is_lane_or_area(category: str) -> bool:
    return category.startswith("lane") or category.startswith("area/") or category in DRIVABLE_IDS


def parse_boxes(adapter: SourceAdapter, labels: list[dict], width: int, height: int, path: str, image: str):
    """Detection labels -> (boxes (N,4), classes (N,), visibility (N,), ignore_boxes (M,4)) in image pixels.

    box2d gives the box; a label with only poly2d (instance segmentation) uses the vertex bounds (an
    upper bound for Bezier segments). crowd=True and categories mapped to 'ignore' become ignore boxes.
    """
    boxes, classes, visibility, ignores = [], [], [], []
    for label in labels:
        item = f"{image} label {label.get('id', '?')}"
        try:
            category = label.get("category")
            if category is None:
                raise LabelError(path, "label has no 'category'", kind="missing_key", item=item)
            if _is_lane_or_area(str(category).lower()):
                continue  # lane/drivable labels of the old all-in-one files are parsed by their own task
            target = adapter.map_category(category, path, item)
            if target is DROP:
                continue
            if "box2d" in label and label["box2d"] is not None:
                b = label["box2d"]
                missing = [k for k in ("x1", "y1", "x2", "y2") if k not in b]
                if missing:
                    raise LabelError(path, f"box2d is missing {missing}", kind="missing_key", item=item)
                raw = (b["x1"], b["y1"], b["x2"], b["y2"])
            elif label.get("poly2d"):
                pts = np.concatenate([poly2d_points(p.get("vertices"), None, path, item, min_points=1)
                                      for p in label["poly2d"]])
                raw = (*pts.min(0), *pts.max(0))
            else:
                raise LabelError(path, "label has neither 'box2d' nor 'poly2d'", kind="missing_key", item=item)
            box = check_box(raw, width, height, path, item)
        except LabelError as err:
            adapter.policy.report(err)
            continue
        attributes = label.get("attributes") or {}
        if target == IGNORE_REGION or bool(attributes.get("crowd", False)):
            ignores.append(box)
        else:
            boxes.append(box)
            classes.append(target)
            visibility.append(label_visibility(attributes))
    return (np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64), np.array(visibility, np.float32),
            np.array(ignores, np.float32).reshape(-1, 4))


def set_boxes(adapter: SourceAdapter, sample: Sample, frame: dict[str, Any], path: str, image: str) -> None:
    """Fill `sample`'s boxes, classes, visibility, ignore boxes and (unknown: -1) track ids from one BDD frame."""
    height, width = sample.image.shape[:2]
    labels = frame_labels(frame, path)
    sample.boxes, sample.classes, sample.visibility, sample.ignore_boxes = parse_boxes(adapter, labels, width, height, path, image)
    sample.track_ids = np.full(len(sample.boxes), -1, np.int64)


def parse_lanes(adapter: SourceAdapter, labels: list[dict], path: str, image: str):
    """Lane labels (poly2d + laneDirection/laneStyle/laneTypes) -> (polylines, attrs)."""
    lanes, attrs = [], []
    for label in labels:
        category = str(label.get("category", "")).lower()
        if label.get("box2d") is not None or (category and not category.startswith("lane") and category not in BDD_LANE_CATEGORIES):
            continue
        item = f"{image} label {label.get('id', '?')}"
        a = label.get("attributes") or {}
        try:
            polys = label.get("poly2d")
            if not polys:
                raise LabelError(path, "lane label has no 'poly2d'", kind="missing_key", item=item)
            for poly in polys:
                if "vertices" not in poly:
                    raise LabelError(path, "poly2d has no 'vertices'", kind="missing_key", item=item)
                pts = poly2d_points(poly["vertices"], poly.get("types"), path, item)
                lanes.append(pts)
                lane_type = a.get("laneTypes") or a.get("laneType") or category.removeprefix("lane/")
                attrs.append({
                    "direction": str(a.get("laneDirection", "parallel")),
                    "style": str(a.get("laneStyle", "solid")),
                    "category": str(lane_type or "lane"),
                    "closed": bool(poly.get("closed", False)),
                })
        except LabelError as err:
            adapter.policy.report(err)
    return lanes, attrs


def parse_drivable_polygons(adapter: SourceAdapter, labels: list[dict], width: int, height: int, path: str, image: str):
    """Drivable polygons (category direct/alternative) -> (H, W) uint8 0 direct, 1 alternative, 2 background."""
    mask = np.full((height, width), 2, np.uint8)
    for label in labels:
        category = str(label.get("category", "")).lower()
        if category not in DRIVABLE_IDS:
            continue
        item = f"{image} label {label.get('id', '?')}"
        try:
            for poly in label.get("poly2d") or []:
                pts = poly2d_points(poly.get("vertices"), poly.get("types"), path, item, min_points=3)
                cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], DRIVABLE_IDS[category], shift=4)
        except LabelError as err:
            adapter.policy.report(err)
    return mask


def decode_lane_mask(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Official BDD100K lane mask bytes -> {'lane': {0,1}, 'category': 0..7, 'style': 0/1, 'direction': 0/1}."""
    raw = np.asarray(raw, np.uint8)
    return {
        "lane": ((raw >> 3) & 1 == 0).astype(np.uint8),
        "category": raw & 7,
        "style": (raw >> 4) & 1,
        "direction": (raw >> 5) & 1,
    }
