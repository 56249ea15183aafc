"""Rendered frames as BDD100K Scalabel JSON (det_20, lane polygons, drivable polygons)."""

from __future__ import annotations

from perception.data.synthetic.render import RenderedFrame
from perception.data.synthetic.scene import Scene


def frame_attributes(scene: Scene) -> dict:
    return {"weather": scene.weather, "timeofday": scene.timeofday, "scene": scene.scene_type}


def _round(points) -> list[list[float]]:
    return [[round(float(x), 3), round(float(y), 3)] for x, y in points]


def det_frame(name: str, scene: Scene, frame: RenderedFrame) -> dict:
    """One det_20 entry; label ids are the scene's track ids, `visibility` is the visible share."""
    labels = []
    for obj in frame.objects:
        x1, y1, x2, y2 = obj["box"]
        attributes = {"occluded": obj["occluded"], "truncated": obj["truncated"], "crowd": False}
        attributes["visibility"] = obj["visibility"]
        attributes.update(obj["attributes"])
        labels.append({
            "id": str(obj["track_id"]),
            "category": obj["category"],
            "attributes": attributes,
            "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
        })
    return {"name": name, "attributes": frame_attributes(scene), "timestamp": 10000, "labels": labels}


def lane_frame(name: str, scene: Scene, frame: RenderedFrame) -> dict:
    labels = []
    for i, lane in enumerate(frame.lanes):
        vertices = _round(lane["points"])
        labels.append({
            "id": str(i),
            "category": lane["category"],
            "attributes": {"laneDirection": lane["direction"], "laneStyle": lane["style"], "laneTypes": lane["category"]},
            "poly2d": [{"vertices": vertices, "types": "L" * len(vertices), "closed": bool(lane.get("closed", False))}],
        })
    return {"name": name, "attributes": frame_attributes(scene), "labels": labels}


def drivable_frame(name: str, scene: Scene, frame: RenderedFrame) -> dict:
    labels = []
    for i, (category, points) in enumerate(frame.drivable_polygons):
        vertices = _round(points)
        labels.append({
            "id": str(i),
            "category": category,
            "attributes": {"areaType": "direct" if category == "area/drivable" else "alternative"},
            "poly2d": [{"vertices": vertices, "types": "L" * len(vertices), "closed": True}],
        })
    return {"name": name, "attributes": frame_attributes(scene), "labels": labels}
