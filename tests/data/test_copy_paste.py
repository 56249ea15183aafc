"""Same-place copy-paste: what is pasted, where, and what is refused."""

import random

import numpy as np

from perception.data.copy_paste import FEATHER, paste_objects
from perception.structures import Sample

LABELLED = {"objects": True, "pedestrians": True, "lanes": False, "drivable": False}


def _sample(value, boxes, classes, visibility=None, ignore=(), shape=(60, 100, 3), source="synthetic"):
    return Sample(image=np.full(shape, value, np.uint8), boxes=np.array(boxes, np.float32).reshape(-1, 4),
                  classes=np.array(classes), visibility=None if visibility is None else np.array(visibility, np.float32),
                  ignore_boxes=np.array(ignore, np.float32).reshape(-1, 4), labelled=LABELLED, source=source)


def test_pastes_visible_objects_in_place_and_refuses_occluding_or_occluded_ones():
    target = _sample(0, [[10, 10, 30, 30]], [2])
    donor = _sample(200, [[50, 20, 70, 40],   # free space: pasted
                          [12, 12, 28, 28],   # would hide the target's car: refused
                          [75, 5, 95, 25],    # half occluded in the donor: refused (its crop shows the occluder)
                          [80, 40, 82, 42]],  # 2 px: too small to be an object
                    [2, 3, 4, 2], visibility=[1.0, 1.0, 0.5, 1.0])
    out = paste_objects(target, donor, random.Random(0))
    np.testing.assert_array_equal(out.boxes, [[10, 10, 30, 30], [50, 20, 70, 40]])
    np.testing.assert_array_equal(out.classes, [2, 2])
    assert out.track_ids.tolist()[1] == -1 and out.visibility.tolist() == [1.0, 1.0]
    inner = out.image[20 + FEATHER:40 - FEATHER, 50 + FEATHER:70 - FEATHER]
    assert (inner == 200).all()  # the crop's inside is the donor's pixels
    assert 0 < out.image[20, 55, 0] < 200  # its border blends into the target
    assert (out.image[10:30, 10:30] == 0).all() and (out.image[:, :45] == 0).all()  # nothing else changed
    assert target.boxes.shape == (1, 4) and (target.image == 0).all()  # the target itself is left as it was


def test_pasted_objects_do_not_overlap_each_other_or_ignore_regions():
    target = _sample(0, [], [], ignore=[[0, 0, 20, 60]])
    donor = _sample(200, [[5, 5, 15, 15], [30, 10, 50, 30], [32, 12, 52, 32]], [2, 2, 5])
    out = paste_objects(target, donor, random.Random(1))
    assert len(out.boxes) == 1 and out.boxes[0, 0] >= 30  # one of the overlapping pair; nothing in the ignore area


def test_a_donor_of_another_size_or_source_changes_nothing():
    target = _sample(0, [[10, 10, 30, 30]], [2])
    for donor in (_sample(200, [[50, 20, 70, 40]], [2], shape=(80, 100, 3)),
                  _sample(200, [[50, 20, 70, 40]], [2], source="bdd100k")):
        assert paste_objects(target, donor, random.Random(0)) is target


def test_training_items_gain_pasted_objects_deterministically_per_seed(tmp_path):
    from perception.config import ModelConfig
    from perception.data.dataset import build_dataset
    from perception.data.synthetic import generate_dataset
    from perception.data.transforms import AugmentConfig

    generate_dataset(tmp_path / "synth", 6, seed=3, imgsz=(192, 320), val_fraction=0.0, workers=1, progress=False)
    still = dict(affine_p=0, flip_p=0, hsv_p=0, brightness_contrast_p=0, blur_p=0, noise_p=0, weather_p=0)
    model = ModelConfig(scale="n", imgsz=(192, 320))

    def boxes(copy_paste_p, seed):
        dataset = build_dataset(tmp_path / "synth", "train", model, train=True,
                                augment=AugmentConfig(copy_paste_p=copy_paste_p, **still))
        return [dataset[(k, seed + k)]["boxes"] for k in range(len(dataset))]

    plain, pasted, again = boxes(0.0, 0), boxes(1.0, 0), boxes(1.0, 0)
    assert sum(map(len, pasted)) > sum(map(len, plain))
    for before, after, repeat in zip(plain, pasted, again):
        assert after[: len(before)].equal(before) and after.equal(repeat)  # originals first; same seed, same paste
