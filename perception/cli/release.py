"""`perception release`: a training checkpoint reduced to its inference weights (perception.deploy.release)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.cli.common import add_config_flags, add_json_option
    from perception.deploy.release import ReleaseConfig

    parser = subparsers.add_parser(
        "release",
        help="a training checkpoint reduced to the weights inference needs (no optimizer state), optionally fp16",
        description="Write the EMA weights of a training checkpoint, its model config and its provenance (epoch, "
        "step, metrics, training config) to a file that eval, export, infer and bench read like any checkpoint, "
        "without the optimizer, scheduler and RNG state that only resuming needs (a quarter of the size; an eighth "
        "with --half).",
    )
    add_config_flags(parser, ReleaseConfig)  # every setting is a ReleaseConfig field
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.cli.common import config_flags, write_json
    from perception.deploy.model_card import read_eval_summary, write_model_card
    from perception.deploy.release import ReleaseConfig, release_checkpoint

    config = ReleaseConfig(**config_flags(args, ReleaseConfig))
    evaluation = read_eval_summary(config.eval) if config.eval else None  # a bad one stops before anything is written
    summary = release_checkpoint(config.model, config.out, half=config.half)
    if config.card or evaluation is not None:
        summary["card"] = str(write_model_card(config.out, evaluation))
    print(f"release: {summary['out']} ({summary['out_mb']:.1f} MB, {summary['dtype']} {summary['weights']} weights "
          f"of epoch {summary['epoch']}, step {summary['step']}) from {summary['source']} ({summary['source_mb']:.1f} MB)")
    if "card" in summary:
        print(f"release: model card {summary['card']}")
    write_json(args.json, summary)
    return 0
