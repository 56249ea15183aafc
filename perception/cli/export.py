"""`perception export`: checkpoint or fresh model -> ONNX (+ FP16, INT8, in-graph NMS), verified against PyTorch."""

from __future__ import annotations

import argparse

from perception.cli.common import add_config_flags, add_json_option, config_flags, write_json
from perception.deploy.export_config import ExportConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX and check it against PyTorch",
        description="Export the fused network (EMA weights) to ONNX with self-describing metadata, check ONNX "
        "Runtime against PyTorch (max abs diff <= 1e-3), and optionally write FP16 and INT8 copies.",
    )
    add_config_flags(parser, ExportConfig)  # every setting is an ExportConfig field
    # A checkpoint was --weights before every command named the model --model (train keeps --weights).
    parser.add_argument("--weights", dest="model", help=argparse.SUPPRESS)
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.deploy.export_job import export_model

    options = config_flags(args, ExportConfig)
    summary = export_model(options.pop("out", ExportConfig().out), **options)
    for tag, info in summary["files"].items():
        print(f"{tag}: {info['path']} ({info['bytes'] / 1e6:.2f} MB)")
    for tag, parity in summary["parity"].items():
        worst = max(parity["max_abs_diff"].values(), default=0.0)
        relative = max(parity["max_rel_diff"].values(), default=0.0)
        source = parity["source"] if parity["source"] in ("given", "synthetic", str(options.get("calib"))) else \
            f"frames read from {parity['source']}, found beside the checkout: name a folder with --calib"
        note = " (raw output difference, not a verdict)" if tag == "int8" else ""
        print(f"parity {tag}: max abs diff {worst:.2e}, {relative:.2e} of the output's magnitude{note} on "
              f"{parity['images']} image(s) ({source})")
    if "int8" in summary and "verdict" in summary["int8"]:
        from perception.deploy.agreement import verdict_line

        print(f"int8 verdict: {verdict_line(summary['int8']['verdict'])}")
    if "latency_cpu" in summary:
        lat = summary["latency_cpu"]
        print(f"CPU latency ({lat['fp32']['threads']} threads): fp32 {lat['fp32']['median_ms']:.1f} ms, "
              f"int8 {lat['int8']['median_ms']:.1f} ms (x{lat['int8_speedup']:.2f})")
    write_json(args.json, summary)
    if args.json:
        print(f"summary: {args.json}")
    return 0


if __name__ == "__main__":
    # `python -m perception.cli.export ARGS` = `perception export ARGS`: the same runner (one-line errors, the
    # extras hint, PERCEPTION_DEBUG=1 for tracebacks), with a parser of this subcommand alone.
    import sys

    from perception.cli.main import main

    sys.exit(main(["export", *sys.argv[1:]], only="export"))
