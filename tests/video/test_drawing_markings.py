"""The video tool draws lane style and colour (dashed drawn dashed) and crossings distinctly."""

import numpy as np

from perception.drawing import CROSSING_COLORS, PAINT_COLORS
from perception.structures import Crossing, FrameResult, Lane
from perception.video.drawing import draw_frame

H, W = 360, 640


def painted(canvas_bgr, color_rgb):
    return np.all(np.abs(canvas_bgr.astype(int) - color_rgb[::-1]) < 30, axis=2)


def test_dashed_white_and_solid_yellow_lanes_and_crossings():
    image = np.full((H, W, 3), 60, np.uint8)
    dashed = Lane(np.array([[100, 359], [100, 20]], np.float32), style="dashed", color="white", type="single")
    solid = Lane(np.array([[400, 359], [400, 20]], np.float32), style="solid", color="yellow", type="single")
    crossings = [Crossing(np.array([[150, 100], [350, 100], [350, 130], [150, 130]], np.float32), "crosswalk", 0.9)]
    canvas = draw_frame(image, FrameResult(lanes=[dashed, solid], crossings=crossings))
    white_rows = painted(canvas[:, 95:106], PAINT_COLORS["white"]).any(1)[40:340]
    yellow_rows = painted(canvas[:, 395:406], PAINT_COLORS["yellow"]).any(1)[40:340]
    assert yellow_rows.all()  # solid: unbroken
    assert 0.4 < white_rows.mean() < 0.8  # dashed: painted and gaps
    assert painted(canvas[95:135, 145:355], CROSSING_COLORS["crosswalk"]).sum() > 200
