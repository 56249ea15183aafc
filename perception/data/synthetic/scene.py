"""A scene description sampled from a seed: camera, road layout, markings, actors, light and weather.

Everything the renderer draws and every label comes from this one description, so labels are exact.
Distances are metres in the ego frame (see `camera.py`); `d` is the lateral offset across the road.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.config import DEFAULT_IMGSZ
from perception.data.synthetic.actors import Actor, sample_actors
from perception.data.synthetic.camera import Camera, RoadShape
from perception.errors import InputError

WHITE = (236, 236, 230)
YELLOW = (232, 186, 40)
TIMES_OF_DAY = ("daytime", "dawn/dusk", "night")
WEATHERS = ("clear", "overcast", "partly cloudy", "rainy", "foggy")


@dataclass
class LaneLine:
    """One lane marking or kerb running along the road at lateral offset `offset` (metres)."""

    offset: float
    category: str  # BDD100K lane category: "single white", "double yellow", "road curb", ...
    style: str  # "solid" | "dashed"
    color: tuple[int, int, int]
    width: float  # painted width of one line, metres
    double: bool = False

    @property
    def is_curb(self) -> bool:
        return self.category == "road curb"


@dataclass
class Building:
    d: float  # lateral offset of the facade, metres
    z0: float
    z1: float
    height: float
    color: tuple[int, int, int]
    window_color: tuple[int, int, int]
    floors: int


@dataclass
class Scene:
    seed: int
    camera: Camera
    shape: RoadShape
    lane_width: float
    lane_edges: list[float]  # lateral offsets of the lane boundaries, left to right (n_lanes + 1)
    ego_lane: int
    oncoming_lanes: int  # lanes 0..oncoming_lanes-1 carry oncoming traffic
    lines: list[LaneLine]
    curb_offsets: tuple[float, float]  # left and right kerb lines
    pavement_width: float
    marking_range: float  # markings are painted and labelled up to this depth, metres
    dash_phase: float  # metres; moves with the ego vehicle so dashes stream past in video
    crosswalk: tuple[float, float] | None  # (near z, far z) of the zebra band
    actors: list[Actor]
    buildings: list[Building]
    timeofday: str
    weather: str
    scene_type: str
    fog_distance: float | None  # metres of meteorological visibility, None for clear air
    blur_sigma: float
    noise_sigma: float
    palette: dict = field(default_factory=dict)
    ego_speed: float = 10.0  # metres/second, used by video clips
    time: float = 0.0  # seconds since the first frame of a clip
    # (z, d0, d1): a solid white stop line across the lanes of our direction, STOP_LINE_DEPTH metres deep
    stop_line: tuple[float, float, float] | None = None

    @property
    def n_lanes(self) -> int:
        return len(self.lane_edges) - 1


def sample_scene(seed: int, imgsz: tuple[int, int] = DEFAULT_IMGSZ) -> Scene:
    """Draw one scene from `seed` for an image of `imgsz` = (H, W) pixels; same seed, same scene."""
    height, width = int(imgsz[0]), int(imgsz[1])
    if height < 32 or width < 32:
        raise InputError(f"imgsz: {imgsz} is too small; use at least 32 x 32 pixels")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 7]))
    camera = _sample_camera(rng, width, height)  # every draw in this order: a seed's scene never changes
    curvature = 0.0 if rng.random() < 0.4 else float(rng.uniform(-1.0, 1.0) / rng.uniform(120.0, 600.0))
    shape = RoadShape(curvature=curvature, yaw=float(rng.normal(0.0, 0.01)))

    n_lanes = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.35, 0.3, 0.2]))
    lane_width = float(rng.uniform(3.0, 3.8))
    two_way = n_lanes >= 2 and rng.random() < 0.5
    oncoming = int(rng.integers(1, n_lanes // 2 + 1)) if two_way else 0
    ego_lane = int(rng.integers(oncoming, n_lanes))
    ego_offset = float(rng.uniform(-0.25, 0.25))
    lane_edges = [(k - ego_lane) * lane_width - lane_width / 2 - ego_offset for k in range(n_lanes + 1)]

    lines = _sample_lines(rng, lane_edges, oncoming)
    shoulder = float(rng.uniform(0.2, 0.9))
    curbs = (lane_edges[0] - shoulder, lane_edges[-1] + shoulder)
    lines += [LaneLine(c, "road curb", "solid", (170, 168, 160), 0.15) for c in curbs]

    timeofday, weather, fog = _sample_weather(rng)
    marking_range = float(rng.uniform(55.0, 100.0))
    if fog is not None:
        marking_range = min(marking_range, 1.5 * fog)
    crosswalk = _sample_crosswalk(rng)

    scene = Scene(
        seed=int(seed),
        camera=camera,
        shape=shape,
        lane_width=lane_width,
        lane_edges=lane_edges,
        ego_lane=ego_lane,
        oncoming_lanes=oncoming,
        lines=lines,
        curb_offsets=curbs,
        pavement_width=float(rng.uniform(2.0, 4.5)),
        marking_range=marking_range,
        dash_phase=float(rng.uniform(0.0, 12.0)),
        crosswalk=crosswalk,
        actors=[],
        buildings=[],
        timeofday=timeofday,
        weather=weather,
        scene_type=str(rng.choice(["city street", "highway", "residential"], p=[0.5, 0.25, 0.25])),
        fog_distance=fog,
        blur_sigma=float(rng.choice([0.0, 0.0, 0.6, 1.0])),
        noise_sigma=float(rng.uniform(1.0, 5.0) * (2.0 if timeofday == "night" else 1.0)),
        palette=_sample_palette(rng, timeofday, weather),
        ego_speed=float(rng.uniform(6.0, 16.0)),
    )
    scene.buildings = _sample_buildings(rng, scene)
    scene.actors = sample_actors(rng, scene)
    scene.stop_line = _sample_stop_line(seed, scene)
    return scene


STOP_LINE_DEPTH = 0.4  # metres along the road (a 30-60 cm wide painted bar)


def _sample_stop_line(seed: int, scene: Scene) -> tuple[float, float, float] | None:
    """A stop line before the crosswalk (or alone at a junction), across the lanes of our direction.

    Drawn from its own generator so every other part of a seed's scene stays as it was before stop lines."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 11]))
    if rng.random() >= (0.7 if scene.crosswalk is not None else 0.2):
        return None
    z = scene.crosswalk[0] - float(rng.uniform(1.0, 2.5)) if scene.crosswalk is not None else float(rng.uniform(10.0, 35.0))
    if z <= 1.2 * scene.camera.near_z or z >= scene.marking_range:
        return None
    return z, scene.lane_edges[scene.oncoming_lanes], scene.lane_edges[-1]


