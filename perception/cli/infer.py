"""`perception infer`: run a model over a video, images, a camera or a stream; write video + JSONL + summary."""

from __future__ import annotations

import argparse

from perception.cli.common import add_json_option, write_json
from perception.errors import InputError, MissingFileError


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
    parser.add_argument("--model", required=True, help="model.onnx (ONNX Runtime, no torch) or a .pt checkpoint")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--batch", type=int, default=1, metavar="N", help="frames per model call (default 1)")
    parser.add_argument("--realtime", action="store_true", help="drop frames (counted) to keep up with a live source")
    parser.add_argument("--no-video", action="store_true",
                        help="skip annotated.mp4 / annotated images (JSONL and summary only)")
    parser.add_argument("--save-video", action="store_true",
                        help="images: write one annotated.mp4 of the images instead of annotated images")
    parser.add_argument("--conf", type=float, default=None,
                        help="detection score threshold (default: the model's, 0.25 unless set at training or export)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N decoded frames")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda: torch device of a .pt model (default cpu), ONNX Runtime provider of an .onnx "
                        "one (or use --providers)")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), default=None,
                        help="network input size (default: the model's; an .onnx model must be exported --dynamic)")
    parser.add_argument("--providers", default=None, metavar="LIST",
                        help="ONNX Runtime providers to try, comma separated: tensorrt,cuda,cpu "
                        "(default: all, in that order)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: all cores)")
    parser.add_argument("--trt-cache", default=None, metavar="DIR",
                        help="TensorRT engine and timing cache folder: the first start builds the engine (minutes), "
                        "later ones read it (seconds)")
    parser.add_argument("--trt-fp16", action="store_true", help="TensorRT: build fp16 engines")
    parser.add_argument("--image-fps", type=float, default=30.0, help="frame rate given to an image sequence (default 30)")
    parser.add_argument("--reconnect-timeout", type=float, default=None, metavar="S",
                        help="camera/stream: seconds without a frame before giving up and finalising the outputs "
                        "(default: 5 reconnect attempts with backoff, at most 60 s)")
    parser.add_argument("--no-track", action="store_true", help="no track ids, no lane smoothing")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="fleet: spread a manifest's videos over Ray workers; without ADDRESS an embedded "
                        "cluster on this machine, else ray.init's address (auto, ray://head:10001); "
                        "needs perception[fleet]")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="fleet with --ray: Ray actors, one model session each (default 2)")
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it holds another run's files (else refused)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir
    from perception.video.fleet import is_manifest

    # one run per folder (perception.out_dir); a fleet continues its folder by design (complete videos skipped)
    fleet = args.ray is not None or is_manifest(args.source)
    with claimed_out_dir(args.out, "infer", exist_ok=args.exist_ok or fleet):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.loading import load_predictor
    from perception.video.pipeline import PipelineConfig, infer_video
    from perception.video.fleet import is_manifest
    from perception.video.sources import ImageSequenceSource

    if args.ray is not None or is_manifest(args.source):
        return _run_fleet(args)
    source = _open_source(args)
    images_out = isinstance(source, ImageSequenceSource) and not args.save_video
    # The video needs the drivable mask (overlay, RLE) but draws and writes lanes as polylines only. ONNX
    # Runtime threads must not spin: decode, postprocess and encode run beside them on the same cores.
    predictor = load_predictor(args.model, conf_threshold=args.conf, device=args.device, lane_masks=False,
                               imgsz=tuple(args.imgsz) if args.imgsz else None,
                               providers=args.providers, threads=args.threads, spin=False,
                               trt_cache_dir=args.trt_cache, trt_fp16=args.trt_fp16)
    config = getattr(predictor, "config", None)
    model_info = {"path": str(args.model), "conf_threshold": predictor.conf_threshold}
    if config is not None:
        model_info |= {"scale": config.scale, "backbone": config.backbone, "imgsz": list(config.imgsz)}

    bar = tqdm(unit="frame", dynamic_ncols=True, disable=None)

    def on_frame(done: int, expected: int | None) -> None:
        if expected and bar.total != expected:
            bar.total = expected
        bar.update(done - bar.n)

    pipeline_config = PipelineConfig(
        batch_size=args.batch,
        realtime=args.realtime,
        max_frames=args.max_frames,
        write_video=not args.no_video and not images_out,
        write_images=not args.no_video and images_out,
        # Separate images are not a sequence: no track ids carried across them, no lanes smoothed between them.
        track=not args.no_track and not images_out,
    )
    try:
        summary = infer_video(predictor, source, args.out, pipeline_config, on_frame=on_frame, model_info=model_info)
    finally:
        bar.close()
    return _report(args, summary)


def _open_source(args: argparse.Namespace):
    from perception.video.sources import open_source

    live = {}
    if args.reconnect_timeout is not None:
        if args.reconnect_timeout <= 0:
            raise InputError(f"--reconnect-timeout {args.reconnect_timeout}: must be > 0 seconds")
        from perception.video.sources import ReconnectPolicy

        # the time is the bound the user asked for; attempts are then limited only by the backoff within it
        live["policy"] = ReconnectPolicy(max_attempts=1 << 30, max_total_s=args.reconnect_timeout)
    return open_source(args.source, image_fps=args.image_fps, **live)


def _report(args: argparse.Namespace, summary: dict) -> int:
    """Print the run's summary lines, write --json; exit code 130 when interrupted."""
    print(
        f"{summary['frames']} frames at {summary['throughput_fps']:.1f} FPS "
        f"(dropped {summary['dropped_frames']}, corrupt {summary['corrupt_frames']}, missing {summary['missing_frames']})"
        f" -> {args.out}"
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


def _run_fleet(args: argparse.Namespace) -> int:
    """A manifest of videos: one output folder per video, here or on Ray (perception.video.fleet)."""
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from perception.video.fleet import FleetConfig, read_manifest, run_fleet
    from perception.video.pipeline import PipelineConfig

    videos = read_manifest(args.source)
    if not Path(args.model).is_file():
        raise MissingFileError(f"{args.model}: model file not found")
    config = FleetConfig(
        model=str(Path(args.model).resolve()),
        predictor_kwargs={"conf_threshold": args.conf, "device": args.device, "lane_masks": False,
                          "providers": args.providers, "threads": args.threads, "spin": False,
                          "trt_cache_dir": args.trt_cache, "trt_fp16": args.trt_fp16},
        pipeline=PipelineConfig(batch_size=args.batch, max_frames=args.max_frames, write_video=not args.no_video,
                                track=not args.no_track),
        ray=args.ray,
        workers=args.workers,
        model_info={"path": str(args.model)},
    )
    bar = tqdm(total=len(videos), unit="video", dynamic_ncols=True, disable=None)

    def on_video(outcome) -> None:
        bar.update(1)
        if outcome.status == "failed":
            bar.write(f"perception infer: {outcome.video}: skipped, {outcome.error}", file=sys.stderr)

    try:
        summary = run_fleet(videos, args.out, config, on_video=on_video)
    finally:
        bar.close()
    print(f"{summary['done']} videos done, {summary['skipped']} already complete, {summary['failed']} failed: "
          f"{summary['frames']} frames at {summary['throughput_fps']:.1f} FPS ({summary['backend']}) -> "
          f"{Path(args.out) / 'fleet.json'}")
    write_json(args.json, summary)
    if summary["interrupted"]:
        return 130
    return 1 if summary["failed"] else 0
