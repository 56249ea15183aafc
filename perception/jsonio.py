"""JSON the way every output of perception is written: numpy values as plain numbers, files replaced
atomically so a reader never sees half a summary; and read back with one line naming a file that is not JSON.
numpy only (the torch-free runtime and video tool use it)."""

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


def read_json(path: str | os.PathLike, fix: str = "") -> Any:
    """The JSON in `path`; InputError naming the file (and `fix`, what to do about it) when it is not JSON."""
    from perception.errors import InputError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error}){'; ' + fix if fix else ''}") from None