def _sample_camera(rng: np.random.Generator, width: int, height: int) -> Camera:
    hfov = np.deg2rad(rng.uniform(52.0, 68.0))
    focal = width / (2.0 * np.tan(hfov / 2.0))
    return Camera(
        width=width,
        height=height,
        focal=float(focal),
        cx=width / 2.0 + rng.uniform(-0.02, 0.02) * width,
        horizon=height * rng.uniform(0.40, 0.50),
        height_m=float(rng.uniform(1.25, 1.65)),
    )


def _sample_weather(rng: np.random.Generator) -> tuple[str, str, float | None]:
    """(time of day, weather, fog visibility in metres or None)."""
    timeofday = str(rng.choice(TIMES_OF_DAY, p=[0.6, 0.15, 0.25]))
    weather = str(rng.choice(WEATHERS, p=[0.4, 0.2, 0.15, 0.15, 0.1]))
    fog = float(rng.uniform(35.0, 120.0)) if weather == "foggy" else None
    if weather == "rainy" and rng.random() < 0.5:
        fog = float(rng.uniform(120.0, 300.0))
    return timeofday, weather, fog


def _sample_crosswalk(rng: np.random.Generator) -> tuple[float, float] | None:
    """(near z, far z) of a zebra band in metres, in 30% of scenes."""
    if rng.random() >= 0.3:
        return None
    z0 = float(rng.uniform(12.0, 35.0))
    return z0, z0 + float(rng.uniform(3.0, 4.5))


