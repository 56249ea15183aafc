"""`perception eval`: score a checkpoint or ONNX model on a dataset split and write the report."""

from __future__ import annotations

import argparse

from perception.cli.common import add_config_flags, add_json_option, config_flags, write_json
from perception.errors import InputError
from perception.evaluation.evaluator import EvalConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model: COCO AP, MR^-2, lane and drivable metrics, report",
        description="Run a .pt checkpoint or .onnx model over a dataset split and compute the metrics the "
        "literature uses (docs/metrics.md): COCO AP per class, the vehicle protocol of the multi-task papers, "
        "CityPersons MR^-2, lane pixel/CULane/TuSimple metrics, drivable IoU. Writes report.json, report.md "
        "and figures to --out.",
    )
    add_config_flags(parser, EvalConfig)  # every setting is an EvalConfig field, written into report.json
    # The model file was --weights before every command named it --model (train keeps --weights: initial weights).
    parser.add_argument("--weights", dest="model", help=argparse.SUPPRESS)
    parser.add_argument("--exist-ok", action="store_true",
                        help="write into --out even when it holds another report (else refused)")
    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.out_dir import claimed_out_dir

    config = EvalConfig(**config_flags(args, EvalConfig))
    missing = [flag for flag, value in (("--model", config.model), ("--data", config.data), ("--out", config.out))
               if value is None]
    if missing:
        raise InputError(f"eval needs {', '.join(missing)} (perception eval --help)")
    with claimed_out_dir(config.out, "eval", exist_ok=args.exist_ok):  # one run per folder, none over another
        return _run(args, config)


def _run(args: argparse.Namespace, config: EvalConfig) -> int:
    from tqdm import tqdm

    from perception.data.dataset import iter_samples
    from perception.data.errors import ErrorPolicy
    from perception.evaluation.report import write_report
    from perception.evaluation.validator import Validator
    from perception.evaluation.worst import WorstImages
    from perception.loading import load_predictor

    worst = WorstImages(k=config.worst_k)
    validator = Validator(config, batch_size=config.batch, worst=worst)
    predictor = load_predictor(config.model, imgsz=config.imgsz, device=config.device, trt_cache_dir=config.trt_cache,
                               trt_fp16=config.trt_fp16, trt_max_batch=config.batch, **validator.predictor_options())
    policy = ErrorPolicy(strict=config.strict)
    samples = iter_samples(config.data, config.split, policy=policy)
    with tqdm(total=config.limit, desc=f"eval {config.split}", unit="img") as progress:
        metrics = validator(predictor, samples, config.limit, progress)
    if metrics["num_images"] == 0:
        raise InputError(f"{config.data}: split {config.split!r} has no images to evaluate")
    latency = validator.latency
    latency["imgsz"] = list(getattr(predictor, "imgsz", config.imgsz or []))
    latency["runtime"] = "onnxruntime" if str(config.model).endswith(".onnx") else f"torch ({config.device or 'cpu'})"
    meta = {"model": str(config.model), "data": str(config.data), "split": config.split, "imgsz": latency["imgsz"],
            "batch": config.batch, "conf": config.conf, "iou": config.nms_iou, "skipped": policy.summary()}
    report = write_report(config.out, metrics, meta, latency, worst)
    _print_headline(metrics, latency, policy.summary(), config.out, config.split)
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
