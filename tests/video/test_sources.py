"""Frame sources: decoding, RGB order, corrupt/truncated files, image folders, reconnect with backoff."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from video_fixtures import CLIP_FPS, CLIP_FRAMES, red_box, synthetic_frame_bgr

from perception.video.sources import (
    ImageSequenceSource,
    LiveSource,
    ReconnectPolicy,
    VideoFileSource,
    open_source,
)


def test_video_file_frames_are_rgb_with_timestamps(synthetic_clip):
    source = open_source(str(synthetic_clip))
    assert isinstance(source, VideoFileSource)
    assert source.info["width"] == 320 and source.info["height"] == 240
    assert source.fps == pytest.approx(CLIP_FPS)
    frames = list(source)
    assert len(frames) == CLIP_FRAMES == source.frame_count
    assert [f.index for f in frames] == list(range(CLIP_FRAMES))
    assert frames[7].timestamp == pytest.approx(7 / CLIP_FPS)
    x1, y1, x2, y2 = red_box(7)
    centre = frames[7].image[(y1 + y2) // 2, (x1 + x2) // 2]
    assert centre[0] > 180 and centre[2] < 60  # red in channel 0: converted from OpenCV's BGR
    assert source.corrupt_frames == 0 and source.missing_frames == 0


def test_missing_and_undecodable_files_raise_one_line_errors(tmp_path, synthetic_clip):
    with pytest.raises(FileNotFoundError, match="nothere.mp4"):
        open_source(str(tmp_path / "nothere.mp4"))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="garbage.mp4: cannot open video"):
        open_source(str(garbage))
    # mp4v from OpenCV writes its index (moov) last: half a file has none.
    data = synthetic_clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.mp4") as err:
        open_source(str(truncated))
    assert "\n" not in str(err.value)


def _jpeg_offsets(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]


def test_corrupt_frame_mid_stream_is_counted_and_skipped(tmp_path, mjpeg_clip):
    data = bytearray(mjpeg_clip.read_bytes())
    starts = _jpeg_offsets(bytes(data))
    assert len(starts) == 30
    data[starts[15] : starts[15] + 300] = bytes(300)  # wipe the 16th frame's JPEG header
    path = tmp_path / "corrupt.avi"
    path.write_bytes(bytes(data))
    source = VideoFileSource(path)
    frames = list(source)
    assert source.corrupt_frames == 1
    assert len(frames) == 29
    # the frames after the corrupt one are the real frames 16.. (the red box keeps moving)
    x1, y1, x2, y2 = red_box(16)
    assert frames[15].image[(y1 + y2) // 2, x1 + 2, 0] > 180


def test_truncated_stream_reports_missing_frames(tmp_path, mjpeg_clip):
    data = mjpeg_clip.read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[: len(data) // 2])
    source = VideoFileSource(path)
    frames = list(source)
    assert 5 < len(frames) < 30
    assert source.missing_frames == 30 - len(frames) - source.corrupt_frames


def test_image_folder_counts_unreadable_images_and_keeps_sizes(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        size = (240, 320) if i < 3 else (120, 200)  # resolution changes mid-sequence
        cv2.imwrite(str(folder / f"{i:03d}.png"), synthetic_frame_bgr(i, size))
    (folder / "002b.jpg").write_bytes(b"not a jpeg at all")
    (folder / "notes.txt").write_text("ignored: not an image")
    source = open_source(str(folder), image_fps=5)
    assert isinstance(source, ImageSequenceSource)
    frames = list(source)
    assert len(frames) == 5 and source.corrupt_frames == 1
    assert [f.image.shape[:2] for f in frames] == [(240, 320)] * 3 + [(120, 200)] * 2
    assert frames[4].timestamp == pytest.approx(4 / 5)
    glob_source = open_source(str(folder / "00[0-1].png"))
    assert len(list(glob_source)) == 2
    with pytest.raises(FileNotFoundError, match="no images"):
        open_source(str(tmp_path / "empty*"))


def test_live_source_reconnects_with_bounded_backoff(mjpeg_clip, tmp_path):
    """A stream that drops after its first run reconnects once (same stream again), then stays down:
    the source retries with doubling delays capped at max_delay_s and ends cleanly."""
    opened = []

    def open_capture(target):
        opened.append(target)
        # The first two connections reach the stream; later ones find it gone.
        return cv2.VideoCapture(str(mjpeg_clip) if len(opened) <= 2 else str(tmp_path / "gone.avi"))

    delays = []
    policy = ReconnectPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=2.0, max_total_s=60)
    source = LiveSource("rtsp://camera.local/stream", policy=policy, open_capture=open_capture, sleep=delays.append)
    frames = list(source)
    assert len(frames) == 60  # two full runs of the 30-frame stream
    assert [f.index for f in frames] == list(range(60))
    assert source.reconnects == 1 and source.failed_attempts == 4
    assert delays == [0.5, 0.5, 1.0, 2.0, 2.0]
    assert source.info["kind"] == "stream"


def test_unopenable_camera_is_a_one_line_error():
    with pytest.raises(ValueError, match="cannot open"):
        open_source("57", open_capture=lambda target: cv2.VideoCapture(str(Path("/nonexistent/cam.avi"))))


def test_live_source_that_opens_but_never_delivers_ends_within_its_budget(mjpeg_clip, tmp_path):
    """After the first run of frames every reopen succeeds but yields nothing (a capture at its end): the
    attempts and the time budget run from the last frame, so the source ends and says why."""
    from video_fixtures import ColourBoxPredictor, read_video_frames

    from perception.video.outputs import read_predictions
    from perception.video.pipeline import PipelineConfig, VideoPipeline

    now = [0.0]
    opened = []

    def open_capture(target):
        opened.append(target)
        assert len(opened) < 200, "reconnects forever"
        capture = cv2.VideoCapture(str(mjpeg_clip))
        if len(opened) > 1:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 30)  # opens fine, but every read fails
        return capture

    def sleep(seconds):
        now[0] += seconds

    policy = ReconnectPolicy(max_attempts=1000, base_delay_s=0.5, max_delay_s=2.0, max_total_s=10.0)
    source = LiveSource("rtsp://camera.local/stream", policy=policy, open_capture=open_capture, sleep=sleep,
                        clock=lambda: now[0])
    summary = VideoPipeline(ColourBoxPredictor(), source, tmp_path / "out", PipelineConfig(track=False)).run()
    assert summary["frames"] == 30
    assert now[0] == pytest.approx(10.0)  # the budget bounds the total time without a frame, not each call
    assert source.reconnects == len(opened) - 1 and source.reconnects >= 5
    assert "no frame for 10.0 s" in summary["source"]["ended"] and "gave up" in summary["source"]["ended"]
    assert len(read_video_frames(tmp_path / "out" / "annotated.mp4")) == 30
    assert [r["frame"] for r in read_predictions(tmp_path / "out" / "predictions.jsonl")] == list(range(30))
