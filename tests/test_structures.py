"""Detections can be indexed and concatenated like detectron2's `Instances`: every field follows the selection."""

from __future__ import annotations

import numpy as np

from perception.structures import Detections


def _dets(n: int, first_class: int = 0, first_track: int = 0) -> Detections:
    boxes = np.arange(4 * n, dtype=np.float32).reshape(n, 4)
    return Detections(boxes, np.linspace(0.9, 0.1, n), np.arange(first_class, first_class + n),
                      np.arange(first_track, first_track + n))


def _fields(d: Detections) -> tuple:
    return d.boxes.tolist(), d.scores.tolist(), d.classes.tolist(), d.track_ids.tolist()


def test_a_mask_an_index_array_a_slice_and_an_int_select_the_same_rows_of_every_field():
    dets = _dets(5)
    by_mask = dets[np.array([True, False, True, False, True])]
    by_index = dets[np.array([0, 2, 4])]
    by_slice = dets[::2]
    assert _fields(by_mask) == _fields(by_index) == _fields(by_slice)
    assert by_mask.boxes.tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert by_mask.scores.tolist() == dets.scores[[0, 2, 4]].tolist()
    assert by_mask.classes.tolist() == [0, 2, 4] and by_mask.track_ids.tolist() == [0, 2, 4]
    one = dets[3]
    assert len(one) == 1 and one.classes.tolist() == [3] and one.boxes.shape == (1, 4)
    assert _fields(dets[np.array([4, 1])]) == (dets.boxes[[4, 1]].tolist(), dets.scores[[4, 1]].tolist(), [4, 1], [4, 1])
    none = dets[np.zeros(5, bool)]
    assert len(none) == 0 and none.boxes.shape == (0, 4) and none.classes.dtype == np.int64


def test_cat_joins_every_field_in_order():
    objects, pedestrians = _dets(3, first_class=2, first_track=10), _dets(2, first_class=0, first_track=20)
    both = Detections.cat([objects, pedestrians])
    assert len(both) == 5
    assert both.classes.tolist() == [2, 3, 4, 0, 1] and both.track_ids.tolist() == [10, 11, 12, 20, 21]
    assert both.boxes.tolist() == objects.boxes.tolist() + pedestrians.boxes.tolist()
    assert both.scores.tolist() == objects.scores.tolist() + pedestrians.scores.tolist()
    assert _fields(both[3:]) == _fields(pedestrians)
    assert len(Detections.cat([])) == 0 and len(Detections.cat([Detections(), objects])) == 3
