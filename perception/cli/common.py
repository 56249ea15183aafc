"""Small pieces every subcommand shares: the --json option and writing its summary atomically."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from perception.jsonio import write_json_atomic


def add_config_flags(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """A flag per field of `config_cls` that has help text (perception.config.option), default None so that only
    the flags given override a config file; `config_flags` reads them back."""
    for f in dataclasses.fields(config_cls):
        meta = f.metadata
        if not meta.get("help"):
            continue
        kind = str(f.type)
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "metavar": meta.get("metavar")}
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs["help"] = f"{meta['help']} (default {shown})" if default not in (None, "") else meta["help"]
        if kind == "bool":
            kwargs.update(action=argparse.BooleanOptionalAction, metavar=None)
        elif kind.startswith("tuple[int"):
            kwargs.update(type=int, nargs=len(default), metavar=("H", "W") if f.name == "imgsz" else meta.get("metavar"))
        else:
            kwargs.update(type=int if kind == "int" else float if kind == "float" else str, choices=meta.get("choices"))
        parser.add_argument(meta.get("flag") or "--" + f.name.replace("_", "-"), **kwargs)


def config_flags(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The fields of `config_cls` given as flags (those `add_config_flags` added and the user set)."""
    names = [f.name for f in dataclasses.fields(config_cls) if f.metadata.get("help")]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", default=None, help="write a machine-readable summary of what was measured")


def write_json(path: str | os.PathLike | None, data: dict[str, Any]) -> None:
    """Write the --json summary (atomically); nothing when the option was not given."""
    if path:
        write_json_atomic(path, data)
