"""`perception synth`: render a labelled synthetic driving dataset (and optionally a clip) in BDD100K layout."""

from __future__ import annotations

import argparse
import os

from perception.config import DEFAULT_IMGSZ
from perception.errors import InputError


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.cli.common import add_json_option

    parser = subparsers.add_parser(
        "synth",
        help="render a synthetic labelled driving dataset in BDD100K's layout",
        description=(
            "Render camera-perspective road scenes with exact labels (boxes with visibility, lane "
            "polylines, drivable area) into DIR in BDD100K's official layout, so the BDD100K loader reads it. "
            "Deterministic by seed; parallel across cores."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset root to write")
    parser.add_argument("--num", type=int, default=100, help="number of images (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed: the same seed gives identical files")
    parser.add_argument("--imgsz", type=int, nargs=2, default=DEFAULT_IMGSZ, metavar=("H", "W"),
                        help="image size (default {} {})".format(*DEFAULT_IMGSZ))
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of images in the val split (default 0.2)")
    parser.add_argument("--video", type=float, default=None, metavar="SECONDS", help="also write DIR/video/synth.mp4 of this length")
    parser.add_argument("--fps", type=float, default=10.0, help="frame rate of --video (default 10)")
    parser.add_argument("--workers", type=int, default=None, help=f"processes (default: all {os.cpu_count()} cores)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it already holds files (else refused)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir

    with claimed_out_dir(args.out, "synth", exist_ok=args.exist_ok):  # one run per folder, none over another
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from perception.cli.common import write_json
    from perception.data.synthetic.video import write_clip
    from perception.data.synthetic.writer import generate_dataset

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: {args.workers} must be at least 1")
    summary = generate_dataset(
        args.out, args.num, seed=args.seed, imgsz=tuple(args.imgsz), val_fraction=args.val_fraction,
        workers=args.workers, progress=not args.no_progress,
    )
    print(
        f"synth: {summary['images']['train']} train + {summary['images']['val']} val images in {args.out} "
        f"({summary['seconds']:.1f} s, {summary['images_per_second']:.1f} images/s)"
    )
    print("objects: " + ", ".join(f"{k} {v}" for k, v in summary["objects"].items()))
    if args.video:
        clip = write_clip(args.out, args.video, fps=args.fps, seed=args.seed, imgsz=tuple(args.imgsz),
                          workers=args.workers, progress=not args.no_progress)
        summary["video"] = clip
        print(f"video: {clip['video']} ({clip['frames']} frames at {clip['fps']} fps)")
    write_json(args.json, summary)
    return 0
