"""A full disk while inferring: one line naming the file and what was kept, a non-zero exit, predictions.jsonl
holding only whole lines, an unfinished video recognisable by its name, and summary.json saying which outputs
are complete. Injected into each writer (ENOSPC from the real file object / FFmpeg) and on a real small tmpfs."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import pytest
from disk_full import FullDisk, run_on_small_tmpfs
from video_fixtures import CLIP_FRAMES, ColourBoxPredictor, read_video_frames

from perception.errors import DiskFullError
from perception.video.outputs import AnnotatedVideoWriter, PredictionsWriter
from perception.video.pipeline import PipelineConfig, VideoPipeline
from perception.video.sources import VideoFileSource

REPO_ROOT = Path(__file__).resolve().parents[2]


def _whole_lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the file ends in a broken line"
    return [json.loads(line) for line in text.splitlines()]


def test_predictions_writer_keeps_whole_lines_when_the_disk_fills(tmp_path, monkeypatch):
    disk = FullDisk(monkeypatch, tmp_path, budget=250)
    path = tmp_path / "predictions.jsonl"
    writer = PredictionsWriter(path)
    record = {"frame": 0, "objects": [{"box": [1.5, 2.5, 30.25, 40.75], "score": 0.9}] * 2}
    with pytest.raises(DiskFullError) as info:
        for i in range(100):
            writer.write(record | {"frame": i})
    writer.close()
    assert disk.refused == 1 and not writer.complete
    message = str(info.value)
    assert "\n" not in message and str(path) in message and f"its {writer.lines} whole lines are kept" in message
    records = _whole_lines(path)  # the half line the disk took is cut away
    assert 1 <= len(records) == writer.lines and [r["frame"] for r in records] == list(range(writer.lines))


class _FullAfterMuxes:
    """The real PyAV container, whose mux fails as FFmpeg does on a full disk after `n` calls."""

    def __init__(self, container, n: int) -> None:
        self._container, self._left = container, n

    def mux(self, packets):
        if self._left == 0:
            import av

            raise av.error.OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "annotated.mp4")
        self._left -= 1
        return self._container.mux(packets)

    def __getattr__(self, name):
        return getattr(self._container, name)


def test_video_writer_renames_an_unfinished_video_when_the_disk_fills(tmp_path):
    pytest.importorskip("av")
    import numpy as np

    writer = AnnotatedVideoWriter(tmp_path / "annotated.mp4", fps=10)
    frame = np.full((64, 96, 3), 128, np.uint8)
    writer.write(frame)
    encoder = writer._writer
    if encoder.codec != "h264":
        pytest.skip("PyAV with libx264 not installed")
    encoder._container = _FullAfterMuxes(encoder._container, 20)  # x264 emits its first packets after a lookahead
    with pytest.raises(DiskFullError) as info:
        for _ in range(60):
            writer.write(frame)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "annotated.mp4") in message
    assert "annotated.partial.mp4, without an index" in message
    assert not (tmp_path / "annotated.mp4").exists() and (tmp_path / "annotated.partial.mp4").exists()
    assert not writer.complete
    writer.close()  # closing after the failure is harmless


def test_pipeline_reports_what_was_kept_when_predictions_fill_the_disk(synthetic_clip, tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, out, budget=20_000, only="predictions")
    pipeline = VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), out, PipelineConfig())
    with pytest.raises(DiskFullError) as info:
        pipeline.run()
    message = str(info.value)
    assert "\n" not in message and str(out / "predictions.jsonl") in message
    assert "predictions.jsonl (partial), annotated.mp4 (complete), summary.json (says which)" in message
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"]["complete"] == {"predictions.jsonl": False, "annotated.mp4": True}
    records = _whole_lines(out / "predictions.jsonl")
    assert 0 < len(records) == summary["outputs"]["prediction_lines"] == summary["frames"] < CLIP_FRAMES
    # the video is whole and playable: every frame drawn, the one whose line did not fit included
    assert len(read_video_frames(out / "annotated.mp4")) == summary["frames"] + 1


def test_a_finished_run_says_every_output_is_complete(synthetic_clip, tmp_path):
    summary = VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), tmp_path, PipelineConfig()).run()
    assert summary["outputs"]["complete"] == {"predictions.jsonl": True, "annotated.mp4": True}


@pytest.mark.slow
def test_infer_on_a_full_tmpfs_ends_in_one_line_and_valid_outputs(synthetic_clip, tiny_checkpoint, tmp_path):
    cmd = (f"cd {REPO_ROOT} && PYTHONPATH={REPO_ROOT} {sys.executable} -m perception.cli.main infer {synthetic_clip} "
           f"--model {tiny_checkpoint} --out $SMALL/run")
    result, kept = run_on_small_tmpfs(tmp_path, "20k", cmd)  # 5 pages: fills mid-run
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("perception infer")]
    assert len(lines) == 1 and "no space left on the device" in lines[0] and "/run/" in lines[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    run = kept / "run"
    records = _whole_lines(run / "predictions.jsonl")
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert not (run / ".perception.lock").exists()  # the claim was released on the way out
    video = run / "annotated.mp4"
    summary_path = run / "summary.json"
    if summary_path.exists():
        complete = json.loads(summary_path.read_text())["outputs"]["complete"]
        assert not all(complete.values())
        if complete.get("annotated.mp4"):
            assert len(read_video_frames(video)) > 0
    else:
        assert "no summary.json" in lines[0]
    assert video.exists() or (run / "annotated.partial.mp4").exists() or "annotated" not in lines[0]
