"""Multi-object tracking (ByteTrack-style) and lane temporal smoothing for the video tool.

Objects: ByteTrack (Zhang et al., ECCV 2022). Every track carries a constant-velocity Kalman filter on
(cx, cy, w, h) in image pixels. Each frame: (1) high-score detections are matched to all live tracks by
IoU with the Hungarian algorithm, (2) the low-score detections to the tracks still unmatched - the step
that keeps an occluded object's id while its score dips -, (3) leftover high-score detections are
matched to tentative tracks, and the rest start tentative tracks. A tentative track is confirmed on its
second hit (or at once on the first frame), a lost one is kept `track_buffer` frames for re-identification.
Matching is class-aware: a car never inherits a pedestrian's id.

Lanes: slot-based; each slot's polyline is blended with the previous frame's (exponential moving average
of x at the same image rows) and keeps a stable id while the slot stays populated.

numpy + scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from perception.postprocess.boxes import box_iou
from perception.structures import Detections, FrameResult, Lane

# Kalman noise scaled by object size, as in SORT/ByteTrack: a 1/20-of-height position error and a
# 1/160-of-height velocity error per frame.
_STD_POSITION = 1.0 / 20
_STD_VELOCITY = 1.0 / 160


class KalmanBoxFilter:
    """Constant-velocity Kalman filter. State x = (cx, cy, w, h, vcx, vcy, vw, vh), pixels and
    pixels/frame; measurement z = (cx, cy, w, h)."""

    def __init__(self, box_xyxy: np.ndarray) -> None:
        z = _xyxy_to_cxcywh(box_xyxy)
        self.x = np.concatenate([z, np.zeros(4)])
        scale = np.array([z[2], z[3], z[2], z[3]])
        std = np.concatenate([2 * _STD_POSITION * scale, 10 * _STD_VELOCITY * scale])
        self.P = np.diag(np.square(std))
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    def predict(self) -> None:
        scale = np.array([self.x[2], self.x[3], self.x[2], self.x[3]])
        q = np.concatenate([_STD_POSITION * scale, _STD_VELOCITY * scale])
        self.x = self.F @ self.x
        # Width/height must stay positive even when a shrinking track coasts for many frames.
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = self.F @ self.P @ self.F.T + np.diag(np.square(q))

    def update(self, box_xyxy: np.ndarray) -> None:
        z = _xyxy_to_cxcywh(box_xyxy)
        scale = np.array([self.x[2], self.x[3], self.x[2], self.x[3]])
        R = np.diag(np.square(_STD_POSITION * scale))
        S = self.H @ self.P @ self.H.T + R
        K = np.linalg.solve(S, self.H @ self.P).T
        self.x = self.x + K @ (z - self.H @ self.x)
        self.P = (np.eye(8) - K @ self.H) @ self.P

    @property
    def box(self) -> np.ndarray:
        return _cxcywh_to_xyxy(self.x[:4])


def _xyxy_to_cxcywh(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def _cxcywh_to_xyxy(c: np.ndarray) -> np.ndarray:
    cx, cy, w, h = c
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def match(cost: np.ndarray, max_cost: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment on `cost` (N, M) keeping pairs with cost <= max_cost.
    Returns (pairs, unmatched rows, unmatched columns)."""
    n, m = cost.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    rows, cols = linear_sum_assignment(cost)
    pairs = [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= max_cost]
    matched_r = {r for r, _ in pairs}
    matched_c = {c for _, c in pairs}
    return pairs, [r for r in range(n) if r not in matched_r], [c for c in range(m) if c not in matched_c]


@dataclass
class _Track:
    track_id: int
    cls: int
    kalman: KalmanBoxFilter
    score: float
    confirmed: bool
    hits: int = 1
    last_frame: int = 0


