"""`perception infer` end to end with a real (untrained) model: the shared road clip, an image folder, ONNX,
bad input, and an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_fixtures import read_video_frames, synthetic_frame_bgr, write_clip

from perception.cli.main import main
from perception.structures import rle_to_mask
from perception.video.outputs import read_predictions

REPO_ROOT = Path(__file__).resolve().parents[2]
LATENCY_KEYS = {"decode", "preprocess", "inference", "postprocess", "tracking", "drawing", "encode"}


def _check_record_geometry(record: dict, height: int, width: int) -> None:
    for det in record["objects"] + record["pedestrians"]:
        x1, y1, x2, y2 = det["box"]
        assert -1 <= x1 <= x2 <= width + 1 and -1 <= y1 <= y2 <= height + 1
    for lane in record["lanes"]:
        points = np.asarray(lane["points"]).reshape(-1, 2)
        assert len(points) >= 2
        assert (points[:, 0] >= -1).all() and (points[:, 0] <= width + 1).all()
    for key in ("direct", "alternative"):
        assert rle_to_mask(record["drivable"][key]).shape == (height, width)


def test_infer_road_clip_with_checkpoint(shared_data, tiny_checkpoint, tmp_path):
    clip = shared_data / "video" / "solidWhiteRight.mp4"
    out = tmp_path / "run"
    rc = main(["infer", str(clip), "--model", str(tiny_checkpoint), "--out", str(out), "--batch", "4",
               "--max-frames", "24", "--conf", "0.05", "--json", str(tmp_path / "cli.json")])
    assert rc == 0
    records = read_predictions(out / "predictions.jsonl")
    assert [r["frame"] for r in records] == list(range(24))
    assert records[5]["timestamp"] == pytest.approx(5 / 25)  # the clip is 25 fps
    for record in records:
        assert set(record["latency_ms"]) == LATENCY_KEYS
        _check_record_geometry(record, 540, 960)  # original pixels, not the 128x224 network input
    frames = read_video_frames(out / "annotated.mp4")
    assert len(frames) == 24 and frames[0].shape == (540, 960, 3)
    assert cv2.VideoCapture(str(out / "annotated.mp4")).get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((tmp_path / "cli.json").read_text())
    assert summary["frames"] == 24 and summary["model"]["imgsz"] == [128, 224]
    assert summary["source"]["codec"] and summary["source"]["frame_count"] == 221
    assert summary["stage_ms_total"]["inference"] > 0


def test_infer_image_folder_with_onnx_model(tiny_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from perception.deploy.export import export_onnx, load_export_model

    onnx_path = export_onnx(load_export_model(weights=tiny_checkpoint), tmp_path / "tiny.onnx", simplify=False)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"f{i:02d}.jpg"), synthetic_frame_bgr(i))
    out = tmp_path / "run"
    rc = main(["infer", str(folder), "--model", str(onnx_path), "--out", str(out), "--batch", "2", "--no-video"])
    assert rc == 0
    records = read_predictions(out / "predictions.jsonl")
    assert [r["frame"] for r in records] == list(range(6))
    for record in records:
        _check_record_geometry(record, 240, 320)
    assert not (out / "annotated.mp4").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"]["kind"] == "images" and summary["model"]["path"].endswith("tiny.onnx")


def test_infer_runs_a_dynamic_onnx_model_at_imgsz(tiny_checkpoint, tmp_path):
    from perception.deploy.export import export_onnx, load_export_model

    onnx_path = export_onnx(load_export_model(weights=tiny_checkpoint), tmp_path / "dyn.onnx", dynamic=True, simplify=False)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i:02d}.jpg"), synthetic_frame_bgr(i))
    out = tmp_path / "run"
    assert main(["infer", str(folder), "--model", str(onnx_path), "--out", str(out), "--no-video", "--imgsz", "96", "160",
                 "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["imgsz"] == [96, 160]  # exported at 128x224
    for record in read_predictions(out / "predictions.jsonl"):
        _check_record_geometry(record, 240, 320)  # results still in the frame's own pixels


def test_bad_sources_exit_with_one_line_error(tiny_checkpoint, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    assert main(["infer", str(missing), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.mp4" in err and "not found" in err
    clip = write_clip(tmp_path / "good.mp4", 10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:1500])
    assert main(["infer", str(truncated), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "truncated.mp4" in err
    assert main(["infer", str(clip), "--model", str(tmp_path / "nomodel.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "nomodel.pt" in capsys.readouterr().err


def test_sigint_leaves_playable_video_and_parseable_outputs(tiny_checkpoint, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", 400)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "perception.cli.main", "infer", str(clip), "--model", str(tiny_checkpoint),
           "--out", str(out), "--batch", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jsonl = out / "predictions.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 6:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    records = read_predictions(jsonl)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and 6 <= summary["frames"] < 400
    assert [r["frame"] for r in records] == list(range(summary["frames"]))
    frames = read_video_frames(out / "annotated.mp4")
    assert len(frames) == summary["frames"]
