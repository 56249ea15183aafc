"""People, traffic lights, signs, trees and lamp posts as primitives."""

from __future__ import annotations

import numpy as np

from perception.data.synthetic.canvas import SUPPORT, Circle, Line, Poly
from perception.data.synthetic.lighting import Lighting
from perception.data.synthetic.scene import Actor, Scene
from perception.data.synthetic.vehicles import front_quad, project

LAMP_COLORS = {"R": (255, 45, 30), "Y": (255, 190, 20), "G": (40, 255, 120)}


def person_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    """A walking pedestrian or a seated rider: legs, torso, arms and head at depth `a.z`."""
    z, d, h = a.z, a.d, a.height
    f = scene.camera.focal
    top, legs, skin = light.shade(a.extra["top"], z), light.shade(a.extra["legs"], z), light.shade(a.extra["skin"], z)
    hair = light.shade(a.extra["hair"], z)
    phase = a.extra["phase"]
    limb = max(1.0, f * 0.12 / z)
    arm = max(1.0, f * 0.08 / z)

    # Joints as (lateral offset, height) metres in the person's plane, projected in one call.
    if a.kind == "rider":
        hip_y = a.extra.get("seat", 0.9)
        shoulder_y, head_y = hip_y + 0.55, hip_y + 0.72
        legs_xy = [[(s * 0.14, hip_y), (s * 0.17, 0.62), (s * 0.15, 0.3)] for s in (-1, 1)]
        hands_xy = [(-0.28, 1.05), (0.28, 1.05)]
        head_r = 0.11
    else:
        hip_y, shoulder_y, head_y = 0.52 * h, 0.81 * h, 0.935 * h
        # Legs swing across the view when the person crosses it, along the view when walking along it.
        swing = 0.3 * np.sin(phase) * (1.0 if a.lateral_speed else 0.35)
        legs_xy = [
            [(s * 0.09, hip_y), (s * 0.09 + 0.5 * sw, 0.27 * h), (s * 0.1 + sw, 0.0)]
            for s, sw in ((-1, swing), (1, -swing))
        ]
        hands_xy = [(-0.24 - 0.5 * swing, 0.45 * h), (0.24 + 0.5 * swing, 0.45 * h)]
        head_r = 0.065 * h
    sh = 0.2
    torso_xy = [(-sh, shoulder_y), (sh, shoulder_y), (0.15, hip_y - 0.05), (-0.15, hip_y - 0.05)]
    arms_xy = [(-0.9 * sh, shoulder_y - 0.03), (0.9 * sh, shoulder_y - 0.03)]
    joints = np.array(legs_xy[0] + legs_xy[1] + hands_xy + torso_xy + arms_xy + [(0.0, head_y)])
    pts = project(scene, z, d + joints[:, 0], joints[:, 1])
    legs_pts = [pts[0:3], pts[3:6]]
    hands = [pts[6], pts[7]]
    torso = pts[8:12]
    shoulders = [pts[12], pts[13]]
    head = pts[14]
    prims = [Line(p, limb, legs) for p in legs_pts]
    prims.append(Poly(torso, top))
    prims += [Line(np.array([s, hand]), arm, top) for s, hand in zip(shoulders, hands)]
    radius = f * head_r / z
    prims.append(Circle((head[0], head[1]), radius, skin))
    prims.append(Circle((head[0], head[1] - 0.25 * radius), 0.9 * radius, hair))
    return prims


