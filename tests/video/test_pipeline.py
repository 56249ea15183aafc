"""The concurrent pipeline with a colour-threshold predictor: one line per frame, video frame count,
persistent track ids, batching, realtime dropping, resolution changes, stage failures."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from video_fixtures import (
    CLIP_FRAMES,
    ColourBoxPredictor,
    PredictOnlyPredictor,
    red_box,
    read_video_frames,
    synthetic_frame_bgr,
    write_clip,
)

from perception.structures import rle_to_mask
from perception.video.outputs import read_predictions
from perception.video.pipeline import PipelineConfig, PipelineError, VideoPipeline
from perception.video.sources import ImageSequenceSource, VideoFileSource

LATENCY_KEYS = {"decode", "preprocess", "inference", "postprocess", "tracking", "drawing", "encode"}


def _run(predictor, source, out, **config):
    return VideoPipeline(predictor, source, out, PipelineConfig(**config)).run()


@pytest.fixture(scope="module")
def batched_run(synthetic_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("batched")
    predictor = ColourBoxPredictor()
    summary = _run(predictor, VideoFileSource(synthetic_clip), out, batch_size=4)
    return out, summary, predictor


def test_one_line_per_frame_with_schema(batched_run):
    out, summary, predictor = batched_run
    records = read_predictions(out / "predictions.jsonl")
    assert [r["frame"] for r in records] == list(range(CLIP_FRAMES))
    assert summary["frames"] == CLIP_FRAMES and summary["decoded_frames"] == CLIP_FRAMES
    assert predictor.batch_sizes == [4] * (CLIP_FRAMES // 4)
    for r in records:
        assert set(r) >= {"frame", "timestamp", "objects", "pedestrians", "lanes", "drivable", "latency_ms"}
        assert set(r["latency_ms"]) == LATENCY_KEYS
        assert all(v >= 0 for v in r["latency_ms"].values())
    r = records[10]
    assert r["timestamp"] == pytest.approx(1.0)
    (car,) = r["objects"]
    assert car["class"] == "car" and car["class_id"] == 2
    x1, y1, x2, y2 = red_box(10)
    np.testing.assert_allclose(car["box"], [x1, y1, x2 + 1, y2 + 1], atol=2)  # original pixels, not letterboxed
    assert r["pedestrians"][0]["class"] == "pedestrian"
    assert r["lanes"][0]["slot"] == 1 and len(r["lanes"][0]["points"]) == 2
    direct = rle_to_mask(r["drivable"]["direct"])
    assert direct.shape == (240, 320) and direct[200:].all() and not direct[:170].any()


def test_output_video_has_processed_frame_count(batched_run):
    out, summary, _ = batched_run
    frames = read_video_frames(out / "annotated.mp4")
    assert len(frames) == summary["frames"] == summary["outputs"]["video_frames"]
    capture = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)  # the source's rate
    # the car box outline is drawn over the red rectangle's edge; an empty region stays as it was
    raw = synthetic_frame_bgr(20).astype(int)
    diff = np.abs(frames[20].astype(int) - raw).sum(axis=2)
    x1, y1, x2, y2 = red_box(20)
    assert diff[y1 + 5 : y2 - 5, x1].mean() > 60
    assert diff[130:170, 150:200].mean() < 25  # codec (YUV range) shift only


def test_track_id_persists_on_the_moving_object(batched_run):
    out, _, _ = batched_run
    records = read_predictions(out / "predictions.jsonl")
    car_ids = [r["objects"][0].get("track_id") for r in records]
    ped_ids = [r["pedestrians"][0].get("track_id") for r in records]
    assert len(set(car_ids)) == 1 and car_ids[0] is not None
    assert len(set(ped_ids)) == 1 and ped_ids[0] != car_ids[0]
    lane_ids = {r["lanes"][0].get("track_id") for r in records}
    assert len(lane_ids) == 1 and None not in lane_ids


def test_summary_is_written_and_complete(batched_run):
    out, summary, _ = batched_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["frames"] == CLIP_FRAMES and on_disk["dropped_frames"] == 0 and on_disk["corrupt_frames"] == 0
    assert on_disk["fps"] == pytest.approx(10.0) and on_disk["source"]["kind"] == "file"
    assert set(on_disk["stage_ms_total"]) == LATENCY_KEYS and not on_disk["interrupted"]


def test_batch_size_does_not_change_predictions(synthetic_clip, batched_run, tmp_path):
    out_b4, _, _ = batched_run
    _run(PredictOnlyPredictor(), VideoFileSource(synthetic_clip), tmp_path, batch_size=1, write_video=False)
    strip = lambda r: {k: v for k, v in r.items() if k != "latency_ms"}  # noqa: E731
    one = [strip(r) for r in read_predictions(tmp_path / "predictions.jsonl")]
    four = [strip(r) for r in read_predictions(out_b4 / "predictions.jsonl")]
    assert one == four
    assert not (tmp_path / "annotated.mp4").exists()


def test_max_frames_stops_decoding(synthetic_clip, tmp_path):
    summary = _run(ColourBoxPredictor(), VideoFileSource(synthetic_clip), tmp_path, batch_size=3, max_frames=7)
    assert summary["frames"] == summary["decoded_frames"] == 7
    assert len(read_video_frames(tmp_path / "annotated.mp4")) == 7


def test_realtime_drops_frames_it_cannot_keep_up_with(tmp_path):
    clip = write_clip(tmp_path / "fast.mp4", 30)  # 10 fps -> 3 s of source time
    predictor = ColourBoxPredictor(infer_delay_s=0.25)  # 4 fps of model
    summary = _run(predictor, VideoFileSource(clip), tmp_path / "out", batch_size=1, realtime=True, queue_batches=2)
    records = read_predictions(tmp_path / "out" / "predictions.jsonl")
    dropped = [r for r in records if r.get("dropped")]
    assert summary["dropped_frames"] == len(dropped) > 5
    assert summary["frames"] + summary["dropped_frames"] == summary["decoded_frames"] == 30
    assert [r["frame"] for r in records] == list(range(30))  # every decoded frame has its line, in order
    assert len(read_video_frames(tmp_path / "out" / "annotated.mp4")) == summary["frames"]


def test_resolution_change_mid_stream(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):
        size = (240, 320) if i < 4 else (300, 480)
        cv2.imwrite(str(folder / f"{i:02d}.png"), synthetic_frame_bgr(i, size))
    summary = _run(ColourBoxPredictor(), ImageSequenceSource(folder), tmp_path / "out", batch_size=3)
    records = read_predictions(tmp_path / "out" / "predictions.jsonl")
    assert len(records) == 8 and summary["outputs"]["resized_frames"] == 4
    assert rle_to_mask(records[6]["drivable"]["direct"]).shape == (300, 480)  # predictions in each frame's pixels
    frames = read_video_frames(tmp_path / "out" / "annotated.mp4")
    assert len(frames) == 8 and {f.shape for f in frames} == {(240, 320, 3)}


def test_failing_stage_raises_and_still_closes_outputs(synthetic_clip, tmp_path):
    predictor = ColourBoxPredictor(fail_at_call=3)
    with pytest.raises(PipelineError, match="inference stage failed: RuntimeError: synthetic model failure"):
        _run(predictor, VideoFileSource(synthetic_clip), tmp_path, batch_size=2)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"] and summary["frames"] == len(read_predictions(tmp_path / "predictions.jsonl")) <= 6
    assert len(read_video_frames(tmp_path / "annotated.mp4")) == summary["frames"]


def test_stop_finishes_decoded_frames_and_finalises(synthetic_clip, tmp_path):
    holder = {}

    def on_frame(done, expected):
        assert expected == CLIP_FRAMES
        if done == 5:
            holder["pipeline"].stop()

    # In flight at most: 2 batches per queue x 4 queues + one batch per stage + the 5 written, about 29 of
    # the 40 frames, so stopping at frame 5 must end the run early however fast decoding is.
    config = PipelineConfig(batch_size=2, queue_batches=2)
    pipeline = VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), tmp_path, config, on_frame=on_frame)
    holder["pipeline"] = pipeline
    summary = pipeline.run()
    assert summary["interrupted"] and 5 <= summary["frames"] < CLIP_FRAMES
    assert summary["frames"] == summary["decoded_frames"]  # nothing decoded was lost
    assert len(read_video_frames(tmp_path / "annotated.mp4")) == summary["frames"]


class DimmingPredictor(ColourBoxPredictor):
    """Decodes like a real predictor (drops boxes below `conf_threshold`); the red car's score dips to
    0.2 - under the 0.25 display threshold - in frames 10..14, as an occluded object's would."""

    conf_adjustable = True

    def __init__(self):
        super().__init__()
        self.conf_threshold = 0.25
        self.calls = 0

    def postprocess(self, raw, infos):
        results = super().postprocess(raw, infos)
        for result in results:
            dip = 10 <= self.calls < 15
            self.calls += 1
            for attr in ("objects", "pedestrians"):
                det = getattr(result, attr)
                scores = det.scores * (0.2 if dip and attr == "objects" else 1.0)
                keep = scores >= self.conf_threshold
                setattr(result, attr, type(det)(det.boxes[keep], scores[keep], det.classes[keep]))
        return results


def test_object_whose_score_dips_keeps_its_id_through_the_dip(synthetic_clip, tmp_path):
    predictor = DimmingPredictor()
    _run(predictor, VideoFileSource(synthetic_clip), tmp_path / "out")
    records = read_predictions(tmp_path / "out" / "predictions.jsonl")
    ids = [[o["track_id"] for o in r["objects"] if "track_id" in o] for r in records[:20]]
    car = ids[5][0]
    # reported in every frame, the dip included (ByteTrack's low-score stage), always with the same id
    assert all(frame_ids == [car] for frame_ids in ids[1:20]), ids
    assert all(o["score"] < 0.25 for r in records[10:15] for o in r["objects"])
    assert predictor.conf_threshold == 0.25  # the display threshold is restored after the run
