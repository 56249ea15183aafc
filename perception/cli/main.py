"""Entry point of the `perception` command (git/yolo style subcommands)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from perception import __version__
from perception.errors import PerceptionError
from perception.extras import missing_extra_hint

# Subcommand name -> module in perception.cli. Each module defines
# `add_parser(subparsers) -> argparse.ArgumentParser` and `run(args) -> int`.
SUBCOMMANDS = {
    "info": "info",
    "synth": "synth",
    "data": "data",
    "train": "train",
    "eval": "evaluate",
    "export": "export",
    "release": "release",
    "infer": "infer",
    "bench": "bench",
    "demo": "demo",
    "compare-tasks": "compare_tasks",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `perception` parser with every subcommand, or with the subcommand `only` (its module run alone)."""
    parser = argparse.ArgumentParser(
        prog="perception",
        description="Multi-task driving perception: objects, pedestrians, lanes and drivable area.",
    )
    parser.add_argument("--version", action="version", version=f"perception {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of every error (also PERCEPTION_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module_name in SUBCOMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(f"perception.cli.{module_name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None, only: str | None = None) -> int:
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("PERCEPTION_DEBUG", "") not in ("", "0")
    return run_command(args.command, lambda: args.func(args), debug)


def run_command(name: str, call, debug: bool = False) -> int:
    """Exit code of `call()`: the project's own errors as one line (exit 2), anything else with its traceback.

    A numpy or torch ValueError is a bug, not a user error: shown as one line it would hide where it came from.
    """
    try:
        return int(call() or 0)
    except KeyboardInterrupt:
        print("perception: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        # The base install has no torch (vehicles run ONNX models); say which extra the command needs.
        hint = missing_extra_hint(exc)
        if hint is None:
            raise
        print(f"perception {name}: error: {hint}", file=sys.stderr)
        return 2
    except PerceptionError as exc:
        if debug:
            traceback.print_exc()
        print(f"perception {name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
