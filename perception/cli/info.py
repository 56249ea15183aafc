"""`perception info`: layer summary, parameters and GFLOPs per head and in total."""

from __future__ import annotations

import argparse

from perception.cli.common import add_json_option, write_json
from perception.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="layer summary, parameters and GFLOPs per head",
        description="Build a model (a scale, a model YAML or a checkpoint) and print its layers, parameters and "
        "GFLOPs per head and in total at the given input size (multiply-add = 2 FLOPs).",
    )
    parser.add_argument("--model", default="s", help="scale n|s|m, a model YAML, or a .pt checkpoint (default s)")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), default=None, help="input size (default: the model's)")
    parser.add_argument("--backbone", default=None, help="override the backbone (csp, resnet18, mobilenet_v3_large, ...)")
    parser.add_argument("--no-heads", nargs="*", default=[], metavar="TASK", help="switch heads off: objects pedestrians lanes drivable")
    parser.add_argument("--layers", action="store_true", help="list every top-level layer, not only the parts")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.config import TASKS
    from perception.models import build_model, load_model, model_config_from_arg
    from perception.models.summary import model_summary

    if str(args.model).endswith((".pt", ".pth")):
        if args.backbone or args.no_heads:
            # a checkpoint's weights fix its architecture; summarising another one would misreport it
            raise InputError(f"--backbone/--no-heads: {args.model} is a checkpoint whose architecture is fixed; "
                             "drop them, or pass --model SCALE|YAML to summarise a variant")
        model, config = load_model(args.model)
    else:
        bad = [t for t in args.no_heads if t not in TASKS]
        if bad:
            raise InputError(f"--no-heads: unknown task(s) {bad}; tasks are {list(TASKS)}")
        heads = {t: t not in args.no_heads for t in TASKS}
        config = model_config_from_arg(args.model, backbone=args.backbone, heads=heads)
        model = build_model(config)
    imgsz = tuple(args.imgsz) if args.imgsz else tuple(config.imgsz)
    if min(imgsz) < 32 or any(v % 32 for v in imgsz):
        raise InputError(f"--imgsz {imgsz[0]} {imgsz[1]}: both sides must be positive multiples of 32 (the model stride)")
    summary = model_summary(model, imgsz)
    summary["model"] = {"scale": config.scale, "backbone": config.backbone, "heads": config.enabled_tasks}

    print(f"perception model: scale {config.scale}, backbone {config.backbone}, input {imgsz[0]}x{imgsz[1]} (HxW)")
    if args.layers:
        print(f"\n{'layer':<28}{'type':<22}{'params':>12}{'GFLOPs':>10}")
        for layer in summary["layers"]:
            print(f"{layer['name']:<28}{layer['type']:<22}{layer['params']:>12,}{layer['gflops']:>10.3f}")
    print(f"\n{'part':<14}{'params':>12}{'GFLOPs':>10}")
    for part, values in summary["parts"].items():
        print(f"{part:<14}{values['params']:>12,}{values['gflops']:>10.3f}")
    total = summary["total"]
    print(f"{'total':<14}{total['params']:>12,}{total['gflops']:>10.3f}")
    print("\noutputs: " + ", ".join(f"{k} {tuple(v)}" for k, v in summary["outputs"].items()))
    write_json(args.json, summary)
    return 0