def _sample_lines(rng: np.random.Generator, edges: list[float], oncoming: int) -> list[LaneLine]:
    """Markings on every lane boundary: solid edges, dashed dividers, a yellow centre on two-way roads."""
    lines = []
    n = len(edges) - 1
    edge_white = rng.random() < 0.85
    for k, offset in enumerate(edges):
        if k in (0, n):
            if not edge_white:
                continue
            lines.append(LaneLine(offset, "single white", "solid", WHITE, 0.15))
        elif oncoming and k == oncoming:
            kind = rng.choice(["double", "solid", "dashed"], p=[0.5, 0.25, 0.25])
            if kind == "double":
                lines.append(LaneLine(offset, "double yellow", "solid", YELLOW, 0.12, double=True))
            else:
                lines.append(LaneLine(offset, "single yellow", str(kind), YELLOW, 0.14))
        else:
            style = "dashed" if rng.random() < 0.85 else "solid"
            lines.append(LaneLine(offset, "single white", style, WHITE, 0.13))
    return lines


def _sample_buildings(rng: np.random.Generator, scene: Scene) -> list[Building]:
    buildings = []
    if scene.scene_type == "highway" and rng.random() < 0.7:
        return buildings
    for side in (-1, 1):
        curb = scene.curb_offsets[0 if side < 0 else 1]
        z = float(rng.uniform(2.0, 15.0))
        while z < 160.0:
            length = float(rng.uniform(8.0, 30.0))
            setback = scene.pavement_width + float(rng.uniform(0.5, 6.0))
            tone = rng.integers(70, 200)
            color = tuple(int(np.clip(tone + rng.integers(-25, 26), 0, 255)) for _ in range(3))
            floors = int(rng.integers(2, 9))
            buildings.append(
                Building(
                    d=curb + side * setback,
                    z0=z,
                    z1=z + length,
                    height=floors * float(rng.uniform(2.8, 3.4)),
                    color=color,
                    window_color=tuple(int(v) for v in rng.integers(30, 90, 3)),
                    floors=floors,
                )
            )
            z += length + float(rng.uniform(0.0, 12.0))
    return buildings


def _sample_palette(rng: np.random.Generator, timeofday: str, weather: str) -> dict:
    """Colours and light levels of the frame (RGB)."""
    if timeofday == "daytime":
        sky_top, sky_low, light = (70, 130, 210), (175, 205, 235), 1.0
    elif timeofday == "dawn/dusk":
        sky_top, sky_low, light = (60, 70, 130), (240, 150, 90), 0.6
    else:
        sky_top, sky_low, light = (5, 8, 20), (30, 30, 45), 0.22
    if weather in ("overcast", "rainy", "foggy"):
        grey = np.array([150, 155, 160]) * (light if timeofday != "daytime" else 1.0)
        sky_top = tuple(int(v) for v in 0.3 * np.array(sky_top) + 0.7 * grey)
        sky_low = tuple(int(v) for v in 0.3 * np.array(sky_low) + 0.7 * grey * 1.1)
        light *= 0.8
    asphalt = int(rng.integers(70, 110))
    return {
        "sky_top": sky_top,
        "sky_low": sky_low,
        "light": float(light),
        "asphalt": (asphalt, asphalt, asphalt + int(rng.integers(0, 8))),
        "wet": weather == "rainy",
        "terrain": tuple(int(v) for v in rng.choice([(90, 120, 60), (120, 110, 85), (105, 115, 75)])),
        "pavement": tuple(int(v) for v in np.full(3, rng.integers(135, 175))),
        "fog": (190, 192, 196) if timeofday == "daytime" else (90, 90, 100),
        "sun_dx": float(rng.uniform(-0.6, 0.6)),
    }
