"""Typed data passed between stages: one labelled image (`Sample`) and one prediction (`FrameResult`).

Torch-free: the ONNX runtime and the video tool use these too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.classes import BDD100K_CLASSES, TASKS


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


@dataclass
class Sample:
    """One image with whatever labels its source has. Coordinates are pixels of `image`."""

    image: np.ndarray
    boxes: np.ndarray = field(default_factory=_empty_boxes)
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    track_ids: np.ndarray | None = None
    visibility: np.ndarray | None = None
    ignore_boxes: np.ndarray = field(default_factory=_empty_boxes)
    lanes: list[np.ndarray] = field(default_factory=list)
    lane_attrs: list[dict[str, Any]] = field(default_factory=list)
    lane_mask: np.ndarray | None = None
    # BDD100K lane byte mask (H, W) uint8 (bits: category, style, direction; 255 background) where the source
    # has one: what the lane-attribute and crossing targets of mask-only images, and the official metric, read.
    lane_bits: np.ndarray | None = None
    drivable: np.ndarray | None = None
    labelled: dict[str, bool] = field(default_factory=lambda: {t: False for t in TASKS})
    path: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        n = len(self.boxes)
        if self.track_ids is None:
            self.track_ids = np.full((n,), -1, np.int64)
        if self.visibility is None:
            self.visibility = np.ones((n,), np.float32)
        self.ignore_boxes = np.asarray(self.ignore_boxes, np.float32).reshape(-1, 4)
        self.lanes = [np.asarray(p, np.float32).reshape(-1, 2) for p in self.lanes]
        if len(self.lane_attrs) < len(self.lanes):
            self.lane_attrs = list(self.lane_attrs) + [{} for _ in range(len(self.lanes) - len(self.lane_attrs))]
        self.labelled = {t: bool(self.labelled.get(t, False)) for t in TASKS}

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass
class Detections:
    """Boxes (N, 4) xyxy in original-image pixels, scores (N,), global class ids (N,), track ids (N,)."""

    boxes: np.ndarray = field(default_factory=_empty_boxes)
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        if self.track_ids is None:
            self.track_ids = np.full((len(self.boxes),), -1, np.int64)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Detections:
        """The detections `index` selects, as a new Detections: a boolean mask (N,), an index array, a slice or one
        int (a Detections of length 1), with numpy's meaning (an array index copies, a slice is a view)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.boxes[index], self.scores[index], self.classes[index], self.track_ids[index])

    @classmethod
    def cat(cls, parts: Sequence[Detections]) -> Detections:
        """The detections of every part, in order, as one Detections (empty for no parts)."""
        if not parts:
            return cls()
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                   np.concatenate([p.classes for p in parts]), np.concatenate([p.track_ids for p in parts]))

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for box, score, cls, tid in zip(self.boxes, self.scores, self.classes, self.track_ids):
            item = {
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 4),
                "class_id": int(cls),
                "class": BDD100K_CLASSES[int(cls)],
            }
            if tid >= 0:
                item["track_id"] = int(tid)
            out.append(item)
        return out


@dataclass
class Lane:
    """One lane line: points (K, 2) xy in original-image pixels, ordered bottom to top.

    style ('solid'/'dashed'), color ('white'/'yellow'/'other') and type ('single'/'double'/'curb') with a
    confidence each (perception.markings); None when the model has no lane-marking head."""

    points: np.ndarray
    score: float = 1.0
    slot: int = -1
    track_id: int = -1
    style: str | None = None
    style_score: float = 0.0
    color: str | None = None
    color_score: float = 0.0
    type: str | None = None
    type_score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        item = {
            "points": [[round(float(x), 1), round(float(y), 1)] for x, y in self.points],
            "score": round(float(self.score), 4),
            "slot": int(self.slot),
        }
        if self.track_id >= 0:
            item["track_id"] = int(self.track_id)
        for name in ("style", "color", "type"):
            if getattr(self, name) is not None:
                item[name] = getattr(self, name)
                item[f"{name}_score"] = round(float(getattr(self, f"{name}_score")), 4)
        return item


@dataclass
class Crossing:
    """A crossing marking: category 'crosswalk' or 'stop line', polygon (P, 2) xy original-image pixels."""

    polygon: np.ndarray
    category: str
    score: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in self.polygon],
            "score": round(float(self.score), 4),
        }


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Column-major uncompressed RLE of a binary mask (COCO's convention), counts start with zeros."""
    flat = np.asarray(mask, np.uint8).reshape(-1, order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of `mask_to_rle`."""
    h, w = rle["size"]
    values = np.zeros(h * w, np.uint8)
    pos, val = 0, 0
    for count in rle["counts"]:
        values[pos : pos + count] = val
        pos += count
        val = 1 - val
    return values.reshape((h, w), order="F")


@dataclass
class FrameResult:
    """Everything the model says about one image, in that image's pixels."""

    objects: Detections = field(default_factory=Detections)
    pedestrians: Detections = field(default_factory=Detections)
    lanes: list[Lane] = field(default_factory=list)
    drivable: np.ndarray | None = None
    lane_mask: np.ndarray | None = None
    crossings: list[Crossing] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The prediction part of one JSONL line (documented in docs/predictions.md)."""
        out: dict[str, Any] = {
            "objects": self.objects.to_json(),
            "pedestrians": self.pedestrians.to_json(),
            "lanes": [lane.to_json() for lane in self.lanes],
            "crossings": [crossing.to_json() for crossing in self.crossings],
        }
        if self.drivable is not None:
            out["drivable"] = {
                "direct": mask_to_rle(self.drivable == 0),
                "alternative": mask_to_rle(self.drivable == 1),
            }
        return out
