"""The video pipeline on a clip from `perception synth --video`: tracking against the clip's ground truth.

The clip is the real synthetic world in motion (ego motion along the road, traffic at its own speeds) with
per-frame labels whose ids are consistent across frames (video/synth_labels.json). The predictor is a
ground-truth oracle: it returns each frame's labelled boxes, so what is tested is everything after the
model - the pipeline's threads and ordering, tracking, JSONL and the annotated video - with detections
whose identity is known. It is not a stand-in for a model under test (the model paths have their own tests).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from video_fixtures import read_video_frames

from perception.classes import CLASS_INDEX
from perception.config import ModelConfig
from perception.runtime.base_predictor import BasePredictor
from perception.structures import Detections, FrameResult

CLIP_HW = (192, 320)
CLIP_SECONDS, CLIP_FPS = 2.0, 10.0
CLIP_FRAMES = 20
CLIP_SEED = 0  # a clip with a car passing close by and traffic ahead moving across the image
ORACLE_SCORE = 0.9  # above ByteTrack's high and new-track thresholds: every labelled object may start a track


class GroundTruthPredictor(BasePredictor):
    """Returns the labelled boxes of each frame, in the split-stage interface of BasePredictor.

    The pipeline hands the predictor images, not frame numbers; without realtime dropping it hands every
    decoded frame exactly once and in order, so the n-th image preprocessed is frame n (the tests check
    the boxes written for every frame against that frame's labels, which catches any misalignment).
    """

    def __init__(self, label_frames: list[dict]) -> None:
        super().__init__(ModelConfig(imgsz=CLIP_HW))
        self.label_frames = label_frames
        self.next_frame = 0

    def preprocess(self, images):
        indices = np.arange(self.next_frame, self.next_frame + len(images))
        self.next_frame += len(images)
        return indices, [image.shape[:2] for image in images]

    def infer(self, batch):
        return {"frame": batch}

    def postprocess(self, outputs, infos):
        return [self._frame_result(self.label_frames[int(i)]) for i in outputs["frame"]]

    def _frame_result(self, entry: dict) -> FrameResult:
        boxes, classes = _gt_boxes(entry)
        people = np.isin(classes, self.config.pedestrian_classes)
        return FrameResult(objects=_detections(boxes[~people], classes[~people]),
                           pedestrians=_detections(boxes[people], classes[people]), lanes=[], drivable=None)


def _gt_boxes(entry: dict) -> tuple[np.ndarray, np.ndarray]:
    boxes = [[label["box2d"][k] for k in ("x1", "y1", "x2", "y2")] for label in entry["labels"]]
    classes = [CLASS_INDEX[label["category"]] for label in entry["labels"]]
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def _detections(boxes: np.ndarray, classes: np.ndarray) -> Detections:
    return Detections(boxes, np.full(len(boxes), ORACLE_SCORE, np.float32), classes)


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory):
    """`perception synth --video`: the mp4 and its per-frame labels."""
    from perception.cli.main import main

    root = tmp_path_factory.mktemp("synth_clip")
    code = main(["synth", "--out", str(root), "--num", "1", "--imgsz", *map(str, CLIP_HW), "--video", str(CLIP_SECONDS),
                 "--fps", str(CLIP_FPS), "--seed", str(CLIP_SEED), "--workers", "1", "--no-progress"])
    assert code == 0
    labels = json.loads((root / "video" / "synth_labels.json").read_text())
    assert [e["frameIndex"] for e in labels] == list(range(CLIP_FRAMES))
    return root / "video" / "synth.mp4", labels


@pytest.fixture(scope="module")
def oracle_run(synth_clip, tmp_path_factory):
    from perception.video.outputs import read_predictions
    from perception.video.pipeline import PipelineConfig, VideoPipeline
    from perception.video.sources import VideoFileSource

    clip, labels = synth_clip
    out = tmp_path_factory.mktemp("synth_clip_run")
    predictor = GroundTruthPredictor(labels)
    summary = VideoPipeline(predictor, VideoFileSource(clip), out, PipelineConfig(batch_size=3)).run()
    return out, summary, read_predictions(out / "predictions.jsonl"), labels, predictor


def _track_ids_by_gt(records: list[dict], labels: list[dict]) -> dict[str, dict[int, int | None]]:
    """gt id -> {frame: track id written for its box (None: no confirmed track)}. The boxes written for each
    frame must be that frame's labelled boxes, objects then pedestrians, in label order."""
    by_gt: dict[str, dict[int, int | None]] = defaultdict(dict)
    for record, entry in zip(records, labels, strict=True):
        boxes, classes = _gt_boxes(entry)
        people = np.isin(classes, ModelConfig().pedestrian_classes)
        ids = [label["id"] for label in entry["labels"]]
        order = [i for i in range(len(ids)) if not people[i]] + [i for i in range(len(ids)) if people[i]]
        written = record["objects"] + record["pedestrians"]
        assert len(written) == len(ids), f"frame {record['frame']}"
        for det, i in zip(written, order):
            np.testing.assert_allclose(det["box"], boxes[i], atol=0.01, err_msg=f"frame {record['frame']}")
            assert det["class_id"] == classes[i]
            by_gt[ids[i]][record["frame"]] = det.get("track_id")
    return by_gt


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _trackable(labels: list[dict]) -> dict[str, dict[int, list[float]]]:
    """Objects an IoU tracker can be asked to follow: labelled in >= 5 consecutive frames, and each frame's box
    overlapping the previous one by IoU >= 0.5. (At 10 fps some objects - far pedestrians sweeping across a
    curve, lights rushing past - jump more than their own width per frame: no IoU association can hold them.)"""
    boxes: dict[str, dict[int, list[float]]] = defaultdict(dict)
    for entry in labels:
        for label in entry["labels"]:
            boxes[label["id"]][entry["frameIndex"]] = [label["box2d"][k] for k in ("x1", "y1", "x2", "y2")]
    kept = {}
    for gt_id, frames in boxes.items():
        order = sorted(frames)
        if len(order) < 5 or order[-1] - order[0] != len(order) - 1:
            continue
        if min(_iou(frames[a], frames[a + 1]) for a in order[:-1]) >= 0.5:
            kept[gt_id] = frames
    return kept


def _centre_shift(frames: dict[int, list[float]]) -> float:
    first, last = frames[min(frames)], frames[max(frames)]
    return float(np.hypot((last[0] + last[2] - first[0] - first[2]) / 2, (last[1] + last[3] - first[1] - first[3]) / 2))


def test_moving_objects_keep_their_track_id(oracle_run):
    _, _, records, labels, _ = oracle_run
    by_gt = _track_ids_by_gt(records, labels)
    trackable = _trackable(labels)
    assert len(trackable) >= 4
    moving = {gt_id: _centre_shift(frames) for gt_id, frames in trackable.items() if _centre_shift(frames) >= 30}
    assert moving, "the clip must hold an object that moves across the image"
    for gt_id in moving:
        ids = set(by_gt[gt_id].values())
        assert len(ids) == 1 and None not in ids, f"gt {gt_id} (moved {moving[gt_id]:.0f} px): track ids {by_gt[gt_id]}"
    # Every trackable object keeps one id, and no two share one: gt id -> track id is one-to-one.
    track_of = {}
    for gt_id in trackable:
        ids = set(by_gt[gt_id].values())
        assert len(ids) == 1 and None not in ids, f"gt {gt_id}: track ids {by_gt[gt_id]}"
        track_of[gt_id] = ids.pop()
    assert len(set(track_of.values())) == len(track_of)


def test_gt_to_track_mapping_is_one_to_one_over_most_frames(oracle_run):
    """Over every labelled object, trackable or not: each gt id's most frequent track id covers >= 90 % of
    all (frame, object) pairs, and no two gt ids have the same most frequent track id."""
    _, _, records, labels, _ = oracle_run
    by_gt = _track_ids_by_gt(records, labels)
    majority = {gt_id: Counter(frames.values()).most_common(1)[0] for gt_id, frames in by_gt.items()}
    consistent = sum(n for track_id, n in majority.values() if track_id is not None)
    pairs = sum(len(frames) for frames in by_gt.values())
    assert pairs > 100 and consistent / pairs >= 0.9, f"{consistent} of {pairs} (frame, object) pairs"
    tracks = [track_id for track_id, _ in majority.values() if track_id is not None]
    assert len(tracks) == len(set(tracks))
    for record in records:  # within a frame, ids are unique too
        ids = [d["track_id"] for d in record["objects"] + record["pedestrians"] if "track_id" in d]
        assert len(ids) == len(set(ids)), f"frame {record['frame']}"


def test_one_prediction_line_per_decoded_frame_and_video_reads_back(oracle_run, synth_clip):
    from perception.data.synthetic.video import count_frames

    out, summary, records, labels, predictor = oracle_run
    clip, _ = synth_clip
    decoded = count_frames(clip)
    assert decoded == CLIP_FRAMES == len(labels)
    assert summary["decoded_frames"] == summary["frames"] == decoded and summary["dropped_frames"] == 0
    assert [r["frame"] for r in records] == list(range(decoded))
    assert [r["timestamp"] for r in records] == pytest.approx([i / CLIP_FPS for i in range(decoded)])
    assert predictor.next_frame == decoded  # the oracle saw each frame once
    annotated = read_video_frames(out / "annotated.mp4")
    assert len(annotated) == decoded == summary["outputs"]["video_frames"]
    assert {frame.shape for frame in annotated} == {(*CLIP_HW, 3)}
    # Boxes are drawn over the source: along the left edge of the largest labelled box the annotated
    # frame differs from the clip several times more than a typical pixel does (re-encoding noise).
    source = read_video_frames(clip)
    frame = CLIP_FRAMES // 2
    boxes, _ = _gt_boxes(labels[frame])
    x1, y1, x2, y2 = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))].astype(int)
    diff = np.abs(annotated[frame].astype(int) - source[frame].astype(int)).sum(axis=2)
    edge = diff[y1 + 2 : y2 - 1, max(x1, 1) - 1 : x1 + 2].mean()
    assert edge > 3 * np.median(diff) and edge > 40
