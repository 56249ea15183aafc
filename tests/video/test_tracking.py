"""ByteTrack association, the Kalman motion model and lane smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from perception.structures import Detections, FrameResult, Lane
from perception.video.tracking import ByteTracker, FrameTracker, KalmanBoxFilter, LaneSmoother, match


def test_hungarian_match_is_optimal_and_thresholded():
    # Greedy would take (0, 0) at cost 0.1 and leave row 1 with cost 0.9; the optimum pairs crosswise.
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    pairs, rows, cols = match(cost, max_cost=0.5)
    assert sorted(pairs) == [(0, 1), (1, 0)] and rows == [] and cols == []
    pairs, rows, cols = match(np.array([[0.7]]), max_cost=0.5)
    assert pairs == [] and rows == [0] and cols == [0]


def test_kalman_learns_constant_velocity():
    kf = KalmanBoxFilter(np.array([0, 0, 20, 40]))
    for i in range(1, 15):
        kf.predict()
        kf.update(np.array([6 * i, 2 * i, 6 * i + 20, 2 * i + 40]))
    kf.predict()
    np.testing.assert_allclose(kf.box, [90, 30, 110, 70], atol=1.0)
    assert kf.x[4] == pytest.approx(6, abs=0.2) and kf.x[5] == pytest.approx(2, abs=0.2)


def _boxes(*centres, size=(30, 30)):
    w, h = size
    return np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] for cx, cy in centres], np.float32)


def test_ids_persist_for_crossing_paths_and_occlusion():
    tracker = ByteTracker()
    history = []
    for t in range(30):
        a = (20 + 8 * t, 100)  # moving right
        b = (260 - 8 * t, 104)  # moving left, crossing a around t=15
        centres = [a, b] if not 18 <= t < 22 else [b]  # a occluded for 4 frames after the crossing
        ids = tracker.update(_boxes(*centres), np.full(len(centres), 0.9), np.full(len(centres), 2))
        history.append(dict(zip(["a", "b"] if len(centres) == 2 else ["b"], ids.tolist())))
    a_ids = {h["a"] for h in history if "a" in h}
    b_ids = {h["b"] for h in history}
    assert len(a_ids) == 1 and len(b_ids) == 1 and a_ids != b_ids
    assert -1 not in a_ids | b_ids


def test_low_score_detection_keeps_its_track_but_never_starts_one():
    tracker = ByteTracker(high_threshold=0.5, low_threshold=0.1, new_track_threshold=0.6)
    ids = []
    for t in range(12):
        score = 0.9 if t < 4 or t >= 8 else 0.3  # the score dips (occlusion, blur) for 4 frames
        boxes = _boxes((50 + 4 * t, 80), (200, 200))
        out = tracker.update(boxes, np.array([score, 0.3]), np.array([2, 2]))
        ids.append(out.tolist())
    assert len({i[0] for i in ids}) == 1 and ids[0][0] > 0  # one id through the dip
    assert all(i[1] == -1 for i in ids)  # a detection that is only ever weak gets no track


def test_tracks_are_class_aware_and_confirmed_on_second_hit():
    tracker = ByteTracker()
    tracker.update(_boxes((100, 100)), np.array([0.9]), np.array([2]))
    # same place, other class: not the car's id; a new track is tentative (-1) until seen again
    ids = tracker.update(_boxes((100, 100), (300, 300)), np.array([0.9, 0.9]), np.array([0, 2]))
    car_id = tracker.tracks[0].track_id
    assert ids[0] != car_id and ids[0] == -1 and ids[1] == -1
    ids = tracker.update(_boxes((100, 100), (300, 300)), np.array([0.9, 0.9]), np.array([0, 2]))
    assert ids[0] > car_id and ids[1] > car_id and ids[0] != ids[1]


def test_lost_tracks_are_retired_after_the_buffer():
    tracker = ByteTracker(track_buffer=3)
    first = tracker.update(_boxes((100, 100)), np.array([0.9]), np.array([2]))[0]
    for _ in range(5):
        tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert tracker.tracks == []
    tracker.update(_boxes((100, 100)), np.array([0.9]), np.array([2]))
    again = tracker.update(_boxes((100, 100)), np.array([0.9]), np.array([2]))[0]
    assert again != first


def test_lane_smoother_reduces_jitter_and_keeps_ids():
    rng = np.random.default_rng(0)
    smoother = LaneSmoother(alpha=0.3)
    ys = np.linspace(400, 200, 9)
    raw_x, smooth_x, ids = [], [], []
    for _ in range(40):
        x = 300 + rng.normal(0, 6) + 0.2 * (400 - ys)
        lane = Lane(points=np.stack([x, ys], 1).astype(np.float32), slot=3)
        out = smoother.update([lane, Lane(points=np.array([[0, 0], [1, 1]], np.float32), slot=-1)])
        raw_x.append(x[0])
        smooth_x.append(out[0].points[0, 0])
        ids.append(out[0].track_id)
        assert out[1].track_id == -1  # lanes without a slot pass through
    assert len(set(ids)) == 1 and ids[0] > 0
    assert np.std(smooth_x[5:]) < 0.6 * np.std(raw_x[5:])
    assert abs(np.mean(smooth_x[5:]) - 300) < 3
    # a jump of 200 px is another lane in that slot (lane change): new id, no blending with the old one
    jumped = Lane(points=np.stack([np.full(9, 600.0), ys], 1).astype(np.float32), slot=3)
    out = smoother.update([jumped])[0]
    assert out.track_id != ids[0]
    np.testing.assert_allclose(out.points[:, 0], 600)


def test_frame_tracker_gives_unique_ids_across_both_heads():
    tracker = FrameTracker()
    for t in range(3):
        result = FrameResult(
            objects=Detections(_boxes((50 + t, 50)), [0.9], [2]),
            pedestrians=Detections(_boxes((200 + t, 50)), [0.9], [0]),
            lanes=[Lane(points=np.array([[10, 100], [20, 50]], np.float32), slot=1)],
        )
        tracker.update(result)
    assert result.objects.track_ids[0] > 0 and result.pedestrians.track_ids[0] > 0
    assert result.objects.track_ids[0] != result.pedestrians.track_ids[0]
    assert result.lanes[0].track_id > 0
    assert result.to_json()["objects"][0]["track_id"] == result.objects.track_ids[0]
