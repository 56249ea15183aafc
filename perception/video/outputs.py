"""What an inference run leaves behind: the annotated video, predictions.jsonl and summary.json.

- `AnnotatedVideoWriter`: H.264 (yuv420p, faststart) in .mp4 through PyAV, or MPEG-4 Part 2 through OpenCV
  where PyAV is missing (perception.video.encode says why); the first frame fixes the size,
  later frames of another size are resized to it (a stream that changes resolution stays one file).
  The container index is written on `close()`, so the pipeline closes it on every exit path, SIGINT included.
- `AnnotatedImageWriter`: images in, images out: each annotated frame under its source image's name, at its
  own size (what `yolo predict` does), instead of a video of stills.
- `PredictionsWriter`: one JSON object per line, one write per line, so a killed run leaves parseable lines;
  a failed write (disk full) is cut back to the last whole line.
- `write_json_atomic` (from perception.jsonio): temp file + rename, so a reader never sees half a summary.

Complete or recognisably partial: each writer's `complete` is True once it closed with everything written
(summary.json lists them); a video whose writing failed has no index and is renamed `<name>.partial.mp4`.
A full disk raises `DiskFullError`, one line naming the file and what of it was kept.

numpy + OpenCV (+ PyAV for H.264).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from perception.atomic import is_disk_full, write_bytes_atomic
from perception.errors import DiskFullError, InputError
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
        self.complete = False  # closed with every frame written (and the index)
        self.partial_path: Path | None = None  # where the file went when writing it failed
        self._writer = None

    def write(self, frame_bgr: np.ndarray) -> None:
        try:
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
        except OSError as exc:  # PyAV's errors are OSErrors with FFmpeg's errno
            self._fail(exc)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError as exc:
                self._fail(exc)
            self.complete = True

    def _fail(self, exc: OSError) -> None:
        """Close what can be closed, rename the unplayable file to `<stem>.partial<suffix>`, and raise: a full disk
        as a one-line DiskFullError, anything else as it came."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the first failure is the one reported
                pass
        if self.path.exists():
            self.partial_path = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
            os.replace(self.path, self.partial_path)
        if is_disk_full(exc):
            kept = f"its first {self.frames} frames are kept in {self.partial_path.name}, without an index" \
                if self.partial_path else "nothing was kept"
            raise DiskFullError(f"{self.path}: no space left on the device; {kept}") from exc
        raise exc

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
        ok, encoded = cv2.imencode(target.suffix or ".png", frame_bgr)
        if not ok:
            raise InputError(f"{target}: OpenCV cannot write this image format")
        write_bytes_atomic(target, encoded.tobytes())
        self._names.add(name)
        self.files += 1
        return target


class PredictionsWriter:
    """predictions.jsonl: `write(record)` appends one whole line, handed to the OS at once (unbuffered), so a
    killed run leaves whole lines. A write that fails (disk full) is cut back to the last whole line."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "wb", buffering=0)
        self._size = 0  # bytes of whole lines
        self.lines = 0
        self.complete = False  # closed with every line written
        self.failed = False

    def write(self, record: dict[str, Any]) -> None:
        data = memoryview((json.dumps(record, separators=(",", ":"), default=to_builtin) + "\n").encode("utf-8"))
        try:
            done = 0
            while done < len(data):  # a raw write may take part of it (a nearly full disk) and refuse the rest
                done += self._handle.write(data[done:])
        except OSError as exc:
            self.failed = True
            os.ftruncate(self._handle.fileno(), self._size)
            self._handle.seek(self._size)
            if is_disk_full(exc):
                raise DiskFullError(f"{self.path}: no space left on the device; its {self.lines} whole lines "
                                    "are kept") from exc
            raise
        self._size += len(data)
        self.lines += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            self.complete = not self.failed

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


def outputs_summary(video: AnnotatedVideoWriter | None, jsonl: PredictionsWriter,
                    images: AnnotatedImageWriter | None) -> dict[str, Any]:
    """The "outputs" part of a video run's summary: what each writer wrote, and which files are whole."""
    wrote_video = video is not None and video.frames
    return {
        "video": str(video.path) if video is not None else None,
        "video_codec": video.codec if video is not None else None,
        "video_frames": video.frames if video is not None else 0,
        "video_size": list(video.size) if video is not None and video.size else None,
        "resized_frames": video.resized_frames if video is not None else 0,
        "images": images.files if images is not None else 0,
        "predictions": str(jsonl.path),
        "prediction_lines": jsonl.lines,
        # file name -> written whole; a failed video is renamed *.partial.mp4 (AnnotatedVideoWriter)
        "complete": {
            jsonl.path.name: jsonl.complete,
            **({(video.partial_path or video.path).name: video.complete} if wrote_video else {}),
        },
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
