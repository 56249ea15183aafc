"""The evaluation report: report.json (everything), report.md (paper-style tables) and the figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perception.atomic import write_text_atomic
from perception.evaluation import plots
from perception.imageio import write_image_atomic
from perception.jsonio import write_json_atomic


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _data_lines(report: dict[str, Any]) -> list[str]:
    """What was not scored (skipped images and labels, images left out) and each source of a mixed split."""
    from perception.data.errors import summary_lines

    skipped = report.get("meta", {}).get("skipped")
    lines = [f"- {line}" for line in summary_lines(skipped, "not scored")] if skipped else []
    for name, summary in (report["metrics"].get("per_source") or {}).items():
        objects = summary.get("objects") or {}
        lines.append(f"- source {name}: {summary['num_images']} images (per task: {summary['images_per_task']})"
                     + (f", objects mAP50 {_pct(objects['map50'])}" if objects else "")
                     + "; all its metrics in report.json metrics.per_source")
    return lines


def markdown_report(report: dict[str, Any]) -> str:
    """Tables laid out like the multi-task papers' (percentages), one section per scored task."""
    metrics = report["metrics"]
    lines = ["# Evaluation report", ""]
    meta = report.get("meta", {})
    for key in ("model", "data", "split", "imgsz", "batch", "conf", "iou"):
        if key in meta:
            lines.append(f"- {key}: `{meta[key]}`")
    latency = report.get("latency") or {}
    if latency.get("median_ms_per_image") is not None:
        lines.append(f"- latency: {latency['median_ms_per_image']:.2f} ms/image median ({latency.get('what', '')})")
    lines += [f"- images: {metrics['num_images']} (per task: {metrics['images_per_task']})", *_data_lines(report), ""]

    objects = metrics.get("objects")
    if objects:
        lines += ["## Objects (COCO AP, 101-point, area 'all', "
                  f"max {objects['max_detections']} detections per image and class)", ""]
        rows = [[name, str(v["num_gt"]), _pct(v["ap50"]), _pct(v["ap50_95"]), _pct(v["recall50"])]
                for name, v in objects["per_class"].items()]
        rows.append(["**mean**", "", _pct(objects["map50"]), _pct(objects["map50_95"]), _pct(objects["recall50"])])
        lines += _table(["class", "gt", "AP50", "AP50:95", "recall@0.5"], rows)
    vehicle = metrics.get("vehicle")
    if vehicle:
        lines += ["## Vehicle protocol (car+truck+bus+train, YOLOP/HybridNets table)", ""]
        lines += _table(["recall", "mAP50"], [[_pct(vehicle["recall50"]), _pct(vehicle["map50"])]])
    peds = metrics.get("pedestrians")
    if peds:
        lines += ["## Pedestrians (CityPersons protocol; MR^-2 lower is better)", ""]
        rows = [[name, str(v["num_gt"]), _pct(v["mr2"], 2), _pct(v["ap50"]), _pct(v["recall"])]
                for name, v in peds.items() if isinstance(v, dict)]
        rows += [[name, "0", "-", "-", "-"] for name, v in peds.items() if v is None]  # no gt in the setup's range
        lines += _table(["setup", "gt", "MR^-2", "AP50", "recall"], rows)
        mapping = next((v.get("visibility_mapping") for v in peds.values() if isinstance(v, dict)), None)
        if mapping:
            lines += [f"Visibility: {mapping}.", ""]
    lanes = metrics.get("lanes")
    if lanes:
        px = lanes["pixel"]
        lines += [f"## Lanes (pixels at {px['eval_width']} px wide, gt lines {px['line_width']} px thick)", ""]
        lines += _table(["accuracy", "IoU"], [[_pct(px["accuracy"]), _pct(px["iou"])]])
        if lanes.get("culane"):
            c = lanes["culane"]
            lines += ["CULane protocol (30 px on 1640x590, IoU >= 0.5):", ""]
            lines += _table(["precision", "recall", "F1"], [[_pct(c["precision"]), _pct(c["recall"]), _pct(c["f1"])]])
        if lanes.get("tusimple"):
            t = lanes["tusimple"]
            lines += ["TuSimple protocol:", ""]
            lines += _table(["accuracy", "FP", "FN"], [[_pct(t["accuracy"], 2), _pct(t["fp"], 2), _pct(t["fn"], 2)]])
        lines += _marking_lines(lanes.get("markings") or {})
    drivable = metrics.get("drivable")
    if drivable:
        lines += ["## Drivable area (IoU over all pixels of the split)", ""]
        header = list(drivable["iou"]) + ["mIoU", "drivable IoU (YOLOP)", "binary mIoU (YOLOP)"]
        row = [_pct(v) for v in drivable["iou"].values()]
        row += [_pct(drivable["miou"]), _pct(drivable["binary_iou"]), _pct(drivable["binary_miou"])]
        lines += _table(header, [row])
    if report.get("figures"):
        lines += ["## Figures", ""] + [f"![{name}]({Path(p).name})" for name, p in report["figures"].items()] + [""]
    return "\n".join(lines)


