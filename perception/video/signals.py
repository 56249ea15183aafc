"""SIGINT/SIGTERM during a video run: the first stops the pipeline gracefully (the video is finalised and stays
playable, every decoded frame gets its line), a second aborts it (the frames still queued are skipped)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from perception.video.pipeline import VideoPipeline


@contextmanager
def stop_on_signals(pipeline: VideoPipeline) -> Iterator[None]:
    """While active, SIGINT/SIGTERM stop `pipeline` gracefully (a second signal aborts it) so the video is
    finalised and stays playable. Only installable from the main thread; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            pipeline.stop()
        else:
            pipeline.abort()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
