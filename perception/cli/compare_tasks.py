"""`perception compare-tasks`: one shared model vs one model per task, same data and budget, measured."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.cli.common import add_config_flags, add_json_option
    from perception.multitask.compare import CompareConfig

    parser = subparsers.add_parser(
        "compare-tasks",
        help="train a shared model and one model per task under one budget; tabulate metrics and cost",
        description="Trains, with the same data, scale, input size, seed and step budget, one model with every "
        "listed head (once per --balancing) and one single-task model per head, scores each with the trainer's "
        "validator, and writes OUT/compare.md, OUT/compare.json and OUT/compare.png (docs/multitask.md).",
    )
    add_config_flags(parser, CompareConfig)  # every comparison setting is a CompareConfig field
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it holds an earlier comparison (else: a new --out is refused, "
                        "the default moves on to runs/compare2)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from perception.cli.common import config_flags
    from perception.errors import MissingFileError
    from perception.multitask.compare import CompareConfig
    from perception.out_dir import claimed_out_dir

    config = CompareConfig(**config_flags(args, CompareConfig))
    if not Path(config.data).exists():
        raise MissingFileError(f"--data {config.data}: not found "
                               "(render the synthetic world with `perception synth` first)")
    with claimed_out_dir(config.out, "compare-tasks", default=CompareConfig().out, exist_ok=args.exist_ok) as out:
        return _run(args, config.replace(out=str(out)))


def _run(args: argparse.Namespace, config) -> int:
    from pathlib import Path

    from perception.atomic import write_text_atomic
    from perception.cli.common import command_line, write_json
    from perception.jsonio import write_json_atomic
    from perception.multitask import compare_tasks, render_markdown, write_chart

    result = compare_tasks(config, progress=not args.quiet, log=lambda line: print(line, flush=True))
    out = Path(config.out)
    text = render_markdown(result, command_line(["perception", "compare-tasks"], config))
    write_text_atomic(out / "compare.md", text)
    write_json_atomic(out / "compare.json", result)
    write_chart(result, out / "compare.png")
    print(text)
    print(f"report: {out / 'compare.md'}, {out / 'compare.json'}, {out / 'compare.png'}")
    write_json(args.json, result)
    return 0
