"""`perception release`: a training checkpoint reduced to its inference weights (perception.deploy.release)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.cli.common import add_json_option

    parser = subparsers.add_parser(
        "release",
        help="a training checkpoint reduced to the weights inference needs (no optimizer state), optionally fp16",
        description="Write the EMA weights of a training checkpoint, its model config and its provenance (epoch, "
        "step, metrics, training config) to a file that eval, export, infer and bench read like any checkpoint, "
        "without the optimizer, scheduler and RNG state that only resuming needs (a quarter of the size; an eighth "
        "with --half).",
    )
    parser.add_argument("--model", required=True, metavar="CKPT", help="training checkpoint (last.pt or best.pt)")
    parser.add_argument("--out", required=True, metavar="PATH", help="released checkpoint to write (.pt)")
    parser.add_argument("--half", action="store_true", help="store the weights as float16 (loaded back as float32)")
    parser.add_argument("--card", action="store_true",
                        help="also write the model card OUT.md (model, training, machine, metrics, the settings that "
                        "reproduce it), from the checkpoint's own provenance")
    parser.add_argument("--eval", default=None, metavar="JSON",
                        help="a `perception eval --json` summary of this model, whose metrics the card shows")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.cli.common import write_json
    from perception.deploy.release import release_checkpoint

    summary = release_checkpoint(args.model, args.out, half=args.half)
    if args.card or args.eval:
        summary["card"] = str(write_card(args.out, args.eval))
    print(f"release: {summary['out']} ({summary['out_mb']:.1f} MB, {summary['dtype']} {summary['weights']} weights "
          f"of epoch {summary['epoch']}, step {summary['step']}) from {summary['source']} ({summary['source_mb']:.1f} MB)")
    if "card" in summary:
        print(f"release: model card {summary['card']}")
    write_json(args.json, summary)
    return 0


def write_card(weights: str, eval_json: str | None):
    from pathlib import Path

    from perception.atomic import write_text_atomic
    from perception.deploy.model_card import model_card
    from perception.engine.checkpoint import load_checkpoint

    evaluation = read_eval_summary(eval_json) if eval_json else None
    card = Path(weights).with_suffix(".md")
    write_text_atomic(card, model_card(load_checkpoint(weights), weights, evaluation))
    return card


def read_eval_summary(path: str) -> dict:
    import json
    from pathlib import Path

    from perception.errors import InputError, MissingFileError

    if not Path(path).is_file():
        raise MissingFileError(f"{path}: eval summary not found")
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path}: not a `perception eval --json` summary (no 'metrics' object)")
    return data
