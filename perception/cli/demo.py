"""`perception demo`: the whole job on the synthetic world, each step through its own subcommand.

generate data -> train briefly -> evaluate -> export fp32 + INT8 -> run the video tool, then print where
every output is. Each step writes its own --json summary; the demo collects them in summary.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from perception.cli.common import add_json_option, write_json
from perception.errors import PerceptionError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole job end to end on the synthetic world",
        description="Generate synthetic data, train briefly, evaluate, export (fp32 + INT8) and run the video tool; "
        "at most about 15 minutes on 2 CPU cores with the defaults (training takes --train-minutes).",
    )
    parser.add_argument("--out", default="runs/demo", help="folder for every output (default runs/demo)")
    # Rendering is cheap (~30 images/s on 2 cores) next to training: fresh images teach more than repeated ones.
    parser.add_argument("--num", type=int, default=1200, help="synthetic images to generate, 80%% train (default 1200)")
    parser.add_argument("--video-seconds", type=float, default=10, help="length of the synthetic clip (default 10)")
    parser.add_argument("--model", default="n", help="model scale or YAML for the brief training (default n)")
    parser.add_argument("--imgsz", nargs=2, type=int, default=[192, 320], metavar=("H", "W"), help="training size (default 192 320)")
    # A time budget, not a number of epochs, bounds the demo on any machine: the trainer re-estimates the epochs
    # that fit after each one and ends its cosine schedule there (perception train --time).
    parser.add_argument("--train-minutes", type=float, default=9.0, help="training time budget (default 9)")
    # A short run learns more per image from more, smaller steps at a higher rate: batch 8 at lr 0.012 beat batch 16
    # at the train default (2e-3) on every demo metric in the same time (docs/benchmarks.md, "Sample efficiency").
    parser.add_argument("--batch", type=int, default=8, help="training batch (default 8)")
    parser.add_argument("--lr", type=float, default=0.012, help="peak learning rate of the brief training (default 0.012)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="augment the brief training (default on)")
    parser.add_argument("--val-period", type=int, default=5, help="epochs between validations while training (default 5: "
                        "time for training steps instead)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    add_json_option(parser)
    return parser


def _step(name: str, argv: list[str], log: dict) -> dict:
    from perception.cli.main import main

    print(f"\n== {name}: perception {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    log[name] = {"command": "perception " + " ".join(argv), "exit_code": code, "seconds": round(seconds, 1)}
    if code != 0:
        raise PerceptionError(f"demo step '{name}' failed with exit code {code}; see its output above")
    if "--json" in argv:
        path = Path(argv[argv.index("--json") + 1])
        log[name]["summary"] = json.loads(path.read_text())
    return log[name]


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: F401 - the demo trains: without the training stack, say so before rendering any data

    from perception.out_dir import claimed_out_dir

    # never over an earlier demo: the default moves on to runs/demo2, a named folder holding files is refused
    with claimed_out_dir(args.out, "demo", default="runs/demo") as out:
        return _run(args, out)


def _run(args: argparse.Namespace, out: Path) -> int:
    data, train, evaluation, export, video = (out / n for n in ("data", "train", "eval", "export", "video"))
    log: dict = {}
    started = time.perf_counter()
    imgsz = [str(v) for v in args.imgsz]
    device = ["--device", args.device] if args.device else []
    lr = ["--lr", str(args.lr)] if args.lr else []
    _step("synth", ["synth", "--out", str(data), "--num", str(args.num), "--seed", "0", "--video", str(args.video_seconds),
                    "--json", str(out / "synth.json")], log)
    _step("train", ["train", "--data", str(data), "--model", args.model, "--time", f"{args.train_minutes / 60:.6g}", "--batch",
                    str(args.batch), "--imgsz", *imgsz, "--val-period", str(args.val_period), *lr,
                    "--augment" if args.augment else "--no-augment", "--out", str(train), *device,
                    "--json", str(out / "train.json")], log)
    weights = train / "weights" / "best.pt"
    _step("eval", ["eval", "--model", str(weights), "--data", str(data), "--split", "val", "--out", str(evaluation),
                   *device, "--json", str(out / "eval.json")], log)
    onnx_fp32 = export / "model.onnx"
    onnx_int8 = export / "model.int8.onnx"
    _step("export", ["export", "--model", str(weights), "--out", str(onnx_fp32), "--imgsz", *imgsz, "--int8",
                     "--calib", str(data / "images" / "100k" / "val"), "--json", str(out / "export.json")], log)
    _step("infer", ["infer", str(data / "video" / "synth.mp4"), "--model", str(onnx_fp32), "--out", str(video),
                    "--json", str(out / "infer.json")], log)
    total = time.perf_counter() - started

    outputs = {
        "synthetic dataset": data,
        "synthetic clip": data / "video" / "synth.mp4",
        "checkpoint (best)": weights,
        "training log": train,
        "evaluation report": evaluation / "report.md",
        "ONNX fp32": onnx_fp32,
        "ONNX INT8": onnx_int8,
        "annotated video": video / "annotated.mp4",
        "predictions": video / "predictions.jsonl",
        "video summary": video / "summary.json",
    }
    print(f"\n== demo finished in {total / 60:.1f} min; outputs:")
    for label, path in outputs.items():
        print(f"  {label:<20} {path}{'' if path.exists() else '  (missing!)'}")
    summary = {"seconds": round(total, 1), "steps": log, "outputs": {k: str(v) for k, v in outputs.items()}}
    write_json(out / "summary.json", summary)
    write_json(args.json, summary)
    missing = [label for label, path in outputs.items() if not path.exists()]
    if missing:
        raise PerceptionError(f"demo finished but these outputs are missing: {', '.join(missing)}")
    return 0
