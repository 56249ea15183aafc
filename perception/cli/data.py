"""`perception data check|show`: validate a dataset and count its labels, or draw augmented samples."""

from __future__ import annotations

import argparse

from perception.cli.common import add_json_option, write_json
from perception.config import DEFAULT_IMGSZ
from perception.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="check a dataset or draw labelled samples",
                                   description="Validate datasets (data check) and draw augmented samples (data show).")
    sub = parser.add_subparsers(dest="data_command", metavar="<check|show>")
    check = sub.add_parser("check", help="load every image and label of a split; print counts and errors")
    check.add_argument("--data", required=True, help="dataset YAML (datasets/*.yaml) or a BDD100K-layout directory")
    check.add_argument("--split", default="val", help="split to check (default: val)")
    check.add_argument("--lenient", action="store_true", help="count and skip bad items instead of stopping at the first")
    add_json_option(check)
    show = sub.add_parser("show", help="draw augmented samples with their labels into a grid image")
    show.add_argument("--data", required=True, help="dataset YAML or a BDD100K-layout directory")
    show.add_argument("--out", required=True, help="output image (PNG/JPEG)")
    show.add_argument("--split", default="train", help="split to draw from (default: train)")
    show.add_argument("--num", type=int, default=16, help="number of samples (default: 16)")
    show.add_argument("--imgsz", type=int, nargs=2, default=DEFAULT_IMGSZ, metavar=("H", "W"),
                      help="input size (default: {} {})".format(*DEFAULT_IMGSZ))
    show.add_argument("--no-augment", action="store_true", help="letterbox only, as in evaluation")
    show.add_argument("--seed", type=int, default=0, help="random seed for sample choice and augmentation")
    add_json_option(show)
    parser.set_defaults(_data_parser=parser)
    return parser


def run(args) -> int:
    if args.data_command == "check":
        return _check(args)
    if args.data_command == "show":
        return _show(args)
    args._data_parser.print_help()
    return 2


def _check(args) -> int:
    from perception.data.check import check_dataset

    report = check_dataset(args.data, args.split, strict=not args.lenient)
    total = report["total"]
    for src in report["sources"]:
        print(f"{src['name']}: {src['images']} images, labelled {src['labelled']}, {sum(src['boxes_per_class'].values())} boxes, "
              f"{src['lanes']} lanes, {src['lane_masks']} lane masks, {src['drivable_masks']} drivable masks")
    print(f"total ({args.split}): {total['images']} images, {total['boxes']} boxes {total['boxes_per_class']}, "
          f"{total['ignore_boxes']} ignore boxes, {total['lanes']} lanes, {total['lane_masks']} lane masks, "
          f"{total['drivable_masks']} drivable masks")
    from perception.data.errors import summary_lines

    for name, tasks in report["missing_labels"].items():
        print(f"WARNING {name}: no label file, so no image labelled, for {', '.join(tasks)} (looked for {'; '.join(sorted(set(tasks.values())))})")
    print(f"errors: {report['errors']['total']} {report['errors']['by_kind']}")
    for line in summary_lines(report["errors"], args.split):
        print(line)
    write_json(args.json, report)
    return 0


def _show(args) -> int:
    import random

    import numpy as np
    from tqdm import tqdm

    from perception.config import ModelConfig
    from perception.data.dataset import build_dataset
    from perception.data.targets import lane_target
    from perception.data.visualize import draw_labels, make_grid
    from perception.imageio import write_image_atomic

    random.seed(args.seed)
    config = ModelConfig(imgsz=tuple(args.imgsz))
    dataset = build_dataset(args.data, args.split, config, train=not args.no_augment, strict=False)
    if len(dataset) == 0:
        raise InputError(f"{args.data}: split '{args.split}' has no labelled images")
    picks = random.Random(args.seed).sample(range(len(dataset)), min(args.num, len(dataset)))
    tiles, shown = [], []
    for k in tqdm(picks, desc="draw", leave=False):
        item = dataset.prepare(k)
        lanes, _ = lane_target(item.lanes, item.lane_attrs, item.lane_mask, item.labelled["lanes"], dataset.imgsz,
                               dataset.lane_slots, dataset.lane_thickness)
        drivable = item.drivable if item.labelled["drivable"] else None
        tiles.append(draw_labels(item.image, item.boxes, item.classes, lanes, drivable, dataset.lane_slots, item.ignore_boxes))
        shown.append({"path": item.path, "source": item.source, "boxes": int(len(item.boxes)), "lanes": len(item.lanes),
                      "flipped": item.flipped, "labelled": item.labelled})
    write_image_atomic(args.out, make_grid(tiles))
    print(f"wrote {args.out} ({len(tiles)} samples from {len(dataset)} in split '{args.split}')")
    write_json(args.json, {"out": args.out, "split": args.split, "num": len(tiles), "dataset_size": len(dataset),
                           "errors": dataset.policy.summary(), "samples": shown})
    return 0
