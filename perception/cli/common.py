"""Small pieces every subcommand shares: the --json option and writing its summary atomically."""

from __future__ import annotations

import argparse
import os
from typing import Any

from perception.jsonio import write_json_atomic
from perception.errors import PerceptionError


class CLIError(PerceptionError, RuntimeError):
    """A user-facing failure: printed as one line by `perception`, exit code 2."""


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write a machine-readable summary of what was measured")


def write_json(path: str | os.PathLike | None, data: dict[str, Any]) -> None:
    """Write the --json summary (atomically); nothing when the option was not given."""
    if path:
        write_json_atomic(path, data)
