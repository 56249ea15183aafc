"""Decoding the lane-marking head: attributes read along each lane, crossings as polygons, JSON."""

import json

import numpy as np

from perception.config import ModelConfig
from perception.postprocess.decode import decode_outputs
from perception.postprocess.markings import decode_crossings, decode_lane_marking
from perception.preprocess import LetterboxInfo
from perception.structures import FrameResult

H, W = 128, 192


def attr_logits(style: int, color: int, lane_type: int) -> np.ndarray:
    logits = np.zeros((8, H // 4, W // 4), np.float32)
    logits[style] = 5.0
    logits[2 + color] = 5.0
    logits[5 + lane_type] = 5.0
    return logits


def test_a_lanes_marking_follows_the_cells_under_it():
    logits = attr_logits(1, 1, 1)  # dashed, yellow, double everywhere
    logits[:, :, : W // 8] = attr_logits(0, 0, 2)[:, :, : W // 8]  # solid, white, curb on the left half
    left = np.array([[20, 120], [22, 20]], np.float32)
    right = np.array([[150, 120], [152, 20]], np.float32)
    a = decode_lane_marking(left, logits)
    assert {k: v[0] for k, v in a.items()} == {"style": "solid", "color": "white", "type": "curb"}
    assert all(0.9 < v[1] <= 1.0 for v in a.values())
    b = decode_lane_marking(right, logits)
    assert {k: v[0] for k, v in b.items()} == {"style": "dashed", "color": "yellow", "type": "double"}


def test_crossings_become_polygons_with_their_class():
    logits = np.zeros((3, H // 4, W // 4), np.float32)
    logits[0] = 5.0
    logits[1, 5:9, 4:40] = 10.0  # a crosswalk band
    logits[2, 20, 10:30] = 10.0  # a one-cell-thick stop line
    logits[2, 28, 2] = 10.0  # a speck: too small
    found = decode_crossings(logits)
    assert sorted(name for _, name, _ in found) == ["crosswalk", "stop line"]
    for polygon, name, score in found:
        assert polygon.shape == (4, 2) and score > 0.9
        if name == "crosswalk":
            assert polygon[:, 0].min() <= 4 * 4 + 1 and polygon[:, 0].max() >= 40 * 4 - 1
            assert polygon[:, 1].min() <= 5 * 4 + 1 and polygon[:, 1].max() >= 9 * 4 - 1


def test_decode_outputs_carries_attributes_and_crossings_into_json():
    cfg = ModelConfig(scale="n", imgsz=(H, W))
    lane = np.full((8, H, W), -5.0, np.float32)
    lane[0] = 5.0
    lane[4, :, 120:126] = 10.0  # slot 3 (right of centre), a vertical line at x ~ 123
    lane[0, :, 120:126] = -5.0
    crossing = np.zeros((3, H // 4, W // 4), np.float32)
    crossing[0] = 5.0
    crossing[2, 10, 5:25] = 10.0
    outputs = {"lane": lane[None], "lane_attr": attr_logits(1, 1, 0)[None], "crossing": crossing[None]}
    info = LetterboxInfo(scale=1.0, pad_x=0.0, pad_y=0.0, orig_size=(H, W), input_size=(H, W))
    result = decode_outputs(outputs, cfg, [info])[0]
    assert len(result.lanes) == 1
    lane0 = result.lanes[0]
    assert (lane0.style, lane0.color, lane0.type) == ("dashed", "yellow", "single")
    assert [c.category for c in result.crossings] == ["stop line"]
    data = json.loads(json.dumps(result.to_json()))
    assert data["lanes"][0]["style"] == "dashed" and 0.9 < data["lanes"][0]["style_score"] <= 1
    assert data["lanes"][0]["color"] == "yellow" and data["lanes"][0]["type"] == "single"
    assert data["crossings"][0]["category"] == "stop line" and len(data["crossings"][0]["polygon"]) == 4
    # a model without the head: no attribute keys, an empty crossing list
    plain = decode_outputs({"lane": lane[None]}, cfg, [info])[0].to_json()
    assert "style" not in plain["lanes"][0] and plain["crossings"] == []
    assert FrameResult().to_json()["crossings"] == []