def write_report(
    out_dir: str | os.PathLike,
    metrics: dict[str, Any],
    meta: dict[str, Any] | None = None,
    latency: dict[str, Any] | None = None,
    worst=None,
) -> dict[str, Any]:
    """Write report.json, report.md and the figures into out_dir; returns the report dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, str] = {}
    objects = metrics.get("objects")
    if objects and objects["per_class"]:
        figures["pr_curves"] = str(plots.plot_pr_curves(objects["per_class"], out / "pr_curves.png"))
        conf = objects["confusion"]
        figures["confusion_matrix"] = str(plots.plot_confusion(conf["names"], conf["matrix"], out / "confusion_matrix.png"))
    if metrics.get("vehicle") and metrics["vehicle"]["per_class"]:
        figures["vehicle_pr"] = str(
            plots.plot_pr_curves(metrics["vehicle"]["per_class"], out / "vehicle_pr.png", "Vehicle PR at IoU 0.5")
        )
    if metrics.get("pedestrians"):
        figures["miss_rate"] = str(plots.plot_miss_rate(metrics["pedestrians"], out / "miss_rate_fppi.png"))
    grid = worst.grid() if worst is not None else None
    worst_list = []
    if grid is not None:
        figures["worst_images"] = str(write_image_atomic(out / "worst_images.png", grid))
        worst_list = [{"score": s, "path": p} for s, p, _ in worst.items()]
    report = {"metrics": metrics, "meta": meta or {}, "latency": latency, "figures": figures, "worst_images": worst_list}
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", markdown_report(report))
    return report


def _marking_lines(markings: dict) -> list[str]:
    """The lane-marking part of the lanes section: BDD100K's official F-scores and attribute accuracy."""
    lines: list[str] = []
    official = markings.get("bdd100k")
    if official:
        lines += [f"BDD100K lane marking (official metric, boundary F-score, {official['images']} images):", ""]
        rows = [[task] + [f"{official[f'F1_pix{b}/{task.upper()}' if task != 'mean' else f'F1_pix{b}']:.1f}"
                          for b in (1, 2, 5)] for task in ("direction", "style", "category", "mean")]
        lines += _table(["sub-task", "F 1 px", "F 2 px", "F 5 px"], rows)
    attrs = markings.get("attributes")
    if attrs:
        lines += [f"Lane attributes over {attrs['matched_lanes']} CULane-matched lanes (chance: uniform, "
                  "always the most frequent value):", ""]
        rows = [[name, str(v["lanes"]), _pct(v["accuracy"]), _pct(v["chance_uniform"]), _pct(v["chance_majority"]),
                 _pct(v["balanced_accuracy"]), _pct(v["chance_balanced"])]
                for name, v in attrs.items() if isinstance(v, dict)]
        lines += _table(["attribute", "lanes", "accuracy", "chance (uniform)", "chance (majority)",
                         "balanced accuracy", "its chance"], rows)
    return lines
