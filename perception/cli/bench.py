"""`perception bench`: latency, throughput and memory of the model vs torchvision's lraspp baseline."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from perception.cli.common import add_json_option, write_json
from perception.config import DEFAULT_IMGSZ
from perception.engine.train_config import AMP_MODES


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="latency/throughput/memory: PyTorch, ONNX Runtime fp32/INT8/FP16, video tool, vs lraspp baseline",
        description="Measure parameters, GFLOPs, model-only and end-to-end latency (p50/p90 ms of repeated runs "
        "after warm-up), throughput and peak memory for PyTorch eager, ONNX Runtime fp32, INT8 (QDQ, static "
        "calibration, --int8) and FP16 (GPU providers only) on every provider that starts; the video tool's FPS "
        "on a clip; and the same for torchvision's untrained lraspp_mobilenet_v3_large at the same input and "
        "threads, with every figure as a ratio to it. Writes DIR/benchmarks.md (also printed).",
    )
    parser.add_argument("--model", default="s", help="scale n|s|m, a model YAML, or a .pt checkpoint (default s)")
    parser.add_argument("--onnx", default=None, metavar="FILE", help="time this exported fp32 model instead of exporting --model")
    parser.add_argument("--imgsz", nargs=2, type=int, default=list(DEFAULT_IMGSZ), metavar=("H", "W"),
                        help="input size (default {} {})".format(*DEFAULT_IMGSZ))
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 4], metavar="B", help="batch sizes (default 1 4)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch and ONNX Runtime (default: all cores)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per figure (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs per figure (default 5)")
    parser.add_argument("--int8", action="store_true", help="also measure INT8 (QDQ static quantization, calibrated)")
    parser.add_argument("--calib-images", type=int, default=8, metavar="N", help="INT8 calibration images (default 8)")
    parser.add_argument(
        "--providers", nargs="+", default=["cuda", "cpu"], metavar="P",
        help="ONNX Runtime providers to try: tensorrt cuda cpu (default cuda cpu; one counts only if a session starts on it)",
    )
    parser.add_argument("--trt-cache", default=None, metavar="DIR",
                        help="TensorRT engine and timing cache folder: the first start builds the engine (minutes), "
                        "later ones read it (seconds)")
    parser.add_argument("--trt-fp16", action="store_true", help="TensorRT: build fp16 engines")
    parser.add_argument(
        "--video", default=None, metavar="FILE",
        help="clip for the video tool's FPS (default ../shared/data/video/solidWhiteRight.mp4, else a generated clip)",
    )
    parser.add_argument("--video-frames", type=int, default=None, metavar="N", help="stop the video run after N frames")
    parser.add_argument("--no-video", action="store_true", help="skip the video tool measurement")
    parser.add_argument("--frames", default=None, metavar="DIR", help="real frames for end-to-end timing and calibration "
                        "(default ../shared/data/bdd100k_frames, else generated)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/bench, with --train "
                        "runs/bench_train)")
    train = parser.add_argument_group("training benchmark (--train)")
    train.add_argument("--train", action="store_true", help="measure training instead: images/s of full training "
                       "steps with data loading, each part's share (data wait, forward, loss, backward, optimizer, "
                       "EMA), the loader alone and validation; --model, --imgsz and the first --batch apply")
    train.add_argument("--data", default=None, help="dataset YAML or directory (default: render a synthetic one)")
    train.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N (default auto)")
    train.add_argument("--amp", default="auto", choices=AMP_MODES, help="as `perception train --amp` (default auto)")
    train.add_argument("--workers", type=int, default=2, help="loader workers (default 2)")
    train.add_argument("--steps", type=int, default=20, help="timed training steps per pass (default 20)")
    train.add_argument("--val-batches", type=int, default=4, metavar="N", help="validation batches timed (default 4)")
    train.add_argument("--no-channels-last", action="store_true", help="train in NCHW (default channels_last)")
    add_json_option(parser)
    return parser


def run_train(args: argparse.Namespace) -> int:
    """`perception bench --train`: perception.bench.train_bench."""
    from perception.atomic import write_text_atomic
    from perception.bench.train_bench import TrainBenchConfig, render_train_markdown, run_train_benchmark

    out = args.out or "runs/bench_train"
    config = TrainBenchConfig(data=args.data, model=args.model, imgsz=tuple(args.imgsz), batch=args.batch[0],
                              amp=args.amp, channels_last=not args.no_channels_last, device=args.device,
                              workers=args.workers, steps=args.steps, warmup=args.warmup,
                              val_batches=args.val_batches, out_dir=out)
    command = train_command_line(args, out)
    result = run_train_benchmark(config) | {"command": command}
    markdown = render_train_markdown(result, command)
    write_text_atomic(Path(out) / "train_benchmark.md", markdown)
    print(markdown)
    write_json(args.json, result)
    return 0


def train_command_line(args: argparse.Namespace, out: str) -> str:
    parts = ["perception", "bench", "--train", "--model", args.model, "--imgsz", *map(str, args.imgsz), "--batch",
             str(args.batch[0]), "--device", args.device, "--amp", args.amp, "--workers", str(args.workers), "--steps",
             str(args.steps), "--warmup", str(args.warmup), "--val-batches", str(args.val_batches)]
    if args.data:
        parts += ["--data", args.data]
    if args.no_channels_last:
        parts.append("--no-channels-last")
    parts += ["--out", out] + (["--json", args.json] if args.json else [])
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from perception.bench.report import render_markdown, write_markdown
    from perception.bench.suite import BenchConfig, run_benchmark

    if args.train:
        return run_train(args)
    args.out = args.out or "runs/bench"
    command = command_line(args)
    config = BenchConfig(
        model=args.model,
        onnx=args.onnx,
        imgsz=tuple(args.imgsz),
        batches=tuple(args.batch),
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        int8=args.int8,
        calibration_images=args.calib_images,
        providers=tuple(args.providers),
        trt_cache_dir=args.trt_cache,
        trt_fp16=args.trt_fp16,
        video=args.video,
        no_video=args.no_video,
        video_frames=args.video_frames,
        frames=args.frames,
        out_dir=args.out,
    )
    result = run_benchmark(config)
    result["command"] = command
    markdown = render_markdown(result, command)
    result["markdown"] = str(write_markdown(markdown, Path(args.out) / "benchmarks.md"))
    print(markdown)
    write_json(args.json, result)
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The equivalent `perception bench ...` command, recorded with the figures so they can be reproduced."""
    parts = ["perception", "bench", "--model", args.model, "--imgsz", *map(str, args.imgsz), "--batch", *map(str, args.batch)]
    parts += ["--runs", str(args.runs), "--warmup", str(args.warmup)]
    for flag, value in (("--onnx", args.onnx), ("--threads", args.threads), ("--video", args.video),
                        ("--video-frames", args.video_frames), ("--frames", args.frames)):
        if value is not None:
            parts += [flag, str(value)]
    if args.int8:
        parts += ["--int8", "--calib-images", str(args.calib_images)]
    if args.trt_cache:
        parts += ["--trt-cache", args.trt_cache]
    if args.trt_fp16:
        parts.append("--trt-fp16")
    if list(args.providers) != ["cuda", "cpu"]:
        parts += ["--providers", *args.providers]
    if args.no_video:
        parts.append("--no-video")
    parts += ["--out", args.out] + (["--json", args.json] if args.json else [])
    return " ".join(shlex.quote(p) for p in parts)
