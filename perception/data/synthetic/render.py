"""Render a `Scene` into an RGB frame with exact labels: boxes with visibility, lanes, drivable area.

Painter's order (far to near) decides occlusion; each labelled object's visible fraction is the share
of its drawn silhouette that no nearer object painted over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from perception.classes import BDD100K_CLASSES, CLASS_INDEX
from perception.data.synthetic.canvas import Canvas, Poly, Polys
from perception.data.synthetic.figures import lamp_prims, person_prims, sign_prims, traffic_light_prims, tree_prims
from perception.data.synthetic.ground import drivable_mask, draw_ground, lane_labels, lane_mask
from perception.data.synthetic.lighting import Lighting
from perception.data.synthetic.scene import Actor, Scene
from perception.data.synthetic.vehicles import front_quad, project, side_quad, top_quad, vehicle_prims
from perception.errors import InputError
from perception.structures import TASKS, Sample

# An object whose visible share falls below this is as good as hidden: no annotator would box it.
MIN_VISIBLE = 0.05
MIN_BOX = 2.0  # pixels: smaller silhouettes carry no usable label
OCCLUDED_BELOW = 0.75  # BDD100K's boolean "occluded" attribute from the visible share
NEAREST = 0.8  # metres: actors nearer than this (passing the camera) are not drawn


@dataclass
class RenderedFrame:
    """image (H, W, 3) uint8 RGB; drivable (H, W) uint8 {0, 1, 2}; lane_mask (H, W) uint8 BDD100K bits.

    objects: dicts {category, track_id, box (x1, y1, x2, y2) pixels, visibility, occluded, truncated,
    attributes}; lanes: dicts {points (K, 2) pixels bottom to top, category, style, direction};
    drivable_polygons: (category, (N, 2) pixels) outer contours of the drivable mask.
    """

    image: np.ndarray
    drivable: np.ndarray
    lane_mask: np.ndarray
    objects: list[dict] = field(default_factory=list)
    lanes: list[dict] = field(default_factory=list)
    drivable_polygons: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def to_sample(self, path: str = "", source: str = "synthetic") -> Sample:
        """The frame as the package-wide `Sample` (all four tasks labelled)."""
        boxes = np.array([o["box"] for o in self.objects], np.float32).reshape(-1, 4)
        return Sample(
            image=self.image,
            boxes=boxes,
            classes=np.array([CLASS_INDEX[o["category"]] for o in self.objects], np.int64),
            track_ids=np.array([o["track_id"] for o in self.objects], np.int64),
            visibility=np.array([o["visibility"] for o in self.objects], np.float32),
            lanes=[lane["points"].astype(np.float32) for lane in self.lanes],
            lane_attrs=[{"direction": l["direction"], "style": l["style"], "category": l["category"],
                         "closed": bool(l.get("closed", False))} for l in self.lanes],
            lane_bits=self.lane_mask,
            lane_mask=(self.lane_mask != 255).astype(np.uint8),
            drivable=self.drivable,
            labelled={t: True for t in TASKS},
            path=path,
            source=source,
        )


def render_scene(scene: Scene, frame_index: int = 0, clean: bool = False) -> RenderedFrame:
    """Draw `scene`; `clean` skips rain, blur and noise (used to check labels against pixels)."""
    cam = scene.camera
    light = Lighting(scene)
    rng = np.random.default_rng(np.random.SeedSequence([scene.seed & 0xFFFFFFFF, 11, frame_index]))
    image = np.empty((cam.height, cam.width, 3), np.uint8)
    image[:] = np.array(light.shade(scene.palette["terrain"], 0), np.uint8)
    light.paint_sky(image)
    canvas = Canvas(image)
    actors = [a for a in scene.actors if a.z > NEAREST and a.z < 400.0]
    draw_ground(canvas, scene, light.shade, _shadows(scene, light, actors))
    light.fog_ground(image)
    canvas.paint(_building_prims(scene, light))

    objects, silhouettes = [], []
    for actor in sorted(actors, key=lambda a: -(a.z + a.extra.get("sort_offset", 0.0))):
        if not _in_view(scene, light, actor):
            continue
        prims = _actor_prims(scene, light, actor)
        if actor.kind in CLASS_INDEX:
            silhouette = canvas.draw(prims, len(silhouettes) + 1)
            silhouettes.append((actor, silhouette))
        else:
            canvas.draw(prims, None)
    counts = np.bincount(canvas.ids.ravel(), minlength=len(silhouettes) + 1)
    for index, (actor, sil) in enumerate(silhouettes, start=1):
        if sil is None or sil["area"] == 0:
            continue
        visibility = float(counts[index]) / sil["area"]
        x1, y1, x2, y2 = sil["box"]
        if visibility < MIN_VISIBLE or x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
            continue
        attributes = {}
        if actor.kind == "traffic light":
            attributes["trafficLightColor"] = actor.extra["state"]
        objects.append({
            "category": actor.kind,
            "track_id": actor.track_id,
            "box": sil["box"],
            "visibility": round(visibility, 4),
            "occluded": visibility < OCCLUDED_BELOW,
            "truncated": sil["truncated"],
            "attributes": attributes,
        })

    drivable = drivable_mask(scene)
    drivable[canvas.ids != 0] = 2  # nothing under a vehicle, person or pole is free to drive on
    lanes = lane_labels(scene)
    frame = RenderedFrame(
        image=light.finish(image, rng, clean),
        drivable=drivable,
        lane_mask=lane_mask(scene, lanes),
        objects=objects,
        lanes=lanes,
        drivable_polygons=drivable_polygons(drivable),
    )
    return frame


def drivable_polygons(drivable: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Outer contours of the direct (0) and alternative (1) areas as closed polygons, pixels."""
    polygons = []
    for value, category in ((0, "area/drivable"), (1, "area/alternative")):
        region = (drivable == value).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            if cv2.contourArea(contour) < 4:
                continue
            approx = cv2.approxPolyDP(contour, 1.0, True).reshape(-1, 2).astype(np.float64)
            polygons.append((category, approx))
    return polygons


