"""`perception export`: checkpoint or fresh model -> ONNX (+ FP16, INT8, in-graph NMS), verified against PyTorch."""

from __future__ import annotations

import argparse

from perception.cli.common import add_json_option, write_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX and check it against PyTorch",
        description="Export the fused network (EMA weights) to ONNX with self-describing metadata, check ONNX "
        "Runtime against PyTorch (max abs diff <= 1e-3), and optionally write FP16 and INT8 copies.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="CKPT", help="training checkpoint (.pt); EMA weights are used when present")
    source.add_argument("--model", metavar="SCALE|YAML", help="export a freshly initialised model (n, s, m or a YAML)")
    parser.add_argument("--out", required=True, metavar="PATH", help="output .onnx file")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), help="input size (default: the model's)")
    parser.add_argument("--batch", type=int, default=None, help="fixed batch size (default: dynamic batch axis)")
    parser.add_argument("--dynamic", action="store_true", help="also make height and width dynamic")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--half", action="store_true", help="also write <out>.fp16.onnx for GPU providers")
    parser.add_argument("--int8", action="store_true", help="also write <out>.int8.onnx (static QDQ, per-channel)")
    parser.add_argument("--calib", metavar="DIR", help="image folder for --int8 calibration and its verdict, and for the parity check")
    parser.add_argument("--calib-count", type=int, default=32, help="calibration images to use (default 32)")
    parser.add_argument("--nms", action="store_true", help="decode boxes and run NonMaxSuppression inside the graph")
    parser.add_argument("--conf", type=float, default=None, help="--nms score threshold (default: the model's)")
    parser.add_argument("--iou", type=float, default=None, help="--nms IoU threshold (default: the model's)")
    parser.add_argument("--max-det", type=int, default=None, help="--nms detections per class and image")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxslim simplification")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for parity and latency (default 2)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.deploy.pipeline import export_model

    # None thresholds are filled from the model's config by the library.
    nms = {"conf_threshold": args.conf, "iou_threshold": args.iou, "max_detections": args.max_det} if args.nms else None
    summary = export_model(
        args.out,
        weights=args.weights,
        model=args.model,
        imgsz=tuple(args.imgsz) if args.imgsz else None,
        batch=args.batch,
        dynamic=args.dynamic,
        opset=args.opset,
        half=args.half,
        int8=args.int8,
        calib=args.calib,
        calib_count=args.calib_count,
        nms=nms,
        simplify=not args.no_simplify,
        threads=args.threads,
    )
    for tag, info in summary["files"].items():
        print(f"{tag}: {info['path']} ({info['bytes'] / 1e6:.2f} MB)")
    for tag, parity in summary["parity"].items():
        worst = max(parity["max_abs_diff"].values()) if parity["max_abs_diff"] else 0.0
        source = parity["source"] if parity["source"] in ("given", "synthetic", str(args.calib)) else \
            f"frames read from {parity['source']}, found beside the checkout: name a folder with --calib"
        note = " (raw output difference, not a verdict)" if tag == "int8" else ""
        print(f"parity {tag}: max abs diff {worst:.2e}{note} on {parity['images']} image(s) ({source})")
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
