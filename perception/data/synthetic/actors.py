"""Placing road users, traffic lights, signs, trees and lamp posts in a sampled scene."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scene.py builds its actors with sample_actors: a runtime import back would be a cycle
    from perception.data.synthetic.scene import Scene

# kind -> (length, width, height) ranges in metres
VEHICLE_SIZES = {
    "car": ((3.8, 4.9), (1.7, 1.95), (1.4, 1.7)),
    "truck": ((6.0, 9.0), (2.3, 2.55), (2.8, 3.8)),
    "bus": ((10.0, 12.5), (2.5, 2.6), (3.0, 3.4)),
    "train": ((25.0, 45.0), (2.6, 2.9), (3.4, 3.8)),
    "motorcycle": ((2.0, 2.2), (0.7, 0.85), (1.1, 1.25)),
    "bicycle": ((1.7, 1.9), (0.5, 0.6), (1.0, 1.1)),
}
CAR_COLORS = (
    (200, 200, 205), (30, 30, 35), (150, 20, 25), (25, 50, 120), (230, 230, 235),
    (110, 110, 115), (40, 90, 60), (210, 170, 40), (90, 60, 40), (170, 180, 190),
)
CLOTHES = ((40, 40, 50), (120, 30, 30), (30, 60, 120), (200, 200, 190), (90, 90, 60), (160, 110, 60), (60, 110, 60))
MAX_DEPTH = 110.0


@dataclass
class Actor:
    """Anything standing on the ground: road users, traffic lights and signs, trees, lamp posts.

    `z` is the depth of the actor's nearest end, `d` its lateral centre, sizes in metres. `facing`
    is +1 when we see its back (driving away) and -1 when we see its front (oncoming).
    """

    kind: str
    z: float
    d: float
    length: float
    width: float
    height: float
    color: tuple[int, int, int]
    track_id: int
    speed: float = 0.0  # metres/second along the road, world frame
    lateral_speed: float = 0.0  # metres/second across the road
    facing: int = 1
    extra: dict = field(default_factory=dict)


class _Ids:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def sample_actors(rng: np.random.Generator, scene: Scene) -> list[Actor]:
    ids = _Ids()
    actors: list[Actor] = []
    actors += _vehicles(rng, scene, ids)
    actors += _cyclists(rng, scene, ids)
    actors += _pedestrians(rng, scene, ids)
    actors += _street_furniture(rng, scene, ids)
    return actors


def _uniform(rng, bounds) -> float:
    return float(rng.uniform(*bounds))


def make_vehicle(rng, kind: str, z: float, d: float, facing: int, speed: float, track_id: int) -> Actor:
    (length, width, height) = (_uniform(rng, b) for b in VEHICLE_SIZES[kind])
    if kind in ("bus", "train"):
        color = tuple(int(v) for v in rng.choice([(200, 40, 40), (230, 200, 60), (60, 120, 190), (235, 235, 235)]))
    else:
        color = tuple(int(v) for v in CAR_COLORS[int(rng.integers(len(CAR_COLORS)))])
    jitter = rng.integers(-12, 13, 3)
    color = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(color, jitter))
    extra = {"cabin": float(rng.uniform(0.35, 0.5)), "cargo": tuple(int(v) for v in rng.integers(120, 240, 3))}
    return Actor(kind, z, d, length, width, height, color, track_id, speed=speed, facing=facing, extra=extra)


def make_person(rng, kind: str, z: float, d: float, track_id: int, speed=0.0, lateral=0.0) -> Actor:
    height = float(rng.uniform(1.5, 1.9)) if kind == "pedestrian" else float(rng.uniform(1.65, 1.85))
    top = CLOTHES[int(rng.integers(len(CLOTHES)))]
    legs = CLOTHES[int(rng.integers(len(CLOTHES)))]
    skin = tuple(int(v) for v in rng.choice([(230, 190, 160), (190, 140, 100), (120, 80, 55)]))
    hair = tuple(int(v) for v in rng.choice([(30, 25, 20), (90, 60, 30), (200, 170, 110)]))
    extra = {"top": top, "legs": legs, "skin": skin, "hair": hair, "phase": float(rng.uniform(0, 2 * np.pi))}
    return Actor(kind, z, d, 0.3, 0.5, height, top, track_id, speed=speed, lateral_speed=lateral, extra=extra)


def _vehicles(rng, scene: Scene, ids: _Ids) -> list[Actor]:
    actors = []
    edges = scene.lane_edges
    for lane in range(scene.n_lanes):
        centre = 0.5 * (edges[lane] + edges[lane + 1])
        oncoming = lane < scene.oncoming_lanes
        z = float(rng.uniform(8.0 if lane == scene.ego_lane else 3.0, 25.0))
        while z < MAX_DEPTH and rng.random() < 0.8:
            kind = str(rng.choice(["car", "truck", "bus", "motorcycle"], p=[0.72, 0.12, 0.07, 0.09]))
            facing = -1 if oncoming else 1
            speed = facing * float(rng.uniform(5.0, 18.0))
            vehicle = make_vehicle(rng, kind, z, centre + rng.normal(0, 0.2), facing, speed, ids())
            actors.append(vehicle)
            if kind == "motorcycle":
                actors.append(_rider_on(rng, vehicle, ids()))
            z += vehicle.length + float(rng.uniform(4.0, 30.0))
    if scene.n_lanes >= 2 and rng.random() < 0.1:
        lane = int(rng.choice([k for k in range(scene.n_lanes) if k != scene.ego_lane]))
        centre = 0.5 * (edges[lane] + edges[lane + 1])
        z = float(rng.uniform(10.0, 60.0))
        # A tram sharing the road: drop what is already in its lane so it runs on empty track.
        actors = [a for a in actors if abs(a.d - centre) > scene.lane_width / 2 or a.z + a.length < z - 2]
        facing = -1 if lane < scene.oncoming_lanes else 1
        actors.append(make_vehicle(rng, "train", z, centre, facing, facing * float(rng.uniform(4, 10)), ids()))
    if rng.random() < 0.35:  # cars parked along the right kerb
        d = scene.curb_offsets[1] - 1.0
        z = float(rng.uniform(3.0, 20.0))
        while z < 70.0 and rng.random() < 0.7:
            car = make_vehicle(rng, "car", z, d, 1, 0.0, ids())
            actors.append(car)
            z += car.length + float(rng.uniform(1.0, 10.0))
    return actors


def _rider_on(rng, bike: Actor, track_id: int) -> Actor:
    rider = make_person(rng, "rider", bike.z + 0.35 * bike.length, bike.d, track_id, speed=bike.speed)
    rider.extra["seat"] = 0.85 if bike.kind == "motorcycle" else 0.95
    rider.extra["bike"] = bike.track_id
    # Painted just after its bike (the rider sits over it), whatever depth its body has.
    rider.extra["sort_offset"] = bike.z - rider.z - 0.01
    rider.facing = bike.facing
    return rider


def _cyclists(rng, scene: Scene, ids: _Ids) -> list[Actor]:
    actors = []
    right_edge = scene.lane_edges[-1]
    for _ in range(int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15]))):
        z = float(rng.uniform(5.0, 60.0))
        bike = make_vehicle(rng, "bicycle", z, right_edge - 0.7, 1, float(rng.uniform(3.0, 7.0)), ids())
        actors += [bike, _rider_on(rng, bike, ids())]
    if rng.random() < 0.25:  # a bicycle parked on the pavement
        d = scene.curb_offsets[1] + float(rng.uniform(0.4, scene.pavement_width - 0.4))
        actors.append(make_vehicle(rng, "bicycle", float(rng.uniform(5.0, 40.0)), d, 1, 0.0, ids()))
    return actors


def _pavement_offset(rng, scene: Scene, side: int) -> float:
    width = scene.pavement_width
    if side < 0:
        return scene.curb_offsets[0] - float(rng.uniform(0.4, width - 0.3))
    return scene.curb_offsets[1] + float(rng.uniform(0.4, width - 0.3))


def _pedestrians(rng, scene: Scene, ids: _Ids) -> list[Actor]:
    actors = []
    mean = {"city street": 4.0, "residential": 2.0, "highway": 0.4}[scene.scene_type]
    for _ in range(int(rng.poisson(mean))):
        side = -1 if rng.random() < 0.5 else 1
        walk = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.6))
        z = float(rng.uniform(4.0, 60.0))
        actors.append(make_person(rng, "pedestrian", z, _pavement_offset(rng, scene, side), ids(), speed=walk))
    if scene.crosswalk is not None:
        z0, z1 = scene.crosswalk
        left, right = scene.curb_offsets
        for _ in range(int(rng.integers(1, 5))):
            direction = float(rng.choice([-1.0, 1.0]))
            d = float(rng.uniform(left - 1.0, right + 1.0))
            z = float(rng.uniform(z0 + 0.3, z1 - 0.5))
            actors.append(make_person(rng, "pedestrian", z, d, ids(), lateral=direction * rng.uniform(0.9, 1.6)))
    return actors


def _street_furniture(rng, scene: Scene, ids: _Ids) -> list[Actor]:
    actors = []
    left, right = scene.curb_offsets
    city = scene.scene_type != "highway"
    if rng.random() < (0.75 if city else 0.2):
        z_stop = scene.crosswalk[1] + 1.0 if scene.crosswalk else float(rng.uniform(15.0, 70.0))
        state = str(rng.choice(["R", "Y", "G"], p=[0.45, 0.1, 0.45]))
        spots = [(right + 0.4, False)]
        if rng.random() < 0.6:
            spots.append((float(rng.uniform(scene.lane_edges[scene.ego_lane], right - 1.0)), True))
        if rng.random() < 0.4:
            spots.append((left - 0.4, False))
        for d, overhead in spots:
            extra = {"state": state, "pole_d": right + 0.4 if overhead else d, "overhead": overhead}
            base = float(rng.uniform(4.8, 5.8)) if overhead else float(rng.uniform(2.6, 3.4))
            extra["base"] = base
            actors.append(Actor("traffic light", z_stop, d, 0.3, 0.34, 1.0, (30, 30, 30), ids(), extra=extra))
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.35, 0.25, 0.1]))):
        side = right + 0.5 if rng.random() < 0.8 else left - 0.5
        shape = str(rng.choice(["circle", "triangle", "square", "rect"]))
        size = float(rng.uniform(0.6, 0.9))
        extra = {"shape": shape, "base": float(rng.uniform(1.9, 2.6)), "kind": int(rng.integers(4))}
        width = size * (2.0 if shape == "rect" else 1.0)
        actors.append(Actor("traffic sign", float(rng.uniform(6.0, 80.0)), side, 0.05, width, size, (0, 0, 0), ids(), extra=extra))
    tree_gap = {"residential": 9.0, "city street": 18.0, "highway": 14.0}[scene.scene_type]
    for side, curb in ((-1, left), (1, right)):
        z = float(rng.uniform(2.0, tree_gap))
        while z < 120.0:
            if rng.random() < 0.6:
                d = curb + side * (scene.pavement_width - 0.5 + float(rng.uniform(0.0, 1.0)))
                crown = float(rng.uniform(1.4, 2.8))
                green = tuple(int(v) for v in rng.integers([30, 70, 25], [80, 130, 60]))
                extra = {"trunk": float(rng.uniform(1.8, 3.5)), "crown": crown}
                actors.append(Actor("tree", z, d, 0.4, 0.3, 0.0, green, -1, extra=extra))
            z += tree_gap * float(rng.uniform(0.6, 1.4))
    if rng.random() < 0.6:
        side, curb = (1, right) if rng.random() < 0.6 else (-1, left)
        z = float(rng.uniform(3.0, 25.0))
        while z < 140.0:
            actors.append(Actor("lamp", z, curb + side * 0.4, 0.2, 0.15, float(rng.uniform(7.0, 9.0)), (90, 90, 95), -1, extra={"side": side}))
            z += float(rng.uniform(25.0, 35.0))
    return actors
