"""What an inference run leaves behind: the annotated video, predictions.jsonl and summary.json.

- `AnnotatedVideoWriter`: MPEG-4 Part 2 (`mp4v`) in .mp4 through OpenCV; the first frame fixes the size,
  later frames of another size are resized to it (a stream that changes resolution stays one file).
  The container index is written on `close()`, so the pipeline closes it on every exit path, SIGINT included.
- `PredictionsWriter`: one JSON object per line, flushed per line, so a killed run leaves parseable lines.
- `write_json_atomic` (from perception.jsonio): temp file + rename, so a reader never sees half a summary.

numpy + OpenCV only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from perception.errors import InputError
from perception.jsonio import to_builtin, write_json_atomic

VIDEO_FOURCC = "mp4v"


class AnnotatedVideoWriter:
    """Writes BGR uint8 frames to `path` at `fps`. Opens lazily on the first frame (its size is the file's)."""

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.size: tuple[int, int] | None = None  # (W, H)
        self.frames = 0
        self.resized_frames = 0
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame_bgr.shape[:2]
            self.size = (w, h)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), self.fps, self.size)
            if not self._writer.isOpened():
                raise InputError(f"{self.path}: cannot open a {VIDEO_FOURCC} video writer (OpenCV built without FFmpeg?)")
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != self.size:
            frame_bgr = cv2.resize(frame_bgr, self.size, interpolation=cv2.INTER_AREA)
            self.resized_frames += 1
        self._writer.write(np.ascontiguousarray(frame_bgr))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "AnnotatedVideoWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class PredictionsWriter:
    """predictions.jsonl: `write(record)` appends one line and flushes it to the OS."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "w", encoding="utf-8")
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":"), default=to_builtin) + "\n")
        self._handle.flush()
        self.lines += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "PredictionsWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def frame_record(
    index: int, timestamp: float, prediction_json: dict[str, Any], latency_ms: dict[str, float]
) -> dict[str, Any]:
    """One JSONL line: {"frame", "timestamp" (s), **FrameResult.to_json(), "latency_ms"} (docs/predictions.md)."""
    return {
        "frame": int(index),
        "timestamp": round(float(timestamp), 4),
        **prediction_json,
        "latency_ms": {k: round(float(v), 3) for k, v in latency_ms.items()},
    }


def read_predictions(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Parse predictions.jsonl; a final line cut short by a hard kill is ignored (only the last may be)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise InputError(f"{path}: line {i + 1} is not valid JSON")
    return records
