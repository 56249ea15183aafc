"""The concurrent video pipeline: decode -> preprocess -> inference -> postprocess -> track/draw/encode.

Each stage runs in its own thread, joined by bounded queues, so decoding and encoding overlap with the
model (OpenCV, numpy, ONNX Runtime and torch release the GIL in their heavy calls). Frames are batched
before preprocessing. With `realtime=True` the decoder never waits for the model: when the queue is full the
oldest waiting frame is dropped (counted, and logged as a `"dropped": true` line), and a file is read at its
own frame rate as a live source would deliver it.

The predictor is any object with `predict(images) -> list[FrameResult]`; when it also has the split stages
`preprocess(images) -> (batch, infos)`, `infer(batch) -> raw`, `postprocess(raw, infos) -> list[FrameResult]`
(perception.models.torch_predictor and perception.runtime.onnx_predictor do) they run in separate threads.

numpy + OpenCV only (plus perception.structures through tracking/drawing).
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from perception.config import ConfigBase, check_at_least
from perception.errors import DiskFullError, InputError
from perception.structures import FrameResult
from perception.timing import Timings
from perception.video.drawing import draw_frame
from perception.video.outputs import (
    AnnotatedImageWriter,
    AnnotatedVideoWriter,
    PredictionsWriter,
    frame_record,
    outputs_summary,
    write_json_atomic,
)
from perception.video.signals import stop_on_signals
from perception.video.sources import Frame, FrameSource
from perception.video.tracking import ByteTracker, FrameTracker

_END = object()  # end-of-stream marker passed down the queues
_POLL_S = 0.05  # how often blocked stages look at the abort flag
STAGES = ("decode", "preprocess", "inference", "postprocess", "tracking", "drawing", "encode")


@dataclass
class PipelineConfig(ConfigBase):
    """batch_size: frames per model call. queue_batches: capacity of each inter-stage queue, in batches.
    realtime: drop frames instead of waiting (live sources). max_frames: stop after this many decoded frames.
    write_video: write annotated.mp4. write_images: write each annotated frame under its source image's name
    (image sources). track: assign track ids and smooth lanes."""

    batch_size: int = 1
    queue_batches: int = 4
    realtime: bool = False
    max_frames: int | None = None
    write_video: bool = True
    write_images: bool = False
    track: bool = True
    fps_window: int = 30

    SECTION: ClassVar[str] = "pipeline"

    def validate(self) -> None:
        check_at_least(self, 1, "batch_size", "queue_batches", "fps_window", "max_frames")


class PipelineError(RuntimeError):
    """A stage failed; the message names the stage and the original error."""


class VideoPipeline:
    """Runs `predictor` over `source` and writes DIR/annotated.mp4, DIR/predictions.jsonl, DIR/summary.json.

    `on_frame(frames_written, frames_expected_or_None)` is called from the output thread after each frame
    (the CLI drives its progress bar with it). `stop()` ends the run gracefully: decoding stops, frames
    already decoded are finished, outputs are closed. `abort()` skips the frames still queued.
    """

    def __init__(
        self,
        predictor: Any,
        source: FrameSource,
        out_dir: str | Path,
        config: PipelineConfig | None = None,
        on_frame: Callable[[int, int | None], None] | None = None,
        model_info: dict[str, Any] | None = None,
    ) -> None:
        self.predictor = predictor
        self.source = source
        self.out_dir = Path(out_dir)
        self.config = config or PipelineConfig()
        self.on_frame = on_frame
        self.model_info = model_info or {}
        self.split_stages = all(callable(getattr(predictor, n, None)) for n in ("preprocess", "infer", "postprocess"))
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._errors: list[tuple[str, BaseException]] = []
        self._dropped: collections.deque = collections.deque()
        self._stage_ms = {s: Timings() for s in STAGES}
        self.dropped_frames = 0
        self.frames_written = 0
        self.interrupted = False
        # ByteTrack's second association needs the weak detections: decode down to the tracker's low
        # threshold while tracking, and let FrameTracker show only what passes the model's threshold or
        # extends a confirmed track. An NMS graph's threshold is a constant of the graph and stays.
        self._display_threshold: float | None = None
        if self.config.track and getattr(predictor, "conf_adjustable", False):
            self._display_threshold = float(predictor.conf_threshold)

    # --- control -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self.interrupted = True
        self._stop.set()
        self.source.stop()

    def abort(self) -> None:
        self.stop()
        self._abort.set()

    # --- run -----------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Process the whole source (or until stopped). Returns the summary also written to summary.json.
        Raises PipelineError if a stage failed (outputs are still closed and the summary written)."""
        cap = max(2, self.config.queue_batches)
        b = self.config.batch_size
        q_frames: queue.Queue = queue.Queue(maxsize=cap * b)
        q_pre: queue.Queue = queue.Queue(maxsize=cap)
        q_raw: queue.Queue = queue.Queue(maxsize=cap)
        q_results: queue.Queue = queue.Queue(maxsize=cap)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # an earlier run's summary (written last) must not vouch for this run's files
        (self.out_dir / "summary.json").unlink(missing_ok=True)
        images = AnnotatedImageWriter(self.out_dir, getattr(self.source, "paths", ())) if self.config.write_images else None
        video = AnnotatedVideoWriter(self.out_dir / "annotated.mp4", self.source.fps) if self.config.write_video else None
        jsonl = PredictionsWriter(self.out_dir / "predictions.jsonl")
        sinks = (video, images)
        threads = [
            threading.Thread(target=self._guard, args=("decode", self._decode, q_frames), daemon=True),
            threading.Thread(target=self._guard, args=("preprocess", self._preprocess, q_frames, q_pre), daemon=True),
            threading.Thread(target=self._guard, args=("inference", self._infer, q_pre, q_raw), daemon=True),
            threading.Thread(target=self._guard, args=("postprocess", self._postprocess, q_raw, q_results), daemon=True),
            threading.Thread(target=self._guard, args=("output", self._output, q_results, sinks, jsonl), daemon=True),
        ]
        start = time.perf_counter()
        if self._display_threshold is not None:
            self.predictor.conf_threshold = min(self._display_threshold, ByteTracker().low_threshold)
        try:
            for t in threads:
                t.start()
            # Join with a timeout so the main thread stays free to run signal handlers.
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.2)
        finally:
            for t in threads:
                t.join(timeout=5.0)
            if self._display_threshold is not None:
                self.predictor.conf_threshold = self._display_threshold
            self._close_outputs(video, jsonl)
        summary = self._summary(time.perf_counter() - start, video, jsonl, images)
        self._write_summary(summary)
        return summary

    def _close_outputs(self, video: AnnotatedVideoWriter | None, jsonl: PredictionsWriter) -> None:
        """Close both writers whatever happens; a failure to close (disk full) is the run's error like any other."""
        for writer in (video, jsonl):
            if writer is None:
                continue
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - re-raised from _write_summary
                self._errors.append(("output", exc))

    def _write_summary(self, summary: dict[str, Any]) -> None:
        """summary.json (written last: its presence says the run ended), then the run's first error if any: a full
        disk as one line naming the file and what was kept, anything else as PipelineError."""
        written = True
        try:
            write_json_atomic(self.out_dir / "summary.json", summary)
        except DiskFullError as exc:
            written = False
            self._errors.append(("summary", exc))
        if not self._errors:
            return
        full = next((exc for _, exc in self._errors if isinstance(exc, DiskFullError)), None)
        if full is not None:
            kept = [f"{name} ({'complete' if ok else 'partial'})" for name, ok in summary["outputs"]["complete"].items()]
            kept.append("summary.json (says which)" if written else "no summary.json")
            raise DiskFullError(f"{full}; outputs: {', '.join(kept)}") from full
        stage, exc = self._errors[0]
        raise PipelineError(f"{stage} stage failed: {type(exc).__name__}: {exc}") from exc

    def _guard(self, name: str, fn: Callable, *args: Any) -> None:
        """Run a stage; on failure record it and abort every stage so the run ends instead of hanging."""
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised from run() in the main thread
            self._errors.append((name, exc))
            self.abort()
        finally:
            # The next stage must see the end even when this one failed.
            out_queue = args[-1]
            if isinstance(out_queue, queue.Queue):
                self._put(out_queue, _END, force=True)

    def _put(self, q: queue.Queue, item: Any, force: bool = False) -> bool:
        """Blocking put that gives up when the run is aborted (force: keep trying so _END gets through)."""
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                if self._abort.is_set():
                    if not force:
                        return False
                    try:  # make room: nobody will process the queued items anyway
                        q.get_nowait()
                    except queue.Empty:
                        pass

    def _get(self, q: queue.Queue) -> Any:
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self._abort.is_set():
                    return _END

    # --- stages --------------------------------------------------------------------------------------------
    def _decode(self, q_out: queue.Queue) -> None:
        limit = self.config.max_frames
        realtime = self.config.realtime
        pace = realtime and not self.source.is_live
        t0 = time.monotonic()
        if limit is not None and limit <= 0:
            return
        for n, frame in enumerate(self._frames(), start=1):
            self._stage_ms["decode"].add(frame.decode_ms)
            if pace:
                # Deliver a file as a camera would: frame i is available at t0 + timestamp, not before.
                wait = t0 + frame.timestamp - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            if realtime:
                self._put_latest(q_out, frame)
            elif not self._put(q_out, frame):
                return
            if self._abort.is_set() or (limit is not None and n >= limit):
                return

    def _frames(self) -> Iterator[Frame]:
        for frame in self.source:
            yield frame
            if self._stop.is_set():
                return

    def _put_latest(self, q: queue.Queue, frame: Frame) -> None:
        """Realtime: never block the decoder; a full queue loses its oldest frame (counted)."""
        while True:
            try:
                q.put_nowait(frame)
                return
            except queue.Full:
                try:
                    old = q.get_nowait()
                except queue.Empty:
                    continue
                if old is not _END:
                    self.dropped_frames += 1
                    self._dropped.append((old.index, old.timestamp))

    def _preprocess(self, q_in: queue.Queue, q_out: queue.Queue) -> None:
        batch_size = self.config.batch_size
        ended = False
        while not ended:
            first = self._get(q_in)
            if first is _END:
                return
            frames = [first]
            while len(frames) < batch_size:
                # Realtime takes what is ready rather than waiting for a full batch (latency over throughput).
                item = self._next_nowait(q_in) if self.config.realtime else self._get(q_in)
                if item is None:
                    break
                if item is _END:
                    ended = True
                    break
                frames.append(item)
            images = [f.image for f in frames]
            timing = self._stage_ms["preprocess"]
            with timing.measure():
                batch, infos = self.predictor.preprocess(images) if self.split_stages else (images, None)
            ms = timing.recent[-1]
            if not self._put(q_out, (frames, batch, infos, {"preprocess": ms / len(frames)})):
                return

    @staticmethod
    def _next_nowait(q: queue.Queue) -> Any:
        try:
            return q.get_nowait()
        except queue.Empty:
            return None

    def _infer(self, q_in: queue.Queue, q_out: queue.Queue) -> None:
        while (item := self._get(q_in)) is not _END:
            frames, batch, infos, ms = item
            timing = self._stage_ms["inference"]
            with timing.measure():
                raw = self.predictor.infer(batch) if self.split_stages else self.predictor.predict(batch)
            spent = timing.recent[-1]
            if not self._put(q_out, (frames, raw, infos, ms | {"inference": spent / len(frames)})):
                return

    def _postprocess(self, q_in: queue.Queue, q_out: queue.Queue) -> None:
        while (item := self._get(q_in)) is not _END:
            frames, raw, infos, ms = item
            timing = self._stage_ms["postprocess"]
            with timing.measure():
                results = self.predictor.postprocess(raw, infos) if self.split_stages else list(raw)
            spent = timing.recent[-1]
            if len(results) != len(frames):
                raise InputError(f"predictor returned {len(results)} results for a batch of {len(frames)} frames")
            if not self._put(q_out, (frames, results, ms | {"postprocess": spent / len(frames)})):
                return

    def _output(self, q_in: queue.Queue, sinks: tuple, jsonl: PredictionsWriter) -> None:
        tracker = FrameTracker(display_threshold=self._display_threshold) if self.config.track else None
        expected = self.source.frame_count
        if expected is not None and self.config.max_frames is not None:
            expected = min(expected, self.config.max_frames)
        recent: collections.deque = collections.deque(maxlen=max(2, self.config.fps_window))
        while (item := self._get(q_in)) is not _END:
            frames, results, batch_ms = item
            for frame, result in zip(frames, results):
                self._write_dropped_before(frame.index, jsonl)
                recent.append(time.perf_counter())
                fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else None
                ms, image_path = self._finish_frame(frame, result, fps, tracker, *sinks)
                for stage in ("tracking", "drawing", "encode"):
                    self._stage_ms[stage].add(ms[stage])
                latency = {"decode": frame.decode_ms, **batch_ms, **ms}
                name = image_path.name if image_path is not None else ""
                jsonl.write(frame_record(frame.index, frame.timestamp, result.to_json(), latency, image=name))
                self.frames_written += 1
                if self.on_frame is not None:
                    self.on_frame(self.frames_written, expected)
        self._write_dropped_before(None, jsonl)

    def _finish_frame(
        self,
        frame: Frame,
        result: FrameResult,
        fps: float | None,
        tracker: FrameTracker | None,
        video: AnnotatedVideoWriter | None,
        images: AnnotatedImageWriter | None,
    ) -> tuple[dict[str, float], Path | None]:
        t0 = time.perf_counter()
        if tracker is not None:
            tracker.update(result)
        t1 = time.perf_counter()
        t2 = t3 = t1
        image_path = None
        if video is not None or images is not None:
            # A still has no frame rate worth printing on it.
            annotated = draw_frame(frame.image, result, fps if video is not None else None)
            t2 = time.perf_counter()
            if video is not None:
                video.write(annotated)
            if images is not None:
                image_path = images.write(annotated, frame.path)
            t3 = time.perf_counter()
        return {"tracking": (t1 - t0) * 1e3, "drawing": (t2 - t1) * 1e3, "encode": (t3 - t2) * 1e3}, image_path

    def _write_dropped_before(self, index: int | None, jsonl: PredictionsWriter) -> None:
        """Frames dropped in realtime mode still get their line (in order), marked as dropped."""
        while self._dropped and (index is None or self._dropped[0][0] < index):
            dropped_index, timestamp = self._dropped.popleft()
            jsonl.write({"frame": int(dropped_index), "timestamp": round(float(timestamp), 4), "dropped": True})

    # --- summary -------------------------------------------------------------------------------------------
    def _summary(
        self, wall_s: float, video: AnnotatedVideoWriter | None, jsonl: PredictionsWriter, images: AnnotatedImageWriter | None
    ) -> dict[str, Any]:
        n = self.frames_written
        source = self.source.stats()
        return {
            "frames": n,
            "decoded_frames": source["decoded_frames"],
            "dropped_frames": self.dropped_frames,
            "corrupt_frames": source["corrupt_frames"],
            "missing_frames": source["missing_frames"],
            "reconnects": source["reconnects"],
            "fps": self.source.fps,
            "throughput_fps": round(n / wall_s, 3) if wall_s > 0 else 0.0,
            "wall_s": round(wall_s, 3),
            "batch_size": self.config.batch_size,
            "realtime": self.config.realtime,
            "interrupted": self.interrupted,
            "errors": [f"{stage}: {type(exc).__name__}: {exc}" for stage, exc in self._errors],
            "stage_ms_total": {k: round(t.total_ms, 3) for k, t in self._stage_ms.items()},
            "stage_ms_per_frame": {k: round(t.total_ms / n, 3) if n else 0.0 for k, t in self._stage_ms.items()},
            "source": source,
            "model": self.model_info,
            "outputs": outputs_summary(video, jsonl, images),
        }


def infer_video(predictor: Any, source: FrameSource, out_dir: str | Path, config: PipelineConfig | None = None,
                **options: Any) -> dict[str, Any]:
    """Run a `VideoPipeline(predictor, source, out_dir, config, **options)` (options: on_frame, model_info) with
    SIGINT/SIGTERM handled (the outputs are finalised on either). Returns the summary."""
    pipeline = VideoPipeline(predictor, source, out_dir, config, **options)
    with stop_on_signals(pipeline):
        return pipeline.run()
