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
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.cli.common import write_json
    from perception.deploy.release import release_checkpoint

    summary = release_checkpoint(args.model, args.out, half=args.half)
    print(f"release: {summary['out']} ({summary['out_mb']:.1f} MB, {summary['dtype']} {summary['weights']} weights "
          f"of epoch {summary['epoch']}, step {summary['step']}) from {summary['source']} ({summary['source_mb']:.1f} MB)")
    write_json(args.json, summary)
    return 0
