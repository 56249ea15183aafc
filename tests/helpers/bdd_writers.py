"""Writers of tiny datasets in their real on-disk formats, shared by the data tests.

A module of its own, not conftest.py: several test folders have a conftest and `from conftest import`
would pick whichever was imported first."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, height: int = 360, width: int = 640, seed: int = 0) -> np.ndarray:
    """A random RGB image written with OpenCV (as BGR, like real datasets); returns the RGB array."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


def box_label(lid: str, category: str, box, crowd: bool = False) -> dict:
    x1, y1, x2, y2 = box
    return {"id": lid, "category": category, "attributes": {"occluded": False, "truncated": False, "crowd": crowd},
            "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}}


def lane_label(lid: str, vertices, direction: str = "parallel", style: str = "solid", category: str = "single white",
               types: str | None = None) -> dict:
    return {"id": lid, "category": category,
            "attributes": {"laneDirection": direction, "laneStyle": style, "laneTypes": category},
            "poly2d": [{"vertices": [list(map(float, v)) for v in vertices], "types": types or "L" * len(vertices), "closed": False}]}


def write_bdd(root: Path, split: str, frames: dict[str, dict], size=(360, 640)) -> Path:
    """BDD100K official layout. frames: image name -> {"det": labels, "lane": labels, "drivable": mask or None,
    "lane_mask": mask or None}; keys left out mean 'not labelled for that task'."""
    h, w = size
    det, lane = [], []
    for k, (name, spec) in enumerate(frames.items()):
        write_image(root / "images" / "100k" / split / name, h, w, seed=k)
        if "det" in spec:
            det.append({"name": name, "labels": spec["det"]})
        if "lane" in spec:
            lane.append({"name": name, "labels": spec["lane"]})
        stem = Path(name).stem
        for key, folder in (("drivable", "labels/drivable/masks"), ("lane_mask", "labels/lane/masks")):
            if spec.get(key) is not None:
                (root / folder / split).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / folder / split / f"{stem}.png"), spec[key])
    if det:
        (root / "labels" / "det_20").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "det_20" / f"det_{split}.json").write_text(json.dumps(det))
    if lane:
        (root / "labels" / "lane" / "polygons").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "lane" / "polygons" / f"lane_{split}.json").write_text(json.dumps(lane))
    return root


def standard_frames(h: int = 360, w: int = 640) -> dict[str, dict]:
    """Two images: one with boxes, lanes and a drivable mask; one with a lane mask only."""
    drivable = np.full((h, w), 2, np.uint8)
    drivable[250:, 200:440] = 0
    drivable[250:, 440:] = 1
    lane_mask = np.full((h, w), 255, np.uint8)
    lane_mask[200:, 300:306] = 0b000110  # single white, solid, parallel
    return {
        "a.jpg": {
            "det": [box_label("1", "car", (100, 150, 200, 220)), box_label("2", "pedestrian", (300, 100, 330, 180)),
                    box_label("3", "car", (400, 150, 500, 220), crowd=True), box_label("4", "other vehicle", (10, 10, 50, 50)),
                    box_label("5", "traffic sign", (600, 20, 700, 60))],
            "lane": [lane_label("10", [(250, 359), (310, 200)]), lane_label("11", [(420, 359), (330, 200)], style="dashed"),
                     lane_label("12", [(100, 300), (200, 290), (400, 290), (540, 300)], direction="vertical", category="crosswalk",
                                types="LCCL")],
            "drivable": drivable,
        },
        "b.jpg": {"lane_mask": lane_mask},
    }
