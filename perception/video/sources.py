"""Frame sources for the video tool: a video file, a folder or glob of images, a camera, a network stream.

Every source yields `Frame`s (RGB uint8 images, OpenCV's BGR converted here at the edge) and counts what
it could not decode (`corrupt_frames`) instead of dropping it silently. Live sources (camera, RTSP/HTTP)
reconnect after a drop with bounded exponential backoff and then end cleanly.

Imports numpy and OpenCV only: the torch-free runtime uses this in vehicles.
"""

from __future__ import annotations

import collections
import glob
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from perception.errors import InputError, MissingFileError
from perception.imageio import IMAGE_SUFFIXES, decode_rgb, is_image, list_images

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts")
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
# A failed read followed by a good one is a corrupt frame; this many failures in a row is the end of the
# file (OpenCV reports both the same way, and retrying past the end costs microseconds).
MAX_CONSECUTIVE_READ_FAILURES = 8
DEFAULT_IMAGE_FPS = 30.0


@dataclass
class Frame:
    """One decoded frame: `image` RGB uint8 (H, W, 3); `timestamp` seconds from the source's start."""

    index: int
    timestamp: float
    image: np.ndarray
    decode_ms: float = 0.0
    path: str = ""


@dataclass
class ReconnectPolicy:
    """Bounded exponential backoff: delays base, 2*base, ... capped at max_delay_s; give up after
    `max_attempts` reconnections or `max_total_s` seconds without a frame. Both count from the last frame,
    not from the last successful open: a stream that opens but never delivers must still end."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_total_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.base_delay_s * (2**attempt), self.max_delay_s)


class FrameSource:
    """Iterable of `Frame`s with counters. Subclasses implement `_frames()` and fill `info`."""

    is_live = False

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.corrupt_frames = 0
        self.missing_frames = 0
        self.reconnects = 0
        self.decoded_frames = 0
        self._stop = threading.Event()

    @property
    def fps(self) -> float:
        return float(self.info.get("fps") or DEFAULT_IMAGE_FPS)

    @property
    def frame_count(self) -> int | None:
        """Frames the source declares (None for live sources or when unknown)."""
        count = self.info.get("frame_count")
        return int(count) if count else None

    def stop(self) -> None:
        """Ask a running iteration to end after the current frame (thread-safe)."""
        self._stop.set()

    def __iter__(self) -> Iterator[Frame]:
        try:
            for frame in self._frames():
                self.decoded_frames += 1
                yield frame
                if self._stop.is_set():
                    break
        finally:
            self.close()

    def _frames(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {
            **self.info,
            "decoded_frames": self.decoded_frames,
            "corrupt_frames": self.corrupt_frames,
            "missing_frames": self.missing_frames,
            "reconnects": self.reconnects,
        }


def _timed_read(capture: cv2.VideoCapture) -> tuple[np.ndarray | None, float]:
    start = time.perf_counter()
    ok, bgr = capture.read()
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None and bgr.size else None
    return image, (time.perf_counter() - start) * 1000.0


class VideoFileSource(FrameSource):
    """A video file decoded with OpenCV/FFmpeg. Raises a one-line error naming the file when it is
    missing, cannot be opened (unsupported codec, truncated container) or holds no decodable frame."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(f"{self.path}: video file not found")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise InputError(f"{self.path}: cannot open video (unsupported codec or damaged/truncated container)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        first, first_ms = _timed_read(self._capture)
        if first is None:
            self._capture.release()
            raise InputError(f"{self.path}: no decodable frame (unsupported codec or damaged file)")
        self._first = (first, first_ms)
        self.info = {
            "kind": "file",
            "source": str(self.path),
            "fps": float(fps) if fps and fps > 0 else DEFAULT_IMAGE_FPS,
            "width": int(first.shape[1]),
            "height": int(first.shape[0]),
            "frame_count": count if count > 0 else None,
            "codec": _fourcc(self._capture),
        }

    def _frames(self) -> Iterator[Frame]:
        fps = self.fps
        image, ms = self._first
        index, failures = 0, 0
        while image is not None or failures < MAX_CONSECUTIVE_READ_FAILURES:
            if image is None:
                failures += 1
            else:
                # Failed reads between two good ones were frames FFmpeg could not decode.
                self.corrupt_frames += failures
                failures = 0
                yield Frame(index=index, timestamp=index / fps, image=image, decode_ms=ms, path=str(self.path))
                index += 1
            if self._stop.is_set():
                return
            image, ms = _timed_read(self._capture)
        declared = self.frame_count
        if declared:
            # A truncated file declares more frames than it holds; report them rather than lose them silently.
            self.missing_frames = max(0, declared - index - self.corrupt_frames)

    def close(self) -> None:
        self._capture.release()


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and text.strip() else ""


