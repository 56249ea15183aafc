"""Video encoders behind `AnnotatedVideoWriter`: H.264 through PyAV, MPEG-4 Part 2 through OpenCV as a fallback.

Why PyAV: its manylinux wheel bundles FFmpeg with libx264, so H.264 is encoded in-process (checked with
av 18.1: `av.codec.Codec("libx264", "w")` opens). OpenCV's wheels ship FFmpeg without an H.264 encoder
(`avc1` fails to open), and imageio-ffmpeg would pipe raw frames to a separate ffmpeg binary (a 68 MB
wheel, one more process per video). Browsers play H.264 only in yuv420p, and only start before the whole
file has arrived when the index (`moov`) precedes the data: `movflags=faststart` moves it there on close.

numpy + OpenCV (+ PyAV when installed).
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from perception.errors import InputError

H264 = "h264"
MPEG4_PART2 = "mp4v"
# superfast: the encode stage runs beside the model on the same cores. 90 frames of solidWhiteRight
# (960x540) on the shared 2-core machine (load ~10): mp4v 15 ms/frame, 975 KB; x264 superfast 11.5 ms, 769 KB; veryfast 37 ms,
# 457 KB; ultrafast 6.7 ms, 1018 KB. crf 23 is x264's default quality.
X264_OPTIONS = {"preset": "superfast", "crf": "23"}
_fallback_noted = False


class H264Encoder:
    """BGR uint8 frames of one size -> H.264 yuv420p .mp4 (faststart). Odd sizes are padded to even by
    repeating the last row/column (4:2:0 stores chroma per 2x2 block, so x264 needs even sizes)."""

    codec = H264

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import av

        w, h = size
        self._pad = (h % 2, w % 2)  # rows, columns to add
        self._container = av.open(str(path), mode="w", options={"movflags": "faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        self._stream.width, self._stream.height = w + self._pad[1], h + self._pad[0]
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = 1 / rate
        # A keyframe every 2 s: a player seeks to the keyframe before the target and decodes forward from it.
        self._stream.codec_context.gop_size = max(1, round(2 * fps))
        self._frame_type = av.VideoFrame
        self._pts = 0

    def write(self, frame_bgr: np.ndarray) -> None:
        if any(self._pad):
            frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        frame = self._frame_type.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        frame.pts = self._pts
        self._pts += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))  # flush the frames x264 holds for lookahead
        finally:
            self._container.close()


class OpenCVEncoder:
    """MPEG-4 Part 2 (`mp4v`) through OpenCV: plays in VLC/ffplay, not in browsers. Index written on close."""

    codec = MPEG4_PART2

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*MPEG4_PART2), fps, size)
        if not self._writer.isOpened():
            raise InputError(f"{path}: cannot open an {MPEG4_PART2} video writer (OpenCV built without FFmpeg?)")

    def write(self, frame_bgr: np.ndarray) -> None:
        self._writer.write(np.ascontiguousarray(frame_bgr))

    def close(self) -> None:
        self._writer.release()


def h264_available() -> bool:
    try:
        import av

        av.codec.Codec("libx264", "w")
    except Exception:  # noqa: BLE001 - no PyAV, or a PyAV built without libx264: both mean "fall back"
        return False
    return True


def open_encoder(path: str | os.PathLike, fps: float, size: tuple[int, int], codec: str = H264):
    """An encoder for (W, H) frames: H.264 when PyAV with libx264 is installed, else OpenCV's mp4v with a
    one-line note on stderr (once per process). `codec="mp4v"` asks for OpenCV directly."""
    global _fallback_noted
    path = Path(path)
    if codec == H264:
        if h264_available():
            return H264Encoder(path, fps, size)
        if not _fallback_noted:
            _fallback_noted = True
            print(f"perception: PyAV with libx264 not found; writing {path.name} as MPEG-4 Part 2, which browsers "
                  "do not play (pip install av for H.264)", file=sys.stderr)
    elif codec != MPEG4_PART2:
        raise InputError(f"video codec {codec!r}: use {H264!r} or {MPEG4_PART2!r}")
    return OpenCVEncoder(path, fps, size)
