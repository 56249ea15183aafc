import dataclasses
import random

import numpy as np
import pytest

from perception.data.targets import assign_lane_slots, bottom_x, drivable_target, lane_target, rasterize_lane_slots
from perception.data.transforms import AugmentConfig, EvalTransform, TrainTransform, hflip, letterbox_sample
from perception.preprocess import letterbox
from perception.structures import Sample

W, H, K = 640, 384, 6


def lane(x_bottom, x_top):
    return np.array([[x_bottom, H - 1], [x_top, 150]], np.float32)


def test_slots_by_position_nearest_first():
    lanes = [lane(100, 250), lane(300, 310), lane(-200, 200), lane(400, 330), lane(620, 400), lane(900, 420)]
    assert assign_lane_slots(lanes, None, W, H, K) == [2, 3, 1, 4, 5, 6]
    # a fourth left lane has no slot; a crossing line never gets one
    more = lanes + [lane(-900, 100), np.array([[0, 300], [640, 300]], np.float32)]
    attrs = [{}] * 7 + [{"direction": "vertical"}]
    assert assign_lane_slots(more, attrs, W, H, K)[-2:] == [K + 1, K + 1]


def test_bottom_x_extrapolates():
    assert bottom_x(np.array([[300, 200], [320, 100]]), 384) == pytest.approx(300 - 20 * 183 / 100)


def test_rasterize_thickness_and_values():
    target = rasterize_lane_slots([lane(200, 200), lane(400, 400)], [3, 4], (H, W), thickness=8)
    row = target[300]
    assert set(np.unique(target)) == {0, 3, 4}
    assert (row == 3).sum() in (8, 9) and (row == 4).sum() in (8, 9)
    assert row[200] == 3 and row[400] == 4 and row[100] == 0


def test_flip_swaps_slots_and_lane_order():
    img = np.zeros((H, W, 3), np.uint8)
    sample = Sample(image=img, lanes=[lane(150, 280), lane(420, 350)], lane_attrs=[{"side": "left"}, {"side": "right"}],
                    labelled={"lanes": True})
    item = letterbox_sample(sample, (H, W))
    before = assign_lane_slots(item.lanes, item.lane_attrs, W, H, K)
    flipped = hflip(item)
    after = assign_lane_slots(flipped.lanes, flipped.lane_attrs, W, H, K)
    assert before == [3, 4] and after == [3, 4]  # list reversed, so index 0 is again the left lane
    np.testing.assert_allclose(flipped.lanes[0][:, 0], W - item.lanes[1][:, 0])
    assert [a["side"] for a in flipped.lane_attrs] == ["left", "right"]
    t_before, _ = lane_target(item.lanes, None, None, True, (H, W), K)
    t_after, _ = lane_target(flipped.lanes, None, None, True, (H, W), K)
    # the mirrored target swaps left and right slot values: 3 <-> 4
    mirrored = t_before[:, ::-1]
    assert (t_after[mirrored == 3] == 4).mean() > 0.95 and (t_after[mirrored == 4] == 3).mean() > 0.95


def test_targets_ignore_when_unlabelled():
    t, inst = lane_target([], None, None, False, (H, W), K)
    assert (t == 255).all() and not inst
    mask = np.zeros((H, W), np.uint8)
    mask[10, 10] = 1
    t, inst = lane_target([], None, mask, True, (H, W), K)
    assert t[10, 10] == K + 1 and t.sum() == K + 1 and not inst
    assert (drivable_target(None, False, (H, W)) == 255).all()


def test_eval_transform_equals_preprocess_letterbox():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    drv = np.full((720, 1280), 2, np.uint8)
    item = EvalTransform((384, 640))(Sample(image=img, boxes=[[100, 100, 300, 200]], classes=[2], drivable=drv,
                                            labelled={"drivable": True}))
    ref, info = letterbox(img, (384, 640))
    np.testing.assert_array_equal(item.image, ref)
    np.testing.assert_allclose(item.boxes, [[50, 62, 150, 112]])
    assert (item.drivable[:info.pad_y.__int__()] == 255).all() and (item.drivable[100] == 2).all()
    assert (item.image[:12] == 114).all()


def _scene():
    """Image with a white box, a white lane line and a drivable region painted exactly where the labels say."""
    img = np.full((720, 1280, 3), 40, np.uint8)
    img[200:400, 300:600] = 255
    lane_pts = np.array([[900, 719], [1000, 400]], np.float32)
    import cv2

    cv2.line(img, (900, 719), (1000, 400), (255, 255, 255), 9)
    drivable = np.full((720, 1280), 2, np.uint8)
    drivable[500:, :600] = 0
    img[500:, :600] = (0, 0, 200)
    return Sample(image=img, boxes=[[300, 200, 600, 400]], classes=[2], lanes=[lane_pts], drivable=drivable,
                  labelled={"objects": True, "lanes": True, "drivable": True})