class ImageSequenceSource(FrameSource):
    """A folder or glob of images, in sorted path order, at a nominal `fps`. Unreadable images are
    counted in `corrupt_frames` and skipped; images may differ in size."""

    def __init__(self, pattern: str | os.PathLike, fps: float = DEFAULT_IMAGE_FPS) -> None:
        super().__init__()
        pattern = str(pattern)
        if os.path.isdir(pattern):
            paths = [str(p) for p in list_images(pattern)]
        else:
            paths = sorted(p for p in glob.glob(pattern) if is_image(p))
        if not paths:
            raise MissingFileError(f"{pattern}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
        self.paths = paths
        self.info = {"kind": "images", "source": pattern, "fps": float(fps), "frame_count": len(paths)}

    def _frames(self) -> Iterator[Frame]:
        fps = self.fps
        index = 0
        for path in self.paths:
            start = time.perf_counter()
            image = decode_rgb(path)
            if image is None:
                self.corrupt_frames += 1
                continue
            ms = (time.perf_counter() - start) * 1000.0
            if index == 0:
                self.info.update(width=int(image.shape[1]), height=int(image.shape[0]))
            yield Frame(index=index, timestamp=index / fps, image=image, decode_ms=ms, path=path)
            index += 1
            if self._stop.is_set():
                return


class LiveSource(FrameSource):
    """A camera index or a network stream URL. Timestamps are wall-clock seconds since the first frame.

    A failed read is a dropped connection: the capture is reopened following `policy`; after
    `policy.max_attempts` reopenings (or `policy.max_total_s`) without a frame the source ends cleanly and
    says why in `ended`. `sleep` and `clock` are injectable so the schedule can be checked without waiting.
    """

    is_live = True

    def __init__(
        self,
        target: int | str,
        policy: ReconnectPolicy | None = None,
        open_capture: Callable[[int | str], cv2.VideoCapture] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.target = target
        self.policy = policy or ReconnectPolicy()
        self._open = open_capture or _open_live_capture
        self._sleep = sleep
        self._clock = clock
        self.failed_attempts = 0
        self.ended = ""  # why a live source stopped on its own ("" while running or when stopped by the user)
        self._attempts_since_frame = 0
        self._last_frame_at = clock()
        self.backoff_delays: collections.deque[float] = collections.deque(maxlen=64)  # recent ones: runs for days
        self._capture = self._open(target)
        if not self._capture.isOpened():
            kind = "camera" if isinstance(target, int) else "stream"
            raise InputError(f"{target}: cannot open {kind}")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.info = {
            "kind": "camera" if isinstance(target, int) else "stream",
            "source": str(target),
            # Cameras often report 0 fps; the writer still needs a rate.
            "fps": float(fps) if fps and 0 < fps < 1000 else DEFAULT_IMAGE_FPS,
            "width": int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "frame_count": None,
        }

    def _frames(self) -> Iterator[Frame]:
        index, start = 0, None
        while not self._stop.is_set():
            image, ms = _timed_read(self._capture)
            if image is None:
                if not self._reconnect():
                    return
                continue
            now = self._clock()
            start = now if start is None else start
            self._last_frame_at, self._attempts_since_frame = now, 0
            yield Frame(index=index, timestamp=now - start, image=image, decode_ms=ms, path=str(self.target))
            index += 1

    def _reconnect(self) -> bool:
        """Reopen the capture with backoff; False when the policy gives up.

        The attempt count and the time budget run from the last frame (only a frame resets them), so an
        open that delivers nothing counts against the budget instead of restarting it.
        """
        self._capture.release()
        policy = self.policy
        while not self._stop.is_set():
            waited = self._clock() - self._last_frame_at
            if self._attempts_since_frame >= policy.max_attempts or waited >= policy.max_total_s:
                self.ended = (f"{self.target}: no frame for {waited:.1f} s after {self._attempts_since_frame} "
                              f"reconnect attempt(s) (limits {policy.max_total_s:g} s, {policy.max_attempts}); gave up")
                return False
            delay = min(policy.delay(self._attempts_since_frame), max(0.0, policy.max_total_s - waited))
            self._attempts_since_frame += 1
            self.backoff_delays.append(delay)
            self._sleep(delay)
            self._capture = self._open(self.target)
            if self._capture.isOpened():
                self.reconnects += 1
                return True
            self.failed_attempts += 1
        return False

    def close(self) -> None:
        self._capture.release()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "ended": self.ended}


def _open_live_capture(target: int | str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(target)
    # Keep the driver's queue short so a slow consumer sees recent frames, not a backlog.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 2)
    return capture


def open_source(source: str | int | os.PathLike, image_fps: float = DEFAULT_IMAGE_FPS, **live_kwargs: Any) -> FrameSource:
    """Pick the reader for `source`: an int or digit string is a camera index, a URL a stream, a folder or
    a pattern with * ? [ a sequence of images, anything else a video file."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return LiveSource(int(source), **live_kwargs)
    text = str(source)
    if text.lower().startswith(STREAM_PREFIXES):
        return LiveSource(text, **live_kwargs)
    if os.path.isdir(text) or any(ch in text for ch in "*?["):
        return ImageSequenceSource(text, fps=image_fps)
    if is_image(text):
        if not os.path.isfile(text):
            raise MissingFileError(f"{text}: image not found")
        return ImageSequenceSource(text, fps=image_fps)
    if not os.path.exists(text):
        raise MissingFileError(f"{text}: video file not found")
    # Unknown extensions are still tried: FFmpeg reads many containers, and the error names the file if not.
    return VideoFileSource(text)
