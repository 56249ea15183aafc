"""`perception compare-tasks`: one shared model vs one model per task, same data and budget, measured."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.config import BALANCING_MODES, TASKS

    parser = subparsers.add_parser(
        "compare-tasks",
        help="train a shared model and one model per task under one budget; tabulate metrics and cost",
        description="Trains, with the same data, scale, input size, seed and step budget, one model with every "
        "listed head (once per --balancing) and one single-task model per head, scores each with the trainer's "
        "validator, and writes OUT/compare.md, OUT/compare.json and OUT/compare.png (docs/multitask.md).",
    )
    parser.add_argument("--data", default="datasets/synthetic.yaml", help="dataset YAML or directory")
    parser.add_argument("--model", default="n", help="scale n|s|m or a model YAML (default n)")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), default=[128, 224], help="input size (default 128 224)")
    parser.add_argument("--max-steps", type=int, default=300, help="optimizer steps per model (default 300)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated heads to compare (default all four)")
    parser.add_argument("--balancing", default="fixed",
                        help=f"comma-separated balancers for the shared model, side by side ({', '.join(BALANCING_MODES)})")
    parser.add_argument("--fraction", type=float, default=None,
                        help="low-data setting: keep this share of --fraction-task's training labels (others whole)")
    parser.add_argument("--fraction-task", default="lanes", help="the task whose labels --fraction thins (default lanes)")
    parser.add_argument("--grad-monitor", type=int, default=0, metavar="N",
                        help="measure task-gradient cosines every N steps in the shared runs (0 = off)")
    parser.add_argument("--out", default="runs/compare", help="folder for the runs and the report")
    parser.add_argument("--device", default="cpu", help="cpu|cuda|cuda:N")
    parser.add_argument("--workers", type=int, default=2, help="data loader workers per run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it holds an earlier comparison (else: a new --out is refused, "
                        "the default moves on to runs/compare2)")
    from perception.cli.common import add_json_option

    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir

    with claimed_out_dir(args.out, "compare-tasks", default="runs/compare", exist_ok=args.exist_ok) as out:
        args.out = str(out)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from perception.cli.common import write_json
    from perception.config import BALANCING_MODES, TASKS
    from perception.atomic import write_text_atomic
    from perception.errors import InputError, MissingFileError
    from perception.jsonio import write_json_atomic
    from perception.multitask import CompareConfig, compare_tasks, render_markdown, write_chart

    balancers = [b.strip() for b in args.balancing.split(",") if b.strip()]
    bad = [b for b in balancers if b not in BALANCING_MODES]
    if bad or not balancers:
        raise InputError(f"--balancing {args.balancing}: each must be one of {', '.join(BALANCING_MODES)}")
    if not Path(args.data).exists():
        raise MissingFileError(f"--data {args.data}: not found (render the synthetic world with `perception synth` first)")
    config = CompareConfig(
        data=args.data, model=args.model, imgsz=tuple(args.imgsz), max_steps=args.max_steps, batch=args.batch, lr=args.lr,
        seed=args.seed, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], balancers=balancers,
        fraction=args.fraction, fraction_task=args.fraction_task, grad_monitor=args.grad_monitor, out=args.out,
        device=args.device, workers=args.workers,
    )
    result = compare_tasks(config, progress=not args.quiet, log=lambda line: print(line, flush=True))
    out = Path(args.out)
    command = "perception " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["compare-tasks"] else None
    text = render_markdown(result, command)
    write_text_atomic(out / "compare.md", text)
    write_json_atomic(out / "compare.json", result)
    write_chart(result, out / "compare.png")
    print(text)
    print(f"report: {out / 'compare.md'}, {out / 'compare.json'}, {out / 'compare.png'}")
    write_json(args.json, result)
    return 0
