"""One palette (perception.drawing) for everything drawn, one home (perception.imageio) for image files."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from perception.data.visualize import draw_labels
from perception.drawing import DRIVABLE_ALPHA, DRIVABLE_COLORS, class_color, lane_color
from perception.evaluation.worst import render_thumbnail
from perception.imageio import IMAGE_SUFFIXES, decode_rgb, list_images, read_images, write_image_atomic
from perception.structures import Detections, FrameResult, Lane, Sample
from perception.video.drawing import draw_frame
from perception.video.sources import ImageSequenceSource

PACKAGE = Path(__file__).resolve().parents[2] / "perception"
PALETTE = PACKAGE / "drawing.py"
IMAGE_IO = PACKAGE / "imageio.py"
# The synthetic world paints what a camera would see (car bodies, traffic lamps), not annotations.
WORLD = PACKAGE / "data" / "synthetic"
COLOUR_NAME = re.compile(r"colou?r|tint|palette", re.IGNORECASE)


def _is_rgb_literal(node: ast.AST) -> bool:
    return (isinstance(node, ast.Tuple) and len(node.elts) == 3
            and all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts))


def _sources(exclude: Path):
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != exclude and WORLD not in path.parents:
            yield path, ast.parse(path.read_text(), str(path))


def test_colours_are_defined_only_in_the_palette_module():
    found = []
    for path, tree in _sources(PALETTE):
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets]
            if any(COLOUR_NAME.search(n) for n in names) and any(_is_rgb_literal(n) for n in ast.walk(node.value)):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {names}")
    assert not found, "colours belong in perception/drawing.py: " + "; ".join(found)


def test_image_suffixes_are_listed_only_in_the_image_io_module():
    found = []
    for path, tree in _sources(IMAGE_IO):
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(
                    isinstance(e, ast.Constant) and e.value in (".jpg", ".png") for e in node.elts):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not found, "image suffixes belong in perception/imageio.py: " + "; ".join(found)


def test_infer_data_show_and_worst_images_colour_an_area_a_class_and_a_slot_alike():
    h, w = 120, 200
    image = np.full((h, w, 3), 90, np.uint8)
    drivable = np.full((h, w), 2, np.uint8)
    drivable[80:] = 0  # direct
    drivable[60:80] = 1  # alternative
    box = np.array([[20.0, 10.0, 70.0, 50.0]], np.float32)
    lane_target = np.zeros((h, w), np.uint8)
    lane_target[:, 150:154] = 1
    infer = cv2.cvtColor(draw_frame(image, FrameResult(objects=Detections(box, [0.9], [2]), drivable=drivable,
                                                       lanes=[Lane(np.array([[152, h - 1], [152, 0]], np.float32), slot=1)])),
                         cv2.COLOR_BGR2RGB)
    show = draw_labels(image, box, np.array([2]), lane_target, drivable)
    worst = render_thumbnail(Sample(image=image), FrameResult(drivable=drivable), w, 0.5, "")
    for value, row in ((0, 100), (1, 70)):
        expected = np.round((1 - DRIVABLE_ALPHA) * 90 + DRIVABLE_ALPHA * np.array(DRIVABLE_COLORS[value]))
        for name, drawn in (("infer", infer), ("data show", show), ("worst images", worst)):
            np.testing.assert_allclose(drawn[row, 110], expected, atol=1, err_msg=f"{name}, drivable class {value}")
    car = np.array(class_color(2))
    assert np.abs(infer[30, 20].astype(int) - car).max() <= 30 and np.abs(show[30, 20].astype(int) - car).max() <= 30
    np.testing.assert_array_equal(show[30, 151], lane_color(1))
    assert np.abs(infer[30, 152].astype(int) - lane_color(1)).max() <= 30


NO_TORCH = r"""
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"imported {name}")
        return None

sys.meta_path.insert(0, NoTorch())
import perception.drawing, perception.imageio, perception.video.drawing, perception.data.visualize
"""


def test_drawing_and_image_io_import_without_torch():
    done = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_reader_sees_the_same_images_of_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {suffix: rng.integers(0, 255, (24, 32, 3), np.uint8) for suffix in IMAGE_SUFFIXES}
    for k, (suffix, image) in enumerate(images.items()):
        write_image_atomic(tmp_path / f"{k:02d}{suffix}", image)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    listed = list_images(tmp_path)
    assert [p.suffix for p in listed if p.name != "broken.png"] == list(IMAGE_SUFFIXES)
    assert [Path(p) for p in ImageSequenceSource(tmp_path).paths] == listed  # the video tool
    read, skipped = read_images(tmp_path)  # parity checks, INT8 calibration, the benchmark
    assert len(read) == len(IMAGE_SUFFIXES) and skipped == [str(tmp_path / "broken.png")]
    for suffix in (".png", ".bmp", ".tif", ".tiff"):  # lossless: what was written is read back, RGB
        np.testing.assert_array_equal(decode_rgb(next(p for p in listed if p.suffix == suffix)), images[suffix])
