"""What an inference run leaves behind: the annotated video, predictions.jsonl and summary.json.

- `AnnotatedVideoWriter`: H.264 (yuv420p, faststart) in .mp4 through PyAV, or MPEG-4 Part 2 through OpenCV
  where PyAV is missing (perception.video.encode says why); the first frame fixes the size,
  later frames of another size are resized to it (a stream that changes resolution stays one file).
  The container index is written on `close()`, so the pipeline closes it on every exit path, SIGINT included.
- `AnnotatedImageWriter`: images in, images out: each annotated frame under its source image's name, at its
  own size (what `yolo predict` does), instead of a video of stills.
- `PredictionsWriter`: one JSON object per line, flushed per line, so a killed run leaves parseable lines.
- `write_json_atomic` (from perception.jsonio): temp file + rename, so a reader never sees half a summary.

numpy + OpenCV (+ PyAV for H.264).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from perception.errors import InputError
from perception.jsonio import to_builtin, write_json_atomic
from perception.video.encode import H264, open_encoder


class AnnotatedVideoWriter:
    """Writes BGR uint8 frames to `path` at `fps`. Opens lazily on the first frame (its size is the file's)."""

    def __init__(self, path: str | os.PathLike, fps: float, codec: str = H264) -> None:
        self.path = Path(path)
        self.requested_codec = codec
        self.codec: str | None = None  # what was actually written (h264, or mp4v on the fallback)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.size: tuple[int, int] | None = None  # (W, H)
        self.frames = 0
        self.resized_frames = 0
        self._writer = None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame_bgr.shape[:2]
            self.size = (w, h)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = open_encoder(self.path, self.fps, self.size, self.requested_codec)
            self.codec = self._writer.codec
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != self.size:
            frame_bgr = cv2.resize(frame_bgr, self.size, interpolation=cv2.INTER_AREA)
            self.resized_frames += 1
        self._writer.write(frame_bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> "AnnotatedVideoWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AnnotatedImageWriter:
    """Writes each annotated BGR frame to `out_dir` under its source image's file name (same format, same
    size). A second image of the same name (a glob over several folders) gets `-2`, `-3`, ... before the
    extension rather than overwriting the first."""

    def __init__(self, out_dir: str | os.PathLike, source_paths: Iterable[str | os.PathLike] = ()) -> None:
        self.out_dir = Path(out_dir)
        # Checked before any frame is processed: writing under the same names there would overwrite the inputs.
        if any(Path(p).resolve().parent == self.out_dir.resolve() for p in source_paths):
            raise InputError(f"--out {self.out_dir}: is the folder of the input images; choose another folder")
        self.files = 0
        self._names: set[str] = set()

    def write(self, frame_bgr: np.ndarray, source_path: str | os.PathLike) -> Path:
        source = Path(source_path)
        name, n = source.name, 1
        while name in self._names:
            n += 1
            name = f"{source.stem}-{n}{source.suffix}"
        target = self.out_dir / name
        if target.resolve() == source.resolve():
            raise InputError(f"--out {self.out_dir}: is the folder of the input images; choose another folder")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(target), frame_bgr):
            raise InputError(f"{target}: OpenCV cannot write this image format")
        self._names.add(name)
        self.files += 1
        return target


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
    index: int, timestamp: float, prediction_json: dict[str, Any], latency_ms: dict[str, float], image: str = ""
) -> dict[str, Any]:
    """One JSONL line: {"frame", "timestamp" (s), ["image"], **FrameResult.to_json(), "latency_ms"}
    (docs/predictions.md); `image` names the annotated image file when images are written."""
    return {
        "frame": int(index),
        "timestamp": round(float(timestamp), 4),
        **({"image": image} if image else {}),
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
