"""`perception eval`: score a checkpoint or ONNX model on a dataset split and write the report."""

from __future__ import annotations

import argparse

from perception.cli.common import add_json_option, write_json
from perception.errors import InputError
from perception.thresholds import EVAL_CONF, EVAL_MAX_DETECTIONS, NMS_IOU


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model: COCO AP, MR^-2, lane and drivable metrics, report",
        description="Run a .pt checkpoint or .onnx model over a dataset split and compute the metrics the "
        "literature uses (docs/metrics.md): COCO AP per class, the vehicle protocol of the multi-task papers, "
        "CityPersons MR^-2, lane pixel/CULane/TuSimple metrics, drivable IoU. Writes report.json, report.md "
        "and figures to --out.",
    )
    parser.add_argument("--weights", required=True, help="model file: W.pt (PyTorch) or W.onnx (ONNX Runtime)")
    parser.add_argument("--data", required=True, help="dataset YAML (datasets/X.yaml) or a BDD100K-layout directory")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument("--out", required=True, help="output directory for the report")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), default=None, help="input size (default: the model's)")
    parser.add_argument("--batch", type=int, default=8, help="images per predictor call (default 8)")
    parser.add_argument("--conf", type=float, default=EVAL_CONF,
                        help=f"score threshold before NMS (default {EVAL_CONF}, as COCO; see perception/thresholds.py)")
    parser.add_argument("--iou", type=float, default=NMS_IOU, help=f"NMS IoU threshold (default {NMS_IOU})")
    parser.add_argument("--max-det", type=int, default=EVAL_MAX_DETECTIONS,
                        help=f"detections kept per image and class for AP (default {EVAL_MAX_DETECTIONS})")
    parser.add_argument("--vehicle-protocol", action="store_true",
                        help="also report the YOLOP/HybridNets 'vehicle' class (car+truck+bus+train): mAP50 and recall")
    parser.add_argument("--tasks", nargs="*", default=None, metavar="TASK",
                        help="tasks to score (default all): objects pedestrians lanes drivable")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda: torch device of a .pt model (default cpu), ONNX Runtime provider of an "
                        ".onnx one (default: the best that starts)")
    parser.add_argument("--trt-cache", default=None, metavar="DIR",
                        help="TensorRT engine and timing cache folder: the first start builds the engine (minutes), "
                        "later ones read it (seconds)")
    parser.add_argument("--trt-fp16", action="store_true", help="TensorRT: build fp16 engines")
    parser.add_argument("--worst", type=int, default=12, help="images in the worst-images grid (default 12, 0 = none)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad label instead of counting skips")
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it holds another report (else refused)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir

    with claimed_out_dir(args.out, "eval", exist_ok=args.exist_ok):  # one run per folder, none over another
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from perception.data.dataset import iter_samples
    from perception.data.errors import ErrorPolicy
    from perception.evaluation import EvalConfig
    from perception.evaluation.report import write_report
    from perception.evaluation.validator import Validator
    from perception.evaluation.worst import WorstImages
    from perception.loading import load_predictor
    from perception.structures import TASKS

    if args.batch < 1:
        raise InputError(f"--batch must be >= 1, got {args.batch}")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    config = EvalConfig(tasks=tuple(args.tasks) if args.tasks else TASKS, max_detections=args.max_det,
                        vehicle_protocol=args.vehicle_protocol, conf=args.conf, nms_iou=args.iou, worst_k=args.worst)
    worst = WorstImages(k=args.worst)
    validator = Validator(config, batch_size=args.batch, worst=worst)
    predictor = load_predictor(args.weights, imgsz=tuple(args.imgsz) if args.imgsz else None, device=args.device,
                               trt_cache_dir=args.trt_cache, trt_fp16=args.trt_fp16, trt_max_batch=args.batch,
                               **validator.predictor_options())
    policy = ErrorPolicy(strict=args.strict)
    samples = iter_samples(args.data, args.split, policy=policy)
    with tqdm(total=args.limit, desc=f"eval {args.split}", unit="img") as progress:
        metrics = validator(predictor, samples, args.limit, progress)
    if metrics["num_images"] == 0:
        raise InputError(f"{args.data}: split {args.split!r} has no images to evaluate")
    latency = validator.latency
    latency["imgsz"] = list(getattr(predictor, "imgsz", args.imgsz or []))
    latency["runtime"] = "onnxruntime" if str(args.weights).endswith(".onnx") else f"torch ({args.device or 'cpu'})"
    meta = {"weights": str(args.weights), "data": str(args.data), "split": args.split, "imgsz": latency["imgsz"],
            "batch": args.batch, "conf": args.conf, "iou": args.iou, "skipped": policy.summary()}
    report = write_report(args.out, metrics, meta, latency, worst)
    _print_headline(metrics, latency, policy.summary(), args.out, args.split)
    write_json(args.json, {"metrics": _headline(metrics), "latency": latency, "meta": meta, "report": report["figures"]})
    return 0


def _headline(m: dict) -> dict:
    """The few numbers a user compares across runs."""
    out = {"num_images": m["num_images"]}
    if m.get("objects"):
        out.update(map50=m["objects"]["map50"], map50_95=m["objects"]["map50_95"], recall50=m["objects"]["recall50"])
    if m.get("vehicle"):
        out.update(vehicle_map50=m["vehicle"]["map50"], vehicle_recall50=m["vehicle"]["recall50"])
    peds = m.get("pedestrians") or {}
    for setup in ("reasonable", "all"):
        if peds.get(setup):
            out[f"mr2_{setup}"] = peds[setup]["mr2"]
            out[f"ped_ap50_{setup}"] = peds[setup]["ap50"]
    if m.get("lanes"):
        out.update(lane_accuracy=m["lanes"]["pixel"]["accuracy"], lane_iou=m["lanes"]["pixel"]["iou"])
        if m["lanes"].get("culane"):
            out["culane_f1"] = m["lanes"]["culane"]["f1"]
        if m["lanes"].get("tusimple"):
            out["tusimple_accuracy"] = m["lanes"]["tusimple"]["accuracy"]
        markings = m["lanes"].get("markings") or {}
        if markings.get("bdd100k"):
            out.update({f"bdd_lane_f{b}px": markings["bdd100k"][f"F1_pix{b}"] / 100 for b in (1, 2, 5)})
        for name, value in (markings.get("attributes") or {}).items():
            if isinstance(value, dict):
                out[f"lane_{name}_accuracy"] = value["accuracy"]
    if m.get("drivable"):
        out.update(drivable_miou=m["drivable"]["miou"], drivable_binary_miou=m["drivable"]["binary_miou"])
    return out


def _print_headline(metrics: dict, latency: dict, skipped: dict, out_dir: str, split: str) -> None:
    from perception.data.errors import summary_lines

    for key, value in _headline(metrics).items():
        print(f"{key:<22}{value if isinstance(value, int) or value is None else f'{value:.4f}'}")
    if latency.get("median_ms_per_image") is not None:
        print(f"{'latency_ms/img':<22}{latency['median_ms_per_image']:.2f} ({latency['what']})")
    for line in summary_lines(skipped, f"{split}, not scored"):
        print(line)
    for name, summary in (metrics.get("per_source") or {}).items():
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in _headline(summary).items())
        print(f"source {name}: {shown}")
    print(f"report: {out_dir}/report.md")
