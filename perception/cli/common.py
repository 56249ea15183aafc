"""Small pieces every subcommand shares: flags from a config's fields and the command line back from a config,
the --json option and writing its summary atomically."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
from typing import Any

from perception.jsonio import write_json_atomic


def add_config_flags(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """A flag per field of `config_cls` that has help text (perception.config.option), default None so that only
    the flags given override a config file; `config_flags` reads them back."""
    for f in dataclasses.fields(config_cls):
        if f.metadata.get("help"):
            parser.add_argument(flag_name(f), **_flag_kwargs(f))


def flag_name(f: dataclasses.Field) -> str:
    """The flag of a config field: its option's `flag`, else `--field-name`."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def comma_list(text: str) -> list[str]:
    """`a,b` -> ['a', 'b'] (a list field's flag)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def comma_ints(text: str) -> list[int]:
    """`0,1` -> [0, 1] (a list-of-integers field's flag)."""
    return [int(part) for part in comma_list(text)]


def _flag_kwargs(f: dataclasses.Field) -> dict[str, Any]:
    """argparse keywords for one field, from its declared type: bool (`--x/--no-x`, or a plain switch for a
    `no_*` field), a fixed tuple (one value each), a variable tuple (one or more), a list of names (comma
    separated, names or integers), else one value of the field's type; `X | None` as X."""
    meta = f.metadata
    kind = str(f.type).replace(" | None", "")
    default = _field_default(f)
    shown = ",".join(map(str, default)) if isinstance(default, list) else \
        " ".join(map(str, default)) if isinstance(default, tuple) else default
    kwargs: dict[str, Any] = {"dest": f.name, "default": None, "metavar": meta.get("metavar")}
    kwargs["help"] = f"{meta['help']} (default {shown})" if default not in (None, "", [], ()) else meta["help"]
    if kind == "bool" and f.name.startswith("no_"):
        kwargs.update(action="store_const", const=True, metavar=None)
    elif kind == "bool":
        kwargs.update(action=argparse.BooleanOptionalAction, metavar=None)
    elif kind.startswith("tuple[") and kind.endswith(", ...]"):
        kwargs.update(type=int if kind.startswith("tuple[int") else str, nargs="+", choices=meta.get("choices"))
    elif kind.startswith("tuple[int"):
        metavar = ("H", "W") if f.name == "imgsz" else meta.get("metavar")
        kwargs.update(type=int, nargs=kind.count(",") + 1, metavar=metavar)
    elif kind.startswith("list[str"):
        kwargs.update(type=comma_list, metavar=meta.get("metavar") or "A,B")
    elif kind.startswith("list[int"):
        kwargs.update(type=comma_ints, metavar=meta.get("metavar") or "N,M")
    else:
        kwargs.update(type=int if kind == "int" else float if kind == "float" else str, choices=meta.get("choices"))
    if meta.get("const") is not None:
        kwargs.update(nargs="?", const=meta["const"])
    if meta.get("required"):
        kwargs.update(required=True, help=meta["help"])
    return kwargs


def config_flags(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The fields of `config_cls` given as flags (those `add_config_flags` added and the user set)."""
    names = [f.name for f in dataclasses.fields(config_cls) if f.metadata.get("help")]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def command_line(words: list[str], config: Any, extra: list[str] | tuple[str, ...] = ()) -> str:
    """The one way to rebuild a command from its config: `words` (`perception bench`), then the flag of every
    field with one (perception.config.option) whose value is set, in field order, then `extra`; quoted for a
    shell. Recorded with results so that they can be reproduced."""
    parts = list(words)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not f.metadata.get("help") or value is None:
            continue
        flag = flag_name(f)
        if isinstance(value, bool):
            default = _field_default(f)
            if f.name.startswith("no_"):
                parts += [flag] if value else []
            elif value != default:
                parts.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            parts += [flag, ",".join(map(str, value))]
        elif isinstance(value, tuple):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(str(p)) for p in [*parts, *extra])


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write a machine-readable summary of what was measured")


def write_json(path: str | os.PathLike | None, data: dict[str, Any]) -> None:
    """Write the --json summary (atomically); nothing when the option was not given."""
    if path:
        write_json_atomic(path, data)
