"""Adding one accumulator's state into another's: how a sharded validation (one Evaluator per DDP rank, each
on its part of the split) becomes the whole split's, exactly as if one process had seen every image."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


def add_state(mine: Any, theirs: Any) -> Any:
    """Counters (numbers, arrays) add, lists concatenate in order (mine first), dicts and dataclasses field by field."""
    if isinstance(mine, dict):
        if mine.keys() != theirs.keys():
            raise ValueError(f"cannot merge accumulators with different keys: {sorted(mine)} vs {sorted(theirs)}")
        return {key: add_state(value, theirs[key]) for key, value in mine.items()}
    if dataclasses.is_dataclass(mine):
        return type(mine)(**{f.name: add_state(getattr(mine, f.name), getattr(theirs, f.name))
                             for f in dataclasses.fields(mine)})
    return mine + theirs


def merge_fields(mine: Any, theirs: Any, fields: Iterable[str]) -> None:
    """Add `theirs`' accumulated `fields` into `mine` (both built with the same settings)."""
    if type(mine) is not type(theirs):
        raise TypeError(f"cannot merge a {type(theirs).__name__} into a {type(mine).__name__}")
    for name in fields:
        setattr(mine, name, add_state(getattr(mine, name), getattr(theirs, name)))
