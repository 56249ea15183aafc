"""JSON the way every output of perception is written: numpy values as plain numbers, files replaced
atomically so a reader never sees half a summary. numpy only (the torch-free runtime and video tool use it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from perception.atomic import atomic_path


def to_builtin(value: Any) -> Any:
    """`json.dump(default=...)`: numpy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    """Write `data` as JSON (numpy values as plain numbers) to a temp file beside `path`, then rename it over
    `path`. indent None: one line, for large label files."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent, default=to_builtin)
        if indent is not None:
            handle.write("\n")
