"""`perception bench`: latency, throughput and memory of the model vs torchvision's lraspp baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from perception.bench.suite import BenchConfig
from perception.bench.train_bench import TrainBenchConfig
from perception.cli.common import add_config_flags, add_json_option, command_line, config_flags, write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="latency/throughput/memory: PyTorch, ONNX Runtime fp32/INT8/FP16, video tool, vs lraspp baseline",
        description="Measure parameters, GFLOPs, model-only and end-to-end latency (p50/p90 ms of repeated runs "
        "after warm-up), throughput and peak memory for PyTorch eager (fp32, and bf16/fp16 autocast with "
        "--torch-amp), ONNX Runtime fp32, INT8 (QDQ, static "
        "calibration, --int8) and FP16 (GPU providers only) on every provider that starts; the video tool's FPS "
        "on a clip; and the same for torchvision's untrained lraspp_mobilenet_v3_large at the same input and "
        "threads, with every figure as a ratio to it. Writes DIR/benchmarks.md (also printed).",
    )
    # every measurement setting is a BenchConfig field, and --train's own ones TrainBenchConfig fields
    add_config_flags(parser, BenchConfig)
    train = parser.add_argument_group("training benchmark (--train)")
    train.add_argument("--train", action="store_true", help="measure training instead: images/s of full training "
                       "steps with data loading, each part's share (data wait, forward, loss, backward, optimizer, "
                       "EMA), the loader alone and validation; --model, --imgsz, --warmup, --out and the first --batch "
                       "apply")
    add_config_flags(train, TrainBenchConfig)
    add_json_option(parser)
    return parser


def run_train(args: argparse.Namespace, flags: dict) -> int:
    """`perception bench --train`: perception.bench.train_bench. The flags it shares with bench keep bench's
    defaults (--model s, --imgsz 384 640, the first --batch: 1)."""
    from perception.atomic import write_text_atomic
    from perception.bench.train_bench import render_train_markdown, run_train_benchmark

    bench = BenchConfig()
    shared = {"model": flags.get("model", bench.model), "imgsz": flags.get("imgsz", bench.imgsz),
              "batch": list(flags.get("batches", bench.batches))[0], "warmup": flags.get("warmup", bench.warmup),
              "out_dir": flags.get("out_dir", TrainBenchConfig().out_dir)}
    config = TrainBenchConfig(**shared, **config_flags(args, TrainBenchConfig))
    words = ["perception", "bench", "--train", "--model", config.model, "--imgsz", *map(str, config.imgsz),
             "--batch", str(config.batch), "--warmup", str(config.warmup)]  # bench's flags, shared
    command = command_line(words, config, _tail(config.out_dir, args.json))
    result = run_train_benchmark(config) | {"command": command}
    markdown = render_train_markdown(result, command)
    write_text_atomic(Path(config.out_dir) / "train_benchmark.md", markdown)
    print(markdown)
    write_json(args.json, result)
    return 0


def _tail(out: str, json_path: str | None) -> list[str]:
    return ["--out", out] + (["--json", json_path] if json_path else [])


def run(args: argparse.Namespace) -> int:
    from perception.atomic import write_text_atomic
    from perception.bench.report import render_markdown
    from perception.bench.suite import run_benchmark

    flags = config_flags(args, BenchConfig)
    if args.train:
        return run_train(args, flags)
    config = BenchConfig(**flags)
    # the command recorded with the figures, so that they can be reproduced
    command = command_line(["perception", "bench"], config, ["--json", args.json] if args.json else [])
    result = run_benchmark(config)
    result["command"] = command
    markdown = render_markdown(result, command)
    result["markdown"] = str(write_text_atomic(Path(config.out_dir) / "benchmarks.md", markdown))
    print(markdown)
    write_json(args.json, result)
    return 0
