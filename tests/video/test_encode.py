"""The annotated video plays in a browser: H.264 yuv420p, index first (faststart), every frame, seekable."""

from __future__ import annotations

import av
import numpy as np
import pytest

from perception.video import encode
from perception.video.outputs import AnnotatedVideoWriter
from video_fixtures import synthetic_frame_bgr

pytestmark = pytest.mark.skipif(not encode.h264_available(), reason="PyAV with libx264 not installed")


def test_h264_output_is_browser_playable_and_seekable(tmp_path):
    path = tmp_path / "a.mp4"
    with AnnotatedVideoWriter(path, fps=10) as writer:
        for i in range(30):
            writer.write(synthetic_frame_bgr(i)[:239, :319])  # odd size: padded to even for 4:2:0
    assert writer.codec == "h264"
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: a browser can start before the end arrives
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (320, 240) and stream.average_rate == 10
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        assert len(frames) == 30
        # The red box of frame 20 is where it was drawn: frames are in order and not re-timed.
        assert frames[20][75, 10 + 4 * 20 + 20, 2] > 180
        # Seeking to 2 s lands on a keyframe there (one every 2 s), not back at the start.
        container.seek(int(2.0 / stream.time_base), stream=stream)
        after_seek = next(container.decode(stream))
        assert after_seek.key_frame and float(after_seek.pts * stream.time_base) == pytest.approx(2.0)
        assert np.array_equal(after_seek.to_ndarray(format="bgr24"), frames[20])


def test_missing_pyav_falls_back_to_opencv_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(encode, "h264_available", lambda: False)
    monkeypatch.setattr(encode, "_fallback_noted", False)
    with AnnotatedVideoWriter(tmp_path / "b.mp4", fps=10) as writer:
        for i in range(5):
            writer.write(synthetic_frame_bgr(i))
    assert writer.codec == "mp4v"
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "pip install av" in note[0]
    with av.open(str(tmp_path / "b.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
        assert sum(1 for _ in container.decode(video=0)) == 5
