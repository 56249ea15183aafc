"""Entry point of the `perception` command (git/yolo style subcommands)."""

from __future__ import annotations

import argparse
import importlib
import sys

from perception import __version__
from perception.cli.common import CLIError

# Subcommand name -> module in perception.cli. Each module defines
# `add_parser(subparsers) -> argparse.ArgumentParser` and `run(args) -> int`.
SUBCOMMANDS = {
    "info": "info",
    "synth": "synth",
    "data": "data",
    "train": "train",
    "eval": "evaluate",
    "export": "export",
    "infer": "infer",
    "bench": "bench",
    "demo": "demo",
    "compare-tasks": "compare_tasks",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perception",
        description="Multi-task driving perception: objects, pedestrians, lanes and drivable area.",
    )
    parser.add_argument("--version", action="version", version=f"perception {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(f"perception.cli.{module_name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("perception: interrupted", file=sys.stderr)
        return 130
    except (CLIError, FileNotFoundError, ValueError) as exc:
        # Library errors are written as one line naming the file or argument; show just that line.
        print(f"perception {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
