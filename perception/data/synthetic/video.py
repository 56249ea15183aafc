"""Clips: one scene moved through time (ego motion along the road, actors at their own speeds).

Positions are along-road coordinates relative to the ego vehicle, so a constant-curvature road stays
the same shape while everything flows past. Scenery that leaves behind the camera re-enters at the far
end (and fast traffic that leaves at the far end re-enters from behind); a labelled object that wraps
around gets a new track id, since it is a new object to a tracker.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import os
import time
from pathlib import Path

import cv2
import numpy as np

from perception.config import DEFAULT_IMGSZ
from perception.data.synthetic.labels import det_frame
from perception.jsonio import write_json_atomic
from perception.data.synthetic.render import render_scene
from perception.data.synthetic.scene import Scene, sample_scene
from perception.errors import InputError

Z_BEHIND, SPAN = -25.0, 150.0  # actors live on a loop of depths [Z_BEHIND, Z_BEHIND + SPAN) metres
WRAP_ID = 100000  # track id offset per wrap-around
STRIDE = 1.4  # metres per gait cycle


def clip_scene(seed: int, imgsz: tuple[int, int]) -> Scene:
    """A scene made fit for motion: every vehicle in a lane drives at that lane's speed (no pile-ups),
    and the ego lane's traffic keeps pace with the ego vehicle."""
    scene = sample_scene(seed, imgsz)
    edges = scene.lane_edges
    lane_speed = {}
    for actor in sorted(scene.actors, key=lambda a: a.z):
        if actor.speed == 0.0 or actor.kind in ("pedestrian", "bicycle") or actor.extra.get("bike") is not None:
            continue
        lane = int(np.searchsorted(edges, actor.d)) - 1
        if lane == scene.ego_lane and lane not in lane_speed:
            lane_speed[lane] = scene.ego_speed + 1.0
        actor.speed = lane_speed.setdefault(lane, actor.speed)
    bikes = {a.track_id: a for a in scene.actors}
    for actor in scene.actors:
        if actor.extra.get("bike") is not None:
            actor.speed = bikes[actor.extra["bike"]].speed
    return scene


def scene_at(base: Scene, t: float) -> Scene:
    """`base` advanced by t seconds."""
    scene = copy.deepcopy(base)
    scene.time = t
    ego = base.ego_speed * t
    scene.dash_phase = base.dash_phase + ego
    for actor in scene.actors:
        z = actor.z + (actor.speed - base.ego_speed) * t
        wraps = math.floor((z - Z_BEHIND) / SPAN)
        actor.z = z - wraps * SPAN
        if wraps and actor.track_id >= 0:
            # A distinct id for every lap in either direction: laps 1, 2.. -> 1, 3..; -1, -2.. -> 2, 4..
            actor.track_id += WRAP_ID * (2 * wraps - 1 if wraps > 0 else -2 * wraps)
        actor.d += actor.lateral_speed * t
        if "phase" in actor.extra:
            pace = abs(actor.lateral_speed) + abs(actor.speed if actor.kind == "pedestrian" else 0.0)
            actor.extra["phase"] += 2 * math.pi * pace * t / STRIDE
    for b in scene.buildings:
        b.z0 -= ego
        b.z1 -= ego
        while b.z1 < Z_BEHIND:
            b.z0 += SPAN + 50.0
            b.z1 += SPAN + 50.0
    if scene.crosswalk is not None:
        near = base.crosswalk[0] - ego
        near -= SPAN * math.floor((near - Z_BEHIND) / SPAN)
        scene.crosswalk = (near, near + base.crosswalk[1] - base.crosswalk[0])
    if base.stop_line is not None:
        near = base.stop_line[0] - ego
        near -= SPAN * math.floor((near - Z_BEHIND) / SPAN)
        scene.stop_line = (near, base.stop_line[1], base.stop_line[2])
    return scene


def _render_frame(job: tuple) -> tuple:
    base, index, fps = job
    frame = render_scene(scene_at(base, index / fps), frame_index=index)
    return index, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), frame


def write_clip(
    out: str | os.PathLike,
    seconds: float,
    fps: float = 10.0,
    seed: int = 0,
    imgsz: tuple[int, int] = DEFAULT_IMGSZ,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write DIR/video/synth.mp4 and DIR/video/synth_labels.json (Scalabel video format); returns a summary."""
    if seconds <= 0 or fps <= 0:
        raise InputError(f"--video/--fps: {seconds} s at {fps} fps gives no frames; both must be positive")
    count = max(1, int(round(seconds * fps)))
    folder = Path(out) / "video"
    folder.mkdir(parents=True, exist_ok=True)
    base = clip_scene(int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x51DE0]).generate_state(1)[0]), imgsz)
    base.seed = int(seed) & 0xFFFFFFFF
    height, width = base.camera.height, base.camera.width
    tmp = folder / ".synth.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise InputError(f"{tmp}: OpenCV cannot open an mp4v video writer")
    from tqdm import tqdm

    entries = []
    start = time.perf_counter()
    jobs = [(base, i, float(fps)) for i in range(count)]
    workers = max(1, min(int(workers or os.cpu_count() or 1), count))
    bar = tqdm(total=count, desc="synth video", unit="frame", disable=not progress)
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_render_frame, jobs, chunksize=2) if pool else map(_render_frame, jobs)
        for index, bgr, frame in results:
            writer.write(bgr)
            entry = det_frame(f"synth-{index + 1:07d}.jpg", base, frame)
            entry.update({"videoName": "synth", "frameIndex": index})
            entries.append(entry)
            bar.update(1)
    finally:
        writer.release()
        bar.close()
        if pool:
            pool.close()
            pool.join()
    path = folder / "synth.mp4"
    os.replace(tmp, path)
    frames = count_frames(path)
    if frames != count:
        raise InputError(f"{path}: wrote {count} frames but reading it back gives {frames}")
    write_json_atomic(folder / "synth_labels.json", entries, indent=None)
    return {"video": str(path), "frames": count, "fps": fps, "seconds": round(time.perf_counter() - start, 3)}


def count_frames(path: str | os.PathLike) -> int:
    """Frames decodable from a video file (decoded one by one, not the container's claim)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: OpenCV cannot open this video")
    frames = 0
    while capture.grab():
        frames += 1
    capture.release()
    return frames
