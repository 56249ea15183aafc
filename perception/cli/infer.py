"""`perception infer`: run a model over a video, images, a camera or a stream; write video + JSONL + summary."""

from __future__ import annotations

import argparse

from perception.cli.common import add_config_flags, add_json_option, config_flags, write_json
from perception.errors import MissingFileError
from perception.video.infer_config import InferConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "infer",
        help="run a model on a video, image folder/glob, camera or stream",
        description="Decode SOURCE, run the model (decode, preprocess, inference, postprocess and encode run "
        "concurrently), track objects and smooth lanes, and write DIR/annotated.mp4 (for images: each annotated image "
        "under its own name, as `yolo predict` does; --save-video for one video), DIR/predictions.jsonl "
        "(one line per decoded frame, schema in docs/predictions.md) and DIR/summary.json. Ctrl-C stops "
        "gracefully and leaves all three files valid. A manifest (a .txt listing videos, or a folder/glob of "
        "videos) writes DIR/<video stem>/ per video plus DIR/fleet.json, skips videos already complete, and "
        "runs here or, with --ray, on a Ray cluster.",
    )
    parser.add_argument(
        "source", help="video file (mp4 avi mkv mov), image folder or quoted glob, camera index (0), rtsp:// http(s):// "
        "URL, or a manifest of videos (.txt, or a folder/glob of videos)"
    )
    add_config_flags(parser, InferConfig)  # every other setting is an InferConfig field
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir
    from perception.video.fleet import is_manifest

    config = InferConfig(**config_flags(args, InferConfig))
    # one run per folder (perception.out_dir); a fleet continues its folder by design (complete videos skipped)
    fleet = config.ray is not None or is_manifest(args.source)
    with claimed_out_dir(config.out, "infer", exist_ok=config.exist_ok or fleet):
        return _run_fleet(args, config) if fleet else _run(args, config)


def _run(args: argparse.Namespace, config: InferConfig) -> int:
    from tqdm import tqdm

    from perception.loading import load_predictor
    from perception.video.pipeline import infer_video
    from perception.video.sources import ImageSequenceSource

    source = _open_source(args.source, config)
    images_out = isinstance(source, ImageSequenceSource) and not config.save_video
    pipeline_config = config.pipeline(images_out)
    predictor = load_predictor(config.model, **config.predictor_kwargs())
    model_config = getattr(predictor, "config", None)
    model_info = {"path": str(config.model), "conf_threshold": predictor.conf_threshold}
    if model_config is not None:
        model_info |= {"scale": model_config.scale, "backbone": model_config.backbone,
                       "imgsz": list(model_config.imgsz)}

    bar = tqdm(unit="frame", dynamic_ncols=True, disable=None)

    def on_frame(done: int, expected: int | None) -> None:
        if expected and bar.total != expected:
            bar.total = expected
        bar.update(done - bar.n)

    try:
        summary = infer_video(predictor, source, config.out, pipeline_config, on_frame=on_frame, model_info=model_info)
    finally:
        bar.close()
    return _report(args, config.out, summary)


def _open_source(source: str, config: InferConfig):
    from perception.video.sources import open_source

    live = {}
    if config.reconnect_timeout is not None:
        from perception.video.sources import ReconnectPolicy

        # the time is the bound the user asked for; attempts are then limited only by the backoff within it
        live["policy"] = ReconnectPolicy(max_attempts=1 << 30, max_total_s=config.reconnect_timeout)
    return open_source(source, image_fps=config.image_fps, **live)


def _report(args: argparse.Namespace, out: str, summary: dict) -> int:
    """Print the run's summary lines, write --json; exit code 130 when interrupted."""
    print(
        f"{summary['frames']} frames at {summary['throughput_fps']:.1f} FPS "
        f"(dropped {summary['dropped_frames']}, corrupt {summary['corrupt_frames']}, missing {summary['missing_frames']})"
        f" -> {out}"
    )
    per_frame = summary["stage_ms_per_frame"]
    print("ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in per_frame.items()))
    write_json(args.json, summary)
    if summary["source"].get("ended"):
        print(f"perception infer: {summary['source']['ended']}; outputs finalised")
    if summary["interrupted"]:
        print("perception infer: interrupted; outputs finalised")
        return 130
    return 0


def _run_fleet(args: argparse.Namespace, config: InferConfig) -> int:
    """A manifest of videos: one output folder per video, here or on Ray (perception.video.fleet)."""
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from perception.video.fleet import FleetConfig, read_manifest, run_fleet

    videos = read_manifest(args.source)
    if not Path(config.model).is_file():
        raise MissingFileError(f"{config.model}: model file not found")
    # as before InferConfig: a fleet takes the model's input size and never drops frames
    predictor_kwargs = {k: v for k, v in config.predictor_kwargs().items() if k != "imgsz"}
    fleet = FleetConfig(
        model=str(Path(config.model).resolve()),
        predictor_kwargs=predictor_kwargs,
        pipeline=config.pipeline().replace(realtime=False),
        ray=config.ray,
        workers=config.workers,
        model_info={"path": str(config.model)},
    )
    bar = tqdm(total=len(videos), unit="video", dynamic_ncols=True, disable=None)

    def on_video(outcome) -> None:
        bar.update(1)
        if outcome.status == "failed":
            bar.write(f"perception infer: {outcome.video}: skipped, {outcome.error}", file=sys.stderr)

    try:
        summary = run_fleet(videos, config.out, fleet, on_video=on_video)
    finally:
        bar.close()
    print(f"{summary['done']} videos done, {summary['skipped']} already complete, {summary['failed']} failed: "
          f"{summary['frames']} frames at {summary['throughput_fps']:.1f} FPS ({summary['backend']}) -> "
          f"{Path(config.out) / 'fleet.json'}")
    write_json(args.json, summary)
    if summary["interrupted"]:
        return 130
    return 1 if summary["failed"] else 0
