"""Fleet footage: run the video tool over a manifest of videos, on this machine or on a Ray cluster.

Each video gets its own folder, DIR/<video stem>/, holding exactly what `perception infer VIDEO` writes
(annotated.mp4, predictions.jsonl, summary.json). A video whose summary.json says it finished (not
interrupted, no stage error) is skipped on a rerun, so a run killed halfway continues where it stopped;
a video that fails (corrupt, unreadable) is reported in DIR/fleet.json and the others go on.

Locally one predictor processes the videos in turn (the pipeline already overlaps decode, model and encode).
With Ray, each actor holds one predictor (one ONNX Runtime session, loaded once) and takes one video per
call; videos and DIR must then be paths every node can read and write (a shared filesystem). Ray is
imported only here and only for `ray=...` (`pip install 'perception[fleet]'`).

numpy + OpenCV (+ Ray when asked for).
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from perception.config import ConfigBase, ConfigError, check_at_least
from perception.errors import InputError, MissingFileError
from perception.jsonio import write_json_atomic
from perception.video.pipeline import PipelineConfig, VideoPipeline, infer_video
from perception.video.sources import VIDEO_EXTENSIONS, VideoFileSource

MANIFEST_SUFFIXES = (".txt", ".list", ".lst")
FLEET_SUMMARY = "fleet.json"


def is_manifest(source: str) -> bool:
    """A text file listing videos, or a folder / glob that matches video files (not images)."""
    if Path(source).suffix.lower() in MANIFEST_SUFFIXES and Path(source).is_file():
        return True
    if os.path.isdir(source) or any(ch in source for ch in "*?["):
        return bool(_videos_in(source))
    return False


def _videos_in(pattern: str) -> list[str]:
    paths = [str(p) for p in Path(pattern).iterdir()] if os.path.isdir(pattern) else glob.glob(pattern)
    return sorted(p for p in paths if Path(p).suffix.lower() in VIDEO_EXTENSIONS)


def read_manifest(source: str) -> list[Path]:
    """Video paths from a manifest file (one per line; blank lines and `#` comments ignored; relative
    paths are relative to the manifest's folder) or a folder / glob of videos, in order."""
    path = Path(source)
    if path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        videos = [(path.parent / line) if not os.path.isabs(line) else Path(line)
                  for line in lines if line and not line.startswith("#")]
    else:
        videos = [Path(p) for p in _videos_in(source)]
    if not videos:
        raise MissingFileError(f"{source}: manifest lists no videos ({', '.join(VIDEO_EXTENSIONS)})")
    # Absolute: Ray workers run elsewhere, and a rerun from another folder must find the same outputs.
    return [Path(os.path.abspath(v)) for v in videos]


def output_dirs(videos: list[Path], out: Path) -> list[Path]:
    """DIR/<stem> per video; a stem seen before gets -2, -3 ... in manifest order (stable across reruns)."""
    seen: dict[str, int] = {}
    dirs = []
    for video in videos:
        n = seen[video.stem] = seen.get(video.stem, 0) + 1
        dirs.append(out / (video.stem if n == 1 else f"{video.stem}-{n}"))
    return dirs


def is_complete(video: Path, out_dir: Path) -> bool:
    """True when out_dir holds a finished run of this video (its summary.json is written last)."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (not summary.get("interrupted") and not summary.get("errors")
            and summary.get("source", {}).get("source") == str(video))


@dataclass
class VideoOutcome:
    """What happened to one video: status is done, skipped (already complete) or failed."""

    video: str
    out: str
    status: str
    frames: int = 0
    wall_s: float = 0.0
    error: str = ""
    worker: str = ""


def process_video(predictor: Any, video: Path, out_dir: Path, config: PipelineConfig,
                  model_info: dict[str, Any] | None = None, handle_signals: bool = False) -> VideoOutcome:
    """Run one video into out_dir; any failure becomes a `failed` outcome with a one-line error."""
    start = time.perf_counter()
    try:
        source = VideoFileSource(video)
        if handle_signals:
            summary = infer_video(predictor, source, out_dir, config, model_info=model_info)
        else:
            summary = VideoPipeline(predictor, source, out_dir, config, model_info=model_info).run()
    except Exception as exc:  # noqa: BLE001 - one bad video must not end the fleet run
        return VideoOutcome(str(video), str(out_dir), "failed", wall_s=time.perf_counter() - start,
                            error=f"{type(exc).__name__}: {exc}".splitlines()[0], worker=f"pid {os.getpid()}")
    status = "interrupted" if summary["interrupted"] else "done"
    return VideoOutcome(str(video), str(out_dir), status, frames=summary["frames"],
                        wall_s=time.perf_counter() - start, worker=f"pid {os.getpid()}")


@dataclass
class FleetConfig(ConfigBase):
    """model: .onnx (or .pt) path every worker can read. predictor_kwargs: load_predictor's keyword arguments.
    ray: None runs here; "local" starts an embedded Ray cluster; any other value is ray.init's address
    ("auto", "ray://head:10001", "head:6379"). workers: Ray actors (one predictor each)."""

    model: str
    predictor_kwargs: dict[str, Any] = field(default_factory=dict)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    ray: str | None = None
    workers: int = 2
    model_info: dict[str, Any] = field(default_factory=dict)

    SECTION: ClassVar[str] = "fleet"

    def validate(self) -> None:
        if isinstance(self.pipeline, dict):  # from_dict / a YAML: the nested section
            self.pipeline = PipelineConfig.from_dict(self.pipeline, source="fleet")
        if not isinstance(self.pipeline, PipelineConfig):
            raise ConfigError(f"fleet.pipeline: {self.pipeline!r} is not a pipeline section")
        check_at_least(self, 1, "workers")


def run_fleet(videos: list[Path], out: str | os.PathLike, config: FleetConfig,
              on_video: Callable[[VideoOutcome], None] | None = None) -> dict[str, Any]:
    """Process every video not already complete under `out`; write and return DIR/fleet.json's summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[VideoOutcome] = []
    todo = []
    for video, video_out in zip(videos, output_dirs(videos, out)):
        if is_complete(video, video_out):
            outcomes.append(VideoOutcome(str(video), str(video_out), "skipped"))
            if on_video is not None:
                on_video(outcomes[-1])
        else:
            todo.append((video, video_out))
    start = time.perf_counter()
    placements: list[dict[str, Any]] = []  # Ray: where each actor's model runs
    outcomes_of = (lambda: _run_ray(todo, config, placements)) if config.ray else (lambda: _run_local(todo, config))
    for outcome in outcomes_of():
        outcomes.append(outcome)
        if on_video is not None:
            on_video(outcome)
    wall_s = time.perf_counter() - start
    order = {str(v): i for i, v in enumerate(videos)}
    outcomes.sort(key=lambda o: order.get(o.video, len(order)))
    frames = sum(o.frames for o in outcomes if o.status == "done")
    summary = {
        "videos": len(videos),
        "done": sum(o.status == "done" for o in outcomes),
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "interrupted": sum(o.status == "interrupted" for o in outcomes),
        "frames": frames,
        "wall_s": round(wall_s, 3),
        "throughput_fps": round(frames / wall_s, 3) if wall_s > 0 else 0.0,
        "backend": f"ray ({config.ray}, {config.workers} workers)" if config.ray else "local",
        "model": config.model_info or {"path": config.model},
        "per_video": [asdict(o) for o in outcomes],
        "workers": placements,
    }
    write_json_atomic(out / FLEET_SUMMARY, summary)
    return summary


def _run_local(todo: list[tuple[Path, Path]], config: FleetConfig):
    from perception.loading import load_predictor

    if not todo:
        return
    predictor = load_predictor(config.model, **config.predictor_kwargs)
    for video, video_out in todo:
        outcome = process_video(predictor, video, video_out, config.pipeline, config.model_info, handle_signals=True)
        yield outcome
        if outcome.status == "interrupted":
            return  # Ctrl-C: the video in progress is finalised; the rest wait for a rerun


GPU_PROVIDERS = {"cuda", "gpu", "tensorrt", "trt", "cudaexecutionprovider", "tensorrtexecutionprovider"}


def gpu_need(model: str, predictor_kwargs: dict[str, Any]) -> str | None:
    """'required' (a .pt model on --device cuda: it cannot run without one), 'preferred' (an .onnx model whose
    providers include a GPU one, the default auto order too: ONNX Runtime falls back to the CPU, with a line
    saying so), or None (the CPU was asked for)."""
    device = str(predictor_kwargs.get("device") or "")
    if not model.endswith(".onnx"):
        return "required" if device.startswith("cuda") else None
    providers = predictor_kwargs.get("providers")
    if device:
        return "preferred" if device.startswith("cuda") else None
    if providers is None or providers == "auto":
        return "preferred"
    names = providers.split(",") if isinstance(providers, str) else list(providers)
    return "preferred" if any(n.strip().lower() in GPU_PROVIDERS for n in names) else None


def actor_resources(model: str, predictor_kwargs: dict[str, Any], workers: int, cluster_gpus: float) -> dict[str, float]:
    """Ray resources of each VideoWorker: one CPU, and a share of the cluster's GPUs when the model should run on
    one (an actor asking for no GPU gets CUDA_VISIBLE_DEVICES="" from Ray, so it could never use one)."""
    need = gpu_need(model, predictor_kwargs)
    if need == "required" and cluster_gpus <= 0:
        raise InputError(f"--device {predictor_kwargs.get('device')}: the Ray cluster has no GPU for {Path(model).name}; "
                         "use --device cpu or a cluster with GPUs")
    if need is None or cluster_gpus <= 0:
        return {"num_cpus": 1}
    return {"num_cpus": 1, "num_gpus": min(1.0, cluster_gpus / max(1, workers))}


class VideoWorker:
    """A Ray actor's state: one predictor (one ONNX Runtime session), loaded once, used for many videos."""

    def __init__(self, model: str, predictor_kwargs: dict[str, Any]) -> None:
        import ray

        from perception.loading import load_predictor

        kwargs = dict(predictor_kwargs)
        if kwargs.get("threads") is None:
            # As many ONNX Runtime threads as CPUs Ray gave this actor, not one per core of the node each.
            kwargs["threads"] = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
        # The runtime's provider-fallback line goes to this actor's stderr, which the driver does not see
        # (log_to_driver=False): keep it, and hand it to the driver with where the model runs.
        messages = io.StringIO()
        with contextlib.redirect_stderr(messages):
            self.predictor = load_predictor(model, **kwargs)
        self.messages = [line for line in messages.getvalue().splitlines() if line.strip()]

    def placement(self) -> dict[str, Any]:
        """Where this actor's model runs (ONNX Runtime providers or torch device) and its start-up messages."""
        runs_on = getattr(self.predictor, "providers", None) or [str(getattr(self.predictor, "device", "cpu"))]
        return {"runs_on": list(runs_on), "messages": self.messages}

    def run(self, video: str, out_dir: str, pipeline: PipelineConfig, model_info: dict[str, Any]) -> VideoOutcome:
        return process_video(self.predictor, Path(video), Path(out_dir), pipeline, model_info)


def _report_placement(ray, actors: list, resources: dict[str, float], placements: list[dict[str, Any]]) -> None:
    """Collect where each actor's model runs; print its start-up messages (a provider that could not start and
    what it fell back to) on the driver's stderr, once per distinct line."""
    shown: set[str] = set()
    for actor in actors:
        try:
            placement = ray.get(actor.placement.remote()) | {"resources": resources}
        except ray.exceptions.RayError as exc:  # it could not load the model: its videos will report that
            placement = {"runs_on": [], "messages": [], "resources": resources,
                         "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"}
        placements.append(placement)
        for line in placement["messages"]:
            if line not in shown:
                shown.add(line)
                print(f"{line} (Ray actor)", file=sys.stderr)


def _run_ray(todo: list[tuple[Path, Path]], config: FleetConfig, placements: list[dict[str, Any]]):
    import ray

    if not todo:
        return
    owns_ray = not ray.is_initialized()
    if owns_ray:
        local = {}
        if config.ray == "local":
            # A private cluster on this machine; only paths and outcomes pass through its object store.
            local = {"num_cpus": max(config.workers, os.cpu_count() or 1), "object_store_memory": 128 * 2**20}
        ray.init(address=config.ray, include_dashboard=False, log_to_driver=False, **local)
    try:
        resources = actor_resources(config.model, config.predictor_kwargs, config.workers,
                                    ray.cluster_resources().get("GPU", 0))
        actor = ray.remote(**resources)(VideoWorker)
        idle = [actor.remote(config.model, config.predictor_kwargs) for _ in range(max(1, config.workers))]
        _report_placement(ray, idle, resources, placements)
        pending = list(reversed(todo))
        running: dict[Any, tuple[Any, Path, Path]] = {}
        while pending or running:
            while idle and pending:
                worker = idle.pop()
                video, video_out = pending.pop()
                ref = worker.run.remote(str(video), str(video_out), config.pipeline, config.model_info)
                running[ref] = (worker, video, video_out)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            worker, video, video_out = running.pop(ref)
            try:
                outcome = ray.get(ref)
                idle.append(worker)
            except ray.exceptions.RayError as exc:
                # The worker died (a crash in native code, a lost node) or could not load the model: its
                # video is reported failed and the worker is not used again.
                outcome = VideoOutcome(str(video), str(video_out), "failed",
                                       error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
                if not idle and not running:
                    for video, video_out in reversed(pending):
                        yield VideoOutcome(str(video), str(video_out), "failed", error="no Ray worker left")
                    pending.clear()
            yield outcome
    finally:
        if owns_ray:
            ray.shutdown()
