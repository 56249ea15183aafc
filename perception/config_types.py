"""A config value against its field's declared type: converted where YAML or a flag gives the same thing in another
form (16 for 16.0, "2e-3" for 0.002: PyYAML reads a float without a dot as a string, [384, 640] for a tuple),
else a ConfigError naming `section.key`, the value and the type expected (`train.batch: 'many' is not an int`).

Used by perception.config.ConfigBase before each config's own `validate`, so every config file and every
`ConfigBase` built from flags reports a wrong type the same way. Standard library only.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any


class FieldTypeError(ValueError):
    """A value that is not of its field's type; `expected` says what it should be (`an int`)."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def check_field_types(config: Any, section: str, error: type[Exception]) -> None:
    """Convert each field of the dataclass `config` to its declared type in place, or raise `error` naming it."""
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name not in hints:
            continue
        try:
            setattr(config, f.name, coerce(value, hints[f.name]))
        except FieldTypeError as exc:
            raise error(f"{section}.{f.name}: {value!r} is not {exc.expected}") from None


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, kind: Any) -> Any:
    """`value` as `kind` (int, float, bool, str, Path, X | None, tuple[...], list[X], dict[K, V]); other kinds
    pass through unchecked (the config's own validate checks them). FieldTypeError when it is not one."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _union(value, args)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise FieldTypeError("true or false")
    if kind is int:
        return _int(value)
    if kind is float:
        return _float(value)
    if kind is str:
        if isinstance(value, (str, os.PathLike)):
            return str(value) if not isinstance(value, str) else value
        raise FieldTypeError("a string")
    if kind is Path:
        if isinstance(value, (str, os.PathLike)):
            return value
        raise FieldTypeError("a path")
    if origin in (tuple, list):
        return _sequence(value, origin, args)
    if origin is dict and len(args) == 2:
        if not isinstance(value, dict):
            raise FieldTypeError(f"a mapping of {describe(args[0], plural=True)} to {describe(args[1], plural=True)}")
        try:
            return {k: coerce(v, args[1]) for k, v in value.items()}
        except FieldTypeError:
            raise FieldTypeError(f"a mapping of {describe(args[0], plural=True)} to "
                                 f"{describe(args[1], plural=True)}") from None
    return value


def _union(value: Any, args: tuple) -> Any:
    if value is None and type(None) in args:
        return None
    for member in args:
        if member is type(None):
            continue
        try:
            return coerce(value, member)
        except FieldTypeError:
            continue
    raise FieldTypeError(" or ".join(describe(a) for a in args))


def _int(value: Any) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise FieldTypeError("an int")


def _float(value: Any) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise FieldTypeError("a number")


def _sequence(value: Any, origin: type, args: tuple) -> Any:
    expected = _describe_sequence(args)
    if not isinstance(value, (list, tuple)):
        raise FieldTypeError(expected)
    if origin is tuple and args and args[-1] is not Ellipsis and len(value) != len(args):
        raise FieldTypeError(expected)
    kinds = [args[0]] * len(value) if (origin is list or (args and args[-1] is Ellipsis)) else list(args)
    try:
        items = [coerce(v, k) for v, k in zip(value, kinds)] if args else list(value)
    except FieldTypeError:
        raise FieldTypeError(expected) from None
    return tuple(items) if origin is tuple else items


def _describe_sequence(args: tuple) -> str:
    if not args:
        return "a list"
    if args[-1] is Ellipsis or len(set(args)) == 1:
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        return f"a list of {count}{describe(args[0], plural=True)}"
    return f"a list of {', '.join(describe(a) for a in args)}"


def describe(kind: Any, plural: bool = False) -> str:
    """`an int` / `ints`, `a number` / `numbers`, ... for error messages."""
    names = {int: ("an int", "ints"), float: ("a number", "numbers"), bool: ("true or false", "true or false"),
             str: ("a string", "names"), Path: ("a path", "paths"), type(None): ("null", "null")}
    if kind in names:
        return names[kind][plural]
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        return _describe_sequence(typing.get_args(kind))
    if kind is dict or origin is dict:
        return "a mapping"
    return getattr(kind, "__name__", str(kind))
