"""Small pieces every subcommand shares: the --json option and writing its summary atomically."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class CLIError(RuntimeError):
    """A user-facing failure: printed as one line by `perception`, exit code 2."""


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write a machine-readable summary of what was measured")


def write_json(path: str | os.PathLike | None, data: dict[str, Any]) -> None:
    """Write JSON via a temp file + rename so a reader never sees half a summary."""
    if not path:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, default=_to_builtin)
        handle.write("\n")
    os.replace(tmp, path)


def _to_builtin(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
