"""Targets of the lane-marking head: attributes and crossings from BDD100K polylines, lane byte masks,
the synthetic world, and nothing (ignore) from sources that do not label them."""

import numpy as np

from perception.data.synthetic.render import render_scene
from perception.data.synthetic.scene import sample_scene
from perception.classes import IGNORE_INDEX
from perception.data.targets import crossing_pixels, lane_target, marking_targets
from perception.markings import LANE_COLORS, LANE_STYLES, LANE_TYPES

H, W, S = 384, 640, 4


def vertical(x):
    return np.array([[x, H - 1], [x, 100]], np.float32)


def test_bdd_polylines_give_attributes_and_crossings():
    lanes = [vertical(200), vertical(400), np.array([[0, 300], [640, 300]], np.float32),
             np.array([[100, 200], [500, 200], [500, 230], [100, 230]], np.float32)]
    attrs = [{"direction": "parallel", "style": "dashed", "category": "single white"},
             {"direction": "parallel", "style": "solid", "category": "double yellow"},
             {"direction": "vertical", "style": "solid", "category": "single white"},
             {"direction": "vertical", "style": "solid", "category": "crosswalk", "closed": True}]
    attr, crossing = marking_targets(lanes, attrs, None, True, (H, W), S, thickness=8)
    assert attr.shape == (3, H // S, W // S) and crossing.shape == (H // S, W // S)
    row = 340 // S
    assert attr[0, row, 200 // S] == LANE_STYLES.index("dashed") and attr[0, row, 400 // S] == LANE_STYLES.index("solid")
    assert attr[1, row, 200 // S] == LANE_COLORS.index("white") and attr[1, row, 400 // S] == LANE_COLORS.index("yellow")
    assert attr[2, row, 200 // S] == LANE_TYPES.index("single") and attr[2, row, 400 // S] == LANE_TYPES.index("double")
    assert attr[0, row, 300 // S] == IGNORE_INDEX  # off the lanes: no attribute label
    assert crossing[300 // S, 600 // S] == 2  # the stop line
    assert crossing[215 // S, 300 // S] == 1  # inside the filled crosswalk polygon
    assert crossing[row, 300 // S] == 0  # labelled: elsewhere is "no crossing"
    # crossings are no lanes: the lane target has neither the stop line nor the crosswalk
    target, _ = lane_target(lanes, attrs, None, True, (H, W), 6, 8)
    assert target[300, 600] == 0 and target[215, 300] == 0 and target[340, 200] > 0


def test_culane_lanes_and_a_kerb_leave_unknown_attributes_ignored():
    lanes = [vertical(200), vertical(400)]
    unknown = [{"direction": "parallel", "style": "unknown", "category": "lane"}] * 2
    attr, crossing = marking_targets(lanes, unknown, None, True, (H, W), S, thickness=8)
    assert (attr == IGNORE_INDEX).all() and (crossing == IGNORE_INDEX).all()  # a missing label is never a negative
    kerb = [{"direction": "parallel", "style": "solid", "category": "road curb"}] * 2
    attr, _ = marking_targets(lanes, kerb, None, True, (H, W), S, thickness=8)
    assert attr[2, 340 // S, 200 // S] == LANE_TYPES.index("curb") and attr[1, 340 // S, 200 // S] == IGNORE_INDEX
    attr, crossing = marking_targets(lanes, kerb, None, False, (H, W), S)
    assert (attr == IGNORE_INDEX).all() and (crossing == IGNORE_INDEX).all()


def test_lane_byte_mask_bits_give_targets_and_255_is_background():
    bits = np.full((H, W), 255, np.uint8)
    bits[:, 198:202] = (1 << 4) | 7  # dashed single yellow, parallel
    bits[300:303, :] = (1 << 5) | 6  # vertical single white: a stop line
    bits[100:110, 300:400] = (1 << 5) | 0  # crosswalk
    attr, crossing = marking_targets([], [], bits, True, (H, W), S)
    cell = (200 // S, 198 // S)
    assert attr[0][cell] == LANE_STYLES.index("dashed") and attr[1][cell] == LANE_COLORS.index("yellow")
    assert attr[2][cell] == LANE_TYPES.index("single")
    assert crossing[300 // S, 500 // S] == 2 and crossing[104 // S, 350 // S] == 1 and crossing[50, 20] == 0
    assert attr[0, 50, 20] == IGNORE_INDEX
    assert crossing_pixels(bits).sum() == 3 * W + 10 * 100 - 0


def test_synthetic_world_labels_stop_lines_crosswalks_and_attributes():
    seen = set()
    for seed in (0, 4, 36):
        frame = render_scene(sample_scene(seed, (H, W)))
        sample = frame.to_sample()
        assert sample.lane_bits is not None and sample.lane_bits.shape == (H, W)
        for a in sample.lane_attrs:
            seen.add((a["category"], a["style"], a["direction"]))
        attr, crossing = marking_targets(sample.lanes, sample.lane_attrs, sample.lane_bits, True, (H, W), S)
        assert (crossing == 2).any()  # these seeds have a stop line
    assert ("crosswalk", "solid", "vertical") in seen and ("single white", "solid", "vertical") in seen
    assert any(c == "single white" and s == "dashed" for c, s, _ in seen)
    assert any(c == "road curb" for c, _, _ in seen)
