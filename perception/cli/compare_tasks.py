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
        "validator, once per seed, and writes OUT/compare.md (the verdict per task with its noise band, the cost, "
        "the gradient monitor), OUT/compare.json, OUT/compare.png and OUT/curves.png (docs/multitask.md).",
    )
    add_config_flags(parser, CompareConfig)  # every comparison setting is a CompareConfig field
    parser.add_argument("--merge", nargs="+", metavar="DIR",
                        help="train nothing: report the comparisons in these folders (the same experiment with other "
                        "seeds) as one, into --out")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted comparison in --out: finished models are kept, an interrupted "
                        "one continues from its last.pt, the rest train (its settings are the saved ones; only "
                        "--device, --workers may change)")
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

    flags = config_flags(args, CompareConfig)
    config = CompareConfig(**flags)
    if args.merge:
        return _merge(args, config)
    if args.resume:
        config = _resumed_config(config, flags)
    if not Path(config.data).exists():
        raise MissingFileError(f"--data {config.data}: not found "
                               "(render the synthetic world with `perception synth` first)")
    with claimed_out_dir(config.out, "compare-tasks", default=CompareConfig().out,
                         exist_ok=args.exist_ok or args.resume) as out:
        return _run(args, config.replace(out=str(out)))


# What a resumed comparison may change: where and how fast it runs.
RESUME_FIELDS = {"out", "device", "workers"}


def _resumed_config(config, flags: dict):
    """The settings of the comparison to continue in --out: the saved ones (flags that differ are refused), or,
    for a comparison started before they were saved, the flags given (each model's last.pt then checks them)."""
    import dataclasses
    from pathlib import Path

    from perception.cli.common import flag_name
    from perception.errors import InputError, MissingFileError
    from perception.jsonio import read_json
    from perception.multitask.compare import CONFIG_FILE, CompareConfig

    out = Path(config.out)
    if not out.is_dir() or not any(out.iterdir()):
        raise MissingFileError(f"--out {out}: nothing to resume (no comparison there)")
    if not (out / CONFIG_FILE).is_file():
        return config
    data = read_json(out / CONFIG_FILE, "it holds the comparison's settings")
    if isinstance(data, dict) and "imgsz" in data:
        data["imgsz"] = tuple(data["imgsz"])  # JSON has no tuples
    saved = CompareConfig.from_dict(data, source=str(out / CONFIG_FILE))
    flag_names = {f.name: flag_name(f) for f in dataclasses.fields(CompareConfig)}
    for key, value in flags.items():
        old = getattr(saved, key)
        if key not in RESUME_FIELDS and (list(old) if isinstance(old, (list, tuple)) else old) != (
                list(value) if isinstance(value, (list, tuple)) else value):
            flag = flag_names[key]
            raise InputError(f"{flag}: the comparison in {out} was started with {old!r}, and a resumed one cannot "
                             f"change it; drop {flag} or start a new comparison with another --out")
    return saved.replace(**{k: v for k, v in flags.items() if k in RESUME_FIELDS})


def _run(args: argparse.Namespace, config) -> int:
    from perception.cli.common import command_line
    from perception.multitask import compare_tasks

    result = compare_tasks(config, progress=not args.quiet, log=lambda line: print(line, flush=True),
                           resume=args.resume)
    return _report(args, result, config.out, command_line(["perception", "compare-tasks"], config))


def _merge(args: argparse.Namespace, config) -> int:
    from pathlib import Path

    from perception.errors import MissingFileError
    from perception.jsonio import read_json
    from perception.multitask.compare import merge_comparisons
    from perception.out_dir import claimed_out_dir

    paths = [Path(folder) / "compare.json" for folder in args.merge]
    for path in paths:
        if not path.is_file():
            raise MissingFileError(f"--merge {path.parent}: no compare.json there (not a finished comparison)")
    result = merge_comparisons([read_json(p) for p in paths], [str(p.parent) for p in paths])
    with claimed_out_dir(config.out, "compare-tasks", default=config.__class__().out, exist_ok=args.exist_ok) as out:
        return _report(args, result, str(out), "perception compare-tasks --merge " + " ".join(args.merge))


def _report(args: argparse.Namespace, result: dict, out: str, command: str) -> int:
    from pathlib import Path

    from perception.atomic import write_text_atomic
    from perception.cli.common import write_json
    from perception.jsonio import write_json_atomic
    from perception.multitask import render_markdown, write_chart, write_curves
    from perception.multitask.report import learning_curves
    from perception.multitask.verdict import verdict

    out_dir = Path(out)
    result = {**result, "verdict": verdict(result, learning_curves(result))}
    text = render_markdown(result, command)
    write_text_atomic(out_dir / "compare.md", text)
    write_json_atomic(out_dir / "compare.json", result)
    written = [out_dir / "compare.md", out_dir / "compare.json", write_chart(result, out_dir / "compare.png")]
    written += [p for p in [write_curves(result, out_dir / "curves.png")] if p]
    print(text)
    print("report: " + ", ".join(map(str, written)))
    write_json(args.json, result)
    return 0
