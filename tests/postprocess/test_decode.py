import numpy as np
import pytest
import torch
import torchvision

from perception.config import ModelConfig
from perception.postprocess import decode_outputs
from perception.postprocess.boxes import anchor_points, batched_nms, decode_distances, encode_distances, nms
from perception.postprocess.lanes import decode_lanes
from perception.preprocess import letterbox


def _random_boxes(rng, n, extent=300):
    xy = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(4, 80, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_nms_equals_torchvision(seed):
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 400)
    scores = rng.uniform(0, 1, 400).astype(np.float32)
    classes = rng.integers(0, 4, 400)
    for thr in (0.3, 0.6):
        ref = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
        np.testing.assert_array_equal(nms(boxes, scores, thr), ref)
        ref = torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), thr)
        np.testing.assert_array_equal(batched_nms(boxes, scores, classes, thr), ref.numpy())


def test_box_coding_numpy_and_torch_agree_and_invert():
    rng = np.random.default_rng(0)
    points, strides = anchor_points((64, 96), (8, 16, 32))
    assert points.shape == (96 + 24 + 6, 2)
    np.testing.assert_allclose(points[0], [4, 4])
    np.testing.assert_allclose(points[96], [8, 8])  # first stride-16 point
    raw = rng.normal(size=(len(points), 4)).astype(np.float32)
    boxes_np = decode_distances(points, strides, raw)
    boxes_t = decode_distances(points, strides, torch.from_numpy(raw)).numpy()
    np.testing.assert_allclose(boxes_np, boxes_t, atol=1e-4)
    np.testing.assert_allclose(encode_distances(points, strides, boxes_np), raw, atol=1e-3)


def _blank_outputs(config: ModelConfig, imgsz):
    n_obj = len(anchor_points(imgsz, config.object_strides)[0])
    n_ped = len(anchor_points(imgsz, config.pedestrian_strides)[0])
    h, w = imgsz
    lane = np.full((1, config.lane_channels, h, w), -10.0, np.float32)
    lane[:, 0] = 10.0
    drivable = np.zeros((1, 3, h, w), np.float32)
    drivable[:, 2] = 5.0
    return {
        "obj_reg": np.zeros((1, n_obj, 4), np.float32),
        "obj_cls": np.full((1, n_obj, len(config.object_classes)), -10.0, np.float32),
        "ped_reg": np.zeros((1, n_ped, 4), np.float32),
        "ped_cls": np.full((1, n_ped, len(config.pedestrian_classes)), -10.0, np.float32),
        "lane": lane,
        "drivable": drivable,
    }


def test_decode_maps_a_known_box_back_to_the_original_image():
    config = ModelConfig(scale="n", imgsz=(128, 256))
    image = np.zeros((360, 640, 3), np.uint8)  # letterboxed: scale 0.4, 8 px of padding top and bottom
    _, info = letterbox(image, config.imgsz)
    outputs = _blank_outputs(config, config.imgsz)
    box_orig = np.array([[200.0, 100.0, 300.0, 250.0]], np.float32)
    box_in = info.to_input(box_orig)
    points, strides = anchor_points(config.imgsz, config.object_strides)
    centre = (box_in[0, :2] + box_in[0, 2:]) / 2
    idx = int(np.argmin(np.abs(points - centre).sum(1) + (strides != 16) * 1e6))
    outputs["obj_reg"][0, idx] = encode_distances(points[idx : idx + 1], strides[idx : idx + 1], box_in)[0]
    car_local = config.object_classes.index(2)
    outputs["obj_cls"][0, idx, car_local] = 3.0
    # drivable: the lower half of the input is "direct"
    outputs["drivable"][0, 0, 64:] = 10.0
    result = decode_outputs(outputs, config, [info])[0]
    assert len(result.objects) == 1 and len(result.pedestrians) == 0
    np.testing.assert_allclose(result.objects.boxes[0], box_orig[0], atol=0.5)
    assert result.objects.classes[0] == 2
    assert result.objects.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-5)
    assert result.drivable.shape == (360, 640)
    assert (result.drivable[200:] == 0).all() and (result.drivable[:150] == 2).all()


def test_decode_lanes_follows_a_drawn_line():
    h, w, slots = 128, 256, 6
    logits = np.full((slots + 2, h, w), -5.0, np.float32)
    logits[0] = 5.0
    ys = np.arange(40, h)
    xs = (60 + 0.8 * (ys - 40)).astype(int)  # a straight line, 3 px wide
    for dx in (-1, 0, 1):
        logits[0, ys, xs + dx] = -5.0
        logits[2, ys, xs + dx] = 5.0
    lanes, mask = decode_lanes(logits, threshold=0.5, min_rows=6)
    assert [slot for _, _, slot in lanes] == [2]
    points = lanes[0][0]
    assert points[0, 1] > points[-1, 1]  # bottom to top
    expected = 60 + 0.8 * (points[:, 1] - 40)
    np.testing.assert_allclose(points[:, 0], expected, atol=1.0)
    assert mask.sum() == 3 * len(ys)


def _lane_line_outputs(config: ModelConfig):
    """Blank outputs whose lane logits hold one vertical 4-px line (slot 1) at input columns 100-103."""
    outputs = _blank_outputs(config, config.imgsz)
    outputs["lane"][0, 0, :, 100:104] = -10.0
    outputs["lane"][0, 1, :, 100:104] = 10.0
    return outputs


def test_model_without_marking_head_still_returns_lane_mask():
    # Every checkpoint saved before the lane-marking head (and its ONNX export) decodes like this: no
    # `lane_attr` or `crossing` outputs. Its binary lane mask must still be argmax != background, in
    # original pixels, or eval silently scores lane IoU on rasterised polylines instead.
    config = ModelConfig(scale="n", imgsz=(128, 256), lane_markings=False)
    _, info = letterbox(np.zeros((128, 256, 3), np.uint8), config.imgsz)  # identity letterbox
    result = decode_outputs(_lane_line_outputs(config), config, [info])[0]
    assert result.lane_mask is not None and result.lane_mask.shape == (128, 256)
    expected = np.zeros((128, 256), np.uint8)
    expected[:, 100:104] = 1
    np.testing.assert_array_equal(result.lane_mask, expected)
    assert result.crossings == []
    assert decode_outputs(_lane_line_outputs(config), config, [info], lane_masks=False)[0].lane_mask is None


def test_model_with_marking_head_adds_crossings_to_the_lane_mask():
    config = ModelConfig(scale="n", imgsz=(128, 256), lane_markings=True)
    _, info = letterbox(np.zeros((128, 256, 3), np.uint8), config.imgsz)
    outputs = _lane_line_outputs(config)
    h, w = 128 // 4, 256 // 4  # the marking head's stride-4 maps
    outputs["lane_attr"] = np.zeros((1, 8, h, w), np.float32)
    outputs["crossing"] = np.full((1, 3, h, w), -10.0, np.float32)
    outputs["crossing"][0, 0] = 10.0
    outputs["crossing"][0, 0, 20:24, 4:14] = -10.0  # a crosswalk: stride-4 cells rows 20-23, columns 4-13
    outputs["crossing"][0, 1, 20:24, 4:14] = 10.0
    result = decode_outputs(outputs, config, [info])[0]
    expected = np.zeros((128, 256), np.uint8)
    expected[:, 100:104] = 1
    expected[80:96, 16:56] = 1
    np.testing.assert_array_equal(result.lane_mask, expected)
    assert [c.category for c in result.crossings] == ["crosswalk"]