def traffic_light_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    """Pole (and arm over the road) as support, the housing with three lamps as the labelled part."""
    z, d = a.z, a.d
    f = scene.camera.focal
    base, top = a.extra["base"], a.extra["base"] + a.height
    pole_color = light.shade((70, 72, 75), z)
    pole_d = a.extra["pole_d"]
    thick = max(1.0, f * 0.14 / z)
    prims = [Line(project(scene, [z, z], pole_d, [0.0, top + 0.2]), thick, pole_color, SUPPORT)]
    if a.extra["overhead"]:
        prims.append(Line(project(scene, [z, z], [pole_d, d], top + 0.15), thick, pole_color, SUPPORT))
    prims.append(Poly(front_quad(scene, z, d - a.width / 2, d + a.width / 2, base, top), light.shade(a.color, z)))
    night = scene.timeofday != "daytime"
    radius = f * 0.1 / z
    for i, state in enumerate("RYG"):
        c = project(scene, z, d, top - (0.17 + 0.33 * i) * a.height)[0]
        if state == a.extra["state"]:
            color = light.emit(LAMP_COLORS[state], z)
        else:
            color = light.shade(np.array(LAMP_COLORS[state]) * 0.25, z)
        prims.append(Circle((c[0], c[1]), radius, color))
    return prims


def sign_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    z, d = a.z, a.d
    f = scene.camera.focal
    base, size = a.extra["base"], a.height
    thick = max(1.0, f * 0.07 / z)
    prims = [Line(project(scene, [z, z], d, [0.0, base + 0.1]), thick, light.shade((120, 122, 125), z), SUPPORT)]
    shape = a.extra["shape"]
    centre = project(scene, z, d, base + size / 2)[0]
    radius = f * size / 2 / z
    if shape == "circle":
        prims.append(Circle((centre[0], centre[1]), radius, light.shade((200, 25, 30), z)))
        prims.append(Circle((centre[0], centre[1]), 0.75 * radius, light.shade((240, 240, 240), z)))
    elif shape == "triangle":
        outer = project(scene, z, [d - size / 2, d + size / 2, d], [base, base, base + size])
        inner = project(scene, z, [d - size / 3, d + size / 3, d], [base + 0.1 * size, base + 0.1 * size, base + 0.75 * size])
        prims += [Poly(outer, light.shade((200, 25, 30), z)), Poly(inner, light.shade((240, 240, 235), z))]
    else:
        color = (30, 80, 170) if shape == "square" else (20, 110, 60)
        prims.append(Poly(front_quad(scene, z, d - a.width / 2, d + a.width / 2, base, base + size), light.shade(color, z)))
        stripe = front_quad(scene, z, d - a.width / 3, d + a.width / 3, base + 0.45 * size, base + 0.58 * size)
        prims.append(Poly(stripe, light.shade((235, 235, 235), z)))
    return prims


def tree_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    z, d = a.z, a.d
    f = scene.camera.focal
    trunk_h, crown = a.extra["trunk"], a.extra["crown"]
    prims = [Poly(front_quad(scene, z, d - 0.15, d + 0.15, 0.0, trunk_h + 0.5 * crown), light.shade((85, 60, 40), z), SUPPORT)]
    for dx, dy, k in ((-0.5, 0.9, 0.8), (0.5, 0.8, 0.9), (0.0, 1.3, 1.05)):
        c = project(scene, z, d + dx * crown, trunk_h + dy * crown)[0]
        prims.append(Circle((c[0], c[1]), f * 0.75 * crown / z, light.shade(a.color, z, k), SUPPORT))
    return prims


def lamp_prims(scene: Scene, light: Lighting, a: Actor) -> list:
    z, d = a.z, a.d
    f = scene.camera.focal
    arm_d = d - a.extra["side"] * 1.6
    thick = max(1.0, f * 0.15 / z)
    pole = light.shade(a.color, z)
    prims = [
        Line(project(scene, [z, z], d, [0.0, a.height]), thick, pole, SUPPORT),
        Line(project(scene, [z, z], [d, arm_d], a.height), max(1.0, thick * 0.6), pole, SUPPORT),
    ]
    head = light.emit((255, 230, 170), z) if scene.timeofday != "daytime" else light.shade((200, 200, 190), z)
    prims.append(Poly(front_quad(scene, z, arm_d - 0.3, arm_d + 0.3, a.height - 0.15, a.height), head, SUPPORT))
    return prims