class ByteTracker:
    """Assigns stable track ids to detections frame after frame.

    high_threshold: detections at or above it enter the first association and may start tracks.
    low_threshold: detections between low and high only extend existing tracks (second association).
    new_track_threshold: minimum score for an unmatched detection to start a track.
    match_iou / low_match_iou: minimum IoU for the first / second association.
    track_buffer: frames a lost track is kept before its id is retired.
    """

    def __init__(
        self,
        high_threshold: float = 0.5,
        low_threshold: float = 0.1,
        new_track_threshold: float = 0.6,
        match_iou: float = 0.2,
        low_match_iou: float = 0.5,
        track_buffer: int = 30,
    ) -> None:
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.new_track_threshold = new_track_threshold
        self.match_iou = match_iou
        self.low_match_iou = low_match_iou
        self.track_buffer = track_buffer
        self.tracks: list[_Track] = []
        self.frame_index = 0
        self._next_id = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Associate one frame's detections: boxes (N, 4) xyxy pixels, scores (N,), classes (N,).
        Returns track ids (N,) int64; -1 for a detection without a confirmed track."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        classes = np.asarray(classes, np.int64).reshape(-1)
        ids = np.full(len(boxes), -1, np.int64)
        for track in self.tracks:
            track.kalman.predict()

        high = np.flatnonzero(scores >= self.high_threshold)
        low = np.flatnonzero((scores >= self.low_threshold) & (scores < self.high_threshold))
        confirmed = [t for t in self.tracks if t.confirmed]
        tentative = [t for t in self.tracks if not t.confirmed]

        # 1) high-score detections vs confirmed tracks (live and lost)
        pairs, free_tracks, free_high = match(self._cost(confirmed, boxes[high], classes[high]), 1 - self.match_iou)
        for ti, di in pairs:
            self._hit(confirmed[ti], high[di], boxes, scores, ids)
        # 2) low-score detections vs tracks seen last frame and still unmatched (not the long-lost ones,
        #    whose predicted boxes are too uncertain for a weak detection)
        remaining = [confirmed[i] for i in free_tracks if confirmed[i].last_frame == self.frame_index - 1]
        pairs, _, _ = match(self._cost(remaining, boxes[low], classes[low]), 1 - self.low_match_iou)
        for ti, di in pairs:
            self._hit(remaining[ti], low[di], boxes, scores, ids)
        # 3) leftover high-score detections vs tentative tracks
        leftover = high[free_high]
        pairs, _, free_new = match(self._cost(tentative, boxes[leftover], classes[leftover]), 1 - self.match_iou)
        for ti, di in pairs:
            self._hit(tentative[ti], leftover[di], boxes, scores, ids)
        # 4) start tracks; on the very first frame there is no history to confirm against
        for di in leftover[free_new]:
            if scores[di] < self.new_track_threshold:
                continue
            first = self.frame_index == 0
            track = _Track(self._next_id, int(classes[di]), KalmanBoxFilter(boxes[di]), float(scores[di]), first)
            track.last_frame = self.frame_index
            self._next_id += 1
            self.tracks.append(track)
            if first:
                ids[di] = track.track_id

        kept = []
        for track in self.tracks:
            missed = self.frame_index - track.last_frame
            if not track.confirmed and missed > 0:
                continue  # a tentative track that missed its second frame was noise
            if missed > self.track_buffer:
                continue
            kept.append(track)
        self.tracks = kept
        self.frame_index += 1
        return ids

    def _cost(self, tracks: list[_Track], boxes: np.ndarray, classes: np.ndarray) -> np.ndarray:
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)))
        predicted = np.stack([t.kalman.box for t in tracks])
        cost = 1.0 - box_iou(predicted, boxes)
        track_cls = np.array([t.cls for t in tracks])
        cost[track_cls[:, None] != classes[None, :]] = 2.0  # never matched: max cost is < 1
        return cost

    def _hit(self, track: _Track, det: int, boxes: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> None:
        track.kalman.update(boxes[det])
        track.score = float(scores[det])
        track.hits += 1
        track.last_frame = self.frame_index
        track.confirmed = True
        ids[det] = track.track_id


class LaneSmoother:
    """Temporal smoothing of lane polylines by slot.

    alpha: weight of the new observation in the moving average of x per image row (1 = no smoothing).
    max_jump_px: a slot whose lane moved more than this at the bottom row is a different lane (lane
    change): the history is reset and the lane gets a new id.
    max_missed: frames a slot may be empty before its history and id are dropped.
    """

    def __init__(self, alpha: float = 0.5, max_jump_px: float = 60.0, max_missed: int = 5) -> None:
        self.alpha = alpha
        self.max_jump_px = max_jump_px
        self.max_missed = max_missed
        self._state: dict[int, dict] = {}
        self._next_id = 1

    def update(self, lanes: list[Lane]) -> list[Lane]:
        """Return smoothed copies of `lanes` (points (K, 2) xy pixels) with `track_id` set per slot."""
        out = []
        seen = set()
        for lane in lanes:
            if lane.slot < 0 or len(lane.points) < 2:
                out.append(lane)
                continue
            seen.add(lane.slot)
            points = np.asarray(lane.points, np.float32)
            state = self._state.get(lane.slot)
            if state is not None and _bottom_x_gap(state["points"], points) <= self.max_jump_px:
                points = _blend(state["points"], points, self.alpha)
                track_id = state["id"]
            else:
                track_id = self._next_id
                self._next_id += 1
            self._state[lane.slot] = {"points": points, "id": track_id, "missed": 0}
            out.append(replace(lane, points=points, track_id=track_id))
        for slot in list(self._state):
            if slot not in seen:
                self._state[slot]["missed"] += 1
                if self._state[slot]["missed"] > self.max_missed:
                    del self._state[slot]
        return out


def _bottom_x_gap(previous: np.ndarray, current: np.ndarray) -> float:
    """|x difference| at the lowest row both polylines cover (inf when they share no rows)."""
    lo = max(previous[:, 1].min(), current[:, 1].min())
    hi = min(previous[:, 1].max(), current[:, 1].max())
    if hi < lo:
        return float("inf")
    return float(abs(_x_at(previous, hi) - _x_at(current, hi)))


def _x_at(points: np.ndarray, y: float | np.ndarray) -> np.ndarray:
    order = np.argsort(points[:, 1])
    return np.interp(y, points[order, 1], points[order, 0])


def _blend(previous: np.ndarray, current: np.ndarray, alpha: float) -> np.ndarray:
    """Keep the current rows; where the previous polyline covers a row, x = alpha*new + (1-alpha)*old."""
    out = current.copy()
    ys = current[:, 1]
    inside = (ys >= previous[:, 1].min()) & (ys <= previous[:, 1].max())
    out[inside, 0] = alpha * current[inside, 0] + (1 - alpha) * _x_at(previous, ys[inside])
    return out


class FrameTracker:
    """Tracks everything in a `FrameResult`: one ByteTracker over objects and pedestrians together (ids
    unique across both heads) and a LaneSmoother. `update` fills track ids in place and returns the result.

    display_threshold: when the detections were decoded below it (down to the tracker's low threshold, so
    the second association has something to match), `update` keeps only those at or above it plus the
    weaker ones that extended a confirmed track - an object whose score dips stays reported, with its id.
    """

    def __init__(self, tracker: ByteTracker | None = None, lanes: LaneSmoother | None = None,
                 display_threshold: float | None = None) -> None:
        self.tracker = tracker or ByteTracker()
        self.lanes = lanes or LaneSmoother()
        self.display_threshold = display_threshold

    def update(self, result: FrameResult) -> FrameResult:
        n_obj = len(result.objects)
        both = Detections.cat([result.objects, result.pedestrians])
        both.track_ids = self.tracker.update(both.boxes, both.scores, both.classes)
        keep = np.ones(len(both), bool)
        if self.display_threshold is not None:
            keep = (both.scores >= self.display_threshold) | (both.track_ids >= 0)
        result.objects = both[:n_obj][keep[:n_obj]]
        result.pedestrians = both[n_obj:][keep[n_obj:]]
        result.lanes = self.lanes.update(result.lanes)
        return result