def _in_view(scene: Scene, light: Lighting, actor: Actor) -> bool:
    """Cheap cull before building primitives: lost in fog, or entirely left or right of the frame."""
    if light.fog(actor.z) > 0.985:
        return False
    cam = scene.camera
    reach = max(actor.width, actor.length, 2.0 * actor.extra.get("crown", 0.0), 4.0)
    u0 = cam.cx + cam.focal * scene.shape.lateral(actor.z, actor.d) / actor.z
    far = actor.z + actor.length
    u1 = cam.cx + cam.focal * scene.shape.lateral(far, actor.d) / far
    margin = cam.focal * reach / actor.z
    lo, hi = min(u0, u1) - margin, max(u0, u1) + margin
    return hi > 0 and lo < cam.width


def _actor_prims(scene: Scene, light: Lighting, actor: Actor) -> list:
    kind = actor.kind
    if kind in ("pedestrian", "rider"):
        return person_prims(scene, light, actor)
    if kind == "traffic light":
        return traffic_light_prims(scene, light, actor)
    if kind == "traffic sign":
        return sign_prims(scene, light, actor)
    if kind == "tree":
        return tree_prims(scene, light, actor)
    if kind == "lamp":
        return lamp_prims(scene, light, actor)
    if kind in BDD100K_CLASSES:
        return vehicle_prims(scene, light, actor)
    raise InputError(f"synthetic scene: unknown actor kind {kind!r}")


def _shadows(scene: Scene, light: Lighting, actors: list[Actor]) -> list[Poly]:
    """Dark footprints under road users, stretched away from the sun in daylight."""
    prims = []
    daylight = scene.timeofday == "daytime" and scene.weather in ("clear", "partly cloudy")
    sun = scene.palette["sun_dx"] if daylight else 0.0
    left, right = scene.curb_offsets
    for a in actors:
        if a.kind not in ("car", "truck", "bus", "train", "pedestrian", "bicycle", "motorcycle"):
            continue
        on_road = left < a.d < right
        base = scene.palette["asphalt"] if on_road else scene.palette["pavement"]
        color = light.shade(np.array(base) * (0.45 if daylight else 0.7), 0)
        d0, d1 = a.d - a.width / 2 - 0.1, a.d + a.width / 2 + 0.1
        stretch = sun * (a.height if daylight else 0.0)
        d0, d1 = min(d0, d0 + stretch), max(d1, d1 + stretch)
        prims.append(Poly(top_quad(scene, a.z - 0.1, a.z + a.length + 0.2, d0, d1, 0.0), color))
    return prims


def _building_prims(scene: Scene, light: Lighting) -> list[Poly]:
    prims = []
    for b in sorted(scene.buildings, key=lambda b: -b.z0):
        if b.z1 < NEAREST:
            continue
        z0 = max(b.z0, NEAREST)
        side = 1 if b.d > 0 else -1
        prims.append(Poly(front_quad(scene, z0, b.d, b.d + side * 12.0, 0.0, b.height), light.shade(b.color, z0, 0.8)))
        prims.append(Poly(side_quad(scene, b.d, z0, b.z1, 0.0, b.height, 6), light.shade(b.color, z0)))
        # All windows of a facade in one vectorised projection and one fill call.
        floor_h = b.height / b.floors
        cols = np.arange(z0 + 1.0, b.z1 - 1.5, 3.0)
        if cols.size == 0 or scene.camera.focal * 1.4 / z0 < 1.5:
            continue
        window = light.shade(b.window_color, z0)
        if scene.timeofday == "night":
            window = light.emit((220, 190, 120), z0)
        zz, ff = np.meshgrid(cols, np.arange(b.floors) * floor_h + 0.9)
        zz, ff = zz.ravel()[:, None], ff.ravel()[:, None]
        corner_z = zz + np.array([0.0, 1.4, 1.4, 0.0])
        corner_y = ff + np.array([0.0, 0.0, 1.4, 1.4])
        pts = project(scene, corner_z.ravel(), b.d - side * 0.01, corner_y.ravel()).reshape(-1, 4, 2)
        prims.append(Polys(pts, window))
    return prims
