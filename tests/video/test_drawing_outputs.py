"""Drawing (boxes, lanes per slot, drivable overlay, FPS) and the output writers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from video_fixtures import read_video_frames

from perception.structures import Detections, FrameResult, Lane
from perception.drawing import DRIVABLE_COLORS, class_color, lane_color
from perception.video.drawing import draw_frame
from perception.video.outputs import AnnotatedVideoWriter, PredictionsWriter, read_predictions, write_json_atomic


def _near(pixel, colour, tol=30) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tol))


def test_draw_frame_boxes_lanes_and_drivable():
    image = np.full((200, 300, 3), 50, np.uint8)
    drivable = np.full((200, 300), 2, np.uint8)
    drivable[150:, :] = 0
    result = FrameResult(
        objects=Detections([[40, 60, 120, 140]], [0.8], [2], np.array([7])),
        lanes=[
            Lane(points=np.array([[200, 199], [200, 100]], np.float32), slot=1),
            Lane(points=np.array([[260, 199], [260, 100]], np.float32), slot=4),
        ],
        drivable=drivable,
    )
    out = draw_frame(image, result, fps=24.5)
    assert out.shape == (200, 300, 3) and out.dtype == np.uint8
    # anti-aliased strokes: the colour within a few levels
    # the palette is RGB, draw_frame returns BGR for OpenCV's writer
    assert _near(out[100, 40], class_color(2)[::-1])  # left edge of the car box, in the car colour
    assert _near(out[120, 200], lane_color(1)[::-1]) and _near(out[120, 260], lane_color(4)[::-1])
    assert lane_color(1) != lane_color(4)
    # drivable rows tinted green, the rest untouched
    tinted = out[180, 20].astype(int)
    assert tinted[1] > tinted[0] + 40 and tinted[1] > tinted[2] + 40
    assert DRIVABLE_COLORS[0][1] > 0
    assert tuple(out[110, 150]) == (50, 50, 50)
    assert not np.array_equal(out[0:20, 0:80], np.full((20, 80, 3), 50, np.uint8))  # FPS label drawn
    assert np.array_equal(image, np.full((200, 300, 3), 50, np.uint8))  # input untouched


def test_video_writer_keeps_first_size_and_reads_back(tmp_path):
    writer = AnnotatedVideoWriter(tmp_path / "a.mp4", fps=12)
    for i in range(10):
        size = (120, 160) if i < 6 else (240, 200)  # the stream changes resolution at frame 6
        frame = np.zeros(size + (3,), np.uint8)
        frame[:, : 16 * (i + 1) % size[1]] = 200
        writer.write(frame)
    writer.close()
    assert writer.frames == 10 and writer.resized_frames == 4 and writer.size == (160, 120)
    frames = read_video_frames(tmp_path / "a.mp4")
    assert len(frames) == 10 and frames[-1].shape == (120, 160, 3)


def test_predictions_lines_are_flushed_and_summary_atomic(tmp_path):
    path = tmp_path / "p.jsonl"
    writer = PredictionsWriter(path)
    writer.write({"frame": 0, "value": np.float32(1.5)})
    writer.write({"frame": 1, "value": np.arange(2)})
    # readable before close: a killed run leaves these lines
    assert [r["frame"] for r in read_predictions(path)] == [0, 1]
    with open(path, "a") as handle:
        handle.write('{"frame": 2, "val')  # a line cut short by a hard kill
    assert len(read_predictions(path)) == 2
    writer.close()
    write_json_atomic(tmp_path / "s.json", {"frames": 2})
    assert json.loads((tmp_path / "s.json").read_text()) == {"frames": 2}
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "s.json", {"bad": object()})
    assert json.loads((tmp_path / "s.json").read_text()) == {"frames": 2}  # old summary intact
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