def test_augmentation_keeps_boxes_lanes_masks_aligned():
    random.seed(1)
    sample = _scene()
    no_photo = AugmentConfig(hsv_p=0, brightness_contrast_p=0, blur_p=0, noise_p=0, weather_p=0, affine_p=1.0)
    transform = TrainTransform((384, 640), no_photo)
    flips = set()
    for _ in range(12):
        item = transform(sample)
        flips.add(item.flipped)
        assert item.image.shape == (384, 640, 3)
        if len(item.boxes):
            x1, y1, x2, y2 = item.boxes[0]
            inner = item.image[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3]
            if inner.size:
                assert inner.min() > 200  # the white box moved with its label
        pts = item.lanes[0]
        t = np.linspace(0, 1, 20)[:, None]
        along = pts[0] * (1 - t) + pts[1] * t
        inside = [(int(y), int(x)) for x, y in along if 2 <= x < 638 and 2 <= y < 382]
        if inside:
            bright = np.mean([item.image[y, x].min() > 150 for y, x in inside])
            assert bright > 0.8
        red = (item.image[..., 2] > 150) & (item.image[..., 0] < 60)
        assert (item.drivable[red] == 0).mean() > 0.97  # drivable label follows the painted road
        assert set(np.unique(item.drivable)) <= {0, 2, 255}
    assert flips == {True, False}


# Every augmentation off: TrainTransform is then the letterbox alone.
ALL_OFF = dict(scale=(1.0, 1.0), translate=0.0, affine_p=0.0, flip_p=0.0, hsv_p=0.0, brightness_contrast_p=0.0,
               blur_p=0.0, noise_p=0.0, weather_p=0.0, copy_paste_p=0.0)


def _sharpness(image: np.ndarray) -> float:
    import cv2

    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("effect", ["hsv_p", "brightness_contrast_p", "blur_p", "noise_p", "weather_p"])
def test_each_photometric_effect_changes_pixels_and_moves_no_label(effect):
    random.seed(0)
    plain = letterbox_sample(_scene(), (384, 640))
    off = TrainTransform((384, 640), AugmentConfig(**ALL_OFF))(_scene())
    np.testing.assert_array_equal(off.image, plain.image)  # the comparison below measures the effect alone
    item = TrainTransform((384, 640), AugmentConfig(**(ALL_OFF | {effect: 1.0})))(_scene())
    assert item.image.dtype == np.uint8 and item.image.shape == (384, 640, 3)
    assert np.abs(item.image.astype(np.int16) - plain.image).mean() > 1.0
    np.testing.assert_allclose(item.boxes, plain.boxes, atol=1e-3)
    np.testing.assert_allclose(item.lanes[0], plain.lanes[0], atol=1e-3)
    np.testing.assert_array_equal(item.drivable, plain.drivable)
    if effect == "blur_p":
        assert _sharpness(item.image) < 0.8 * _sharpness(plain.image)
    if effect == "noise_p":  # the flat grey background gains grain
        assert item.image[70:100, 30:120].std() > 2.0 and plain.image[70:100, 30:120].std() == 0


# A value that switches each AugmentConfig field on (scale and translate act through the affine step).
SWITCHED_ON = {"scale": dict(affine_p=1.0, scale=(1.3, 1.3)), "translate": dict(affine_p=1.0, translate=0.2),
               "affine_p": dict(affine_p=1.0, scale=(0.7, 0.7))}


# copy_paste_p is applied by the dataset, not the transform: tests/data/test_copy_paste.py shows its effect.
@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AugmentConfig) if f.name != "copy_paste_p"])
def test_every_augment_option_changes_the_training_sample(name):
    # An option that is accepted but never read (a `mosaic_p` that was never implemented) must not exist.
    baseline = ALL_OFF | {k: v for k, v in SWITCHED_ON.get(name, {}).items() if k == "affine_p"}
    random.seed(3)
    before = TrainTransform((384, 640), AugmentConfig(**baseline))(_scene(), random.Random(5))
    after = TrainTransform((384, 640), AugmentConfig(**(baseline | SWITCHED_ON.get(name, {name: 1.0}))))(
        _scene(), random.Random(5))
    assert not np.array_equal(before.image, after.image)
