"""Generate a synthetic dataset in BDD100K's official directory layout, in parallel across cores.

    DIR/images/100k/{train,val}/NAME.jpg
    DIR/labels/det_20/det_{train,val}.json
    DIR/labels/lane/polygons/lane_{train,val}.json     DIR/labels/lane/masks/{train,val}/NAME.png
    DIR/labels/drivable/polygons/drivable_{train,val}.json  DIR/labels/drivable/masks/{train,val}/NAME.png

Image i of seed S is a function of (S, i) only, so any worker count gives identical bytes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from perception.atomic import write_bytes_atomic
from perception.config import DEFAULT_IMGSZ
from perception.data.synthetic.labels import det_frame, drivable_frame, lane_frame
from perception.jsonio import write_json_atomic
from perception.data.synthetic.render import render_scene
from perception.data.synthetic.scene import sample_scene
from perception.errors import InputError

SPLITS = ("train", "val")
JPEG_QUALITY = 90


def image_seed(seed: int, index: int) -> int:
    """The scene seed of image `index` of a dataset generated with `seed`."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def image_name(seed: int, index: int) -> str:
    return f"synth{seed}-{index:07d}"


def split_of(index: int, num: int, val_fraction: float) -> str:
    """The last round(num * val_fraction) images form the validation split."""
    return "val" if index >= num - int(round(num * val_fraction)) else "train"


def encode_jpeg(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InputError("synthetic writer: OpenCV failed to encode a JPEG")
    return buf.tobytes()


def encode_png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InputError("synthetic writer: OpenCV failed to encode a PNG")
    return buf.tobytes()


def _make_one(job: tuple) -> tuple:
    out, seed, index, num, imgsz, val_fraction = job
    split = split_of(index, num, val_fraction)
    name = image_name(seed, index)
    scene = sample_scene(image_seed(seed, index), imgsz)
    frame = render_scene(scene)
    root = Path(out)
    write_bytes_atomic(root / "images/100k" / split / f"{name}.jpg", encode_jpeg(frame.image))
    write_bytes_atomic(root / "labels/drivable/masks" / split / f"{name}.png", encode_png(frame.drivable))
    write_bytes_atomic(root / "labels/lane/masks" / split / f"{name}.png", encode_png(frame.lane_mask))
    file_name = f"{name}.jpg"
    return (
        index,
        split,
        det_frame(file_name, scene, frame),
        lane_frame(file_name, scene, frame),
        drivable_frame(file_name, scene, frame),
    )


def _init_worker() -> None:
    # One OpenCV thread per process: the pool already uses every core.
    cv2.setNumThreads(1)


def generate_dataset(
    out: str | os.PathLike,
    num: int,
    seed: int = 0,
    imgsz: tuple[int, int] = DEFAULT_IMGSZ,
    val_fraction: float = 0.2,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Render `num` labelled images into `out`; returns a summary (counts per split and class, timing)."""
    if num < 1:
        raise InputError(f"--num: {num} must be at least 1")
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"--val-fraction: {val_fraction} must be in [0, 1)")
    imgsz = (int(imgsz[0]), int(imgsz[1]))
    if min(imgsz) < 32:
        raise InputError(f"--imgsz: {imgsz} is too small; use at least 32 x 32 pixels")
    root = Path(out)
    for split in SPLITS:
        for sub in ("images/100k", "labels/drivable/masks", "labels/lane/masks"):
            (root / sub / split).mkdir(parents=True, exist_ok=True)
    workers = max(1, min(int(workers or os.cpu_count() or 1), num))
    jobs = [(str(root), int(seed), i, num, imgsz, float(val_fraction)) for i in range(num)]
    start = time.perf_counter()
    results = []
    bar = _progress(num, progress)
    if workers == 1:
        _init_worker()
        for job in jobs:
            results.append(_make_one(job))
            bar.update(1)
    else:
        with multiprocessing.get_context("spawn" if os.name == "nt" else "fork").Pool(workers, _init_worker) as pool:
            for result in pool.imap_unordered(_make_one, jobs, chunksize=max(1, min(16, num // (4 * workers)))):
                results.append(result)
                bar.update(1)
    bar.close()
    results.sort(key=lambda r: r[0])
    summary = _write_labels(root, results)
    seconds = time.perf_counter() - start
    summary.update({
        "out": str(root),
        "seed": int(seed),
        "imgsz": list(imgsz),
        "workers": workers,
        "seconds": round(seconds, 3),
        "images_per_second": round(num / seconds, 2),
    })
    return summary


def _write_labels(root: Path, results: list) -> dict:
    images, classes, lanes = Counter(), Counter(), Counter()
    for split in SPLITS:
        rows = [r for r in results if r[1] == split]
        images[split] = len(rows)
        write_json_atomic(root / "labels/det_20" / f"det_{split}.json", [r[2] for r in rows], indent=None)
        write_json_atomic(root / "labels/lane/polygons" / f"lane_{split}.json", [r[3] for r in rows], indent=None)
        write_json_atomic(root / "labels/drivable/polygons" / f"drivable_{split}.json", [r[4] for r in rows], indent=None)
        for r in rows:
            classes.update(label["category"] for label in r[2]["labels"])
            lanes.update(label["category"] for label in r[3]["labels"])
    return {"images": dict(images), "objects": dict(sorted(classes.items())), "lanes": dict(sorted(lanes.items()))}


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="synth", unit="img", disable=not enabled)
