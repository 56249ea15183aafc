"""Every figure as a ratio to the baseline, the headline `baseline_ratio`, and the pass/miss targets."""

from __future__ import annotations

from typing import Any

BASELINE_RATIO_MAX = 2.3  # model ORT fp32 batch-1 latency / lraspp's must not exceed this
INT8_SPEEDUP_MIN = 1.8  # INT8 must be at least this much faster than its own fp32
VIDEO_EFFICIENCY_MIN = 0.9  # video end-to-end FPS / model-only throughput at the same batch


def matching_baseline(row: dict, baseline_rows: list[dict]) -> dict | None:
    """The baseline row a model row is compared with: same batch and provider; eager with eager, any ONNX
    Runtime precision with the baseline's ONNX Runtime fp32 (the baseline is not quantized)."""
    for base in baseline_rows:
        if base["batch"] != row["batch"] or base["provider"] != row["provider"]:
            continue
        if base["runtime"] == row["runtime"] and base["precision"] == "fp32":
            return base
    return None


def add_baseline_ratios(rows: list[dict], baseline_rows: list[dict]) -> None:
    """Set row["vs_baseline"]: latency, throughput, params and GFLOPs of the row / the matching baseline's."""
    for row in rows:
        base = matching_baseline(row, baseline_rows)
        if base is None:
            row["vs_baseline"] = None
            continue
        row["vs_baseline"] = {
            "baseline_id": base["id"],
            "model_only_p50": row["model_only"]["p50_ms"] / base["model_only"]["p50_ms"],
            "model_only_p90": row["model_only"]["p90_ms"] / base["model_only"]["p90_ms"],
            "end_to_end_p50": row["end_to_end"]["p50_ms"] / base["end_to_end"]["p50_ms"],
            "end_to_end_p90": row["end_to_end"]["p90_ms"] / base["end_to_end"]["p90_ms"],
            "throughput": row["model_only"]["throughput_img_s"] / base["model_only"]["throughput_img_s"],
            "params": row["params"] / base["params"],
            "gflops": row["gflops_per_image"] / base["gflops_per_image"],
        }


def find_row(rows: list[dict], runtime: str, precision: str, provider: str, batch: int) -> dict | None:
    for row in rows:
        if (row["runtime"], row["precision"], row["provider"], row["batch"]) == (runtime, precision, provider, batch):
            return row
    return None


def baseline_ratio(model_rows: list[dict], baseline_rows: list[dict], provider: str, batch: int) -> dict | None:
    """{"value", "model_ms", "baseline_ms", "provider", "batch"}: ORT fp32 model-only p50, model / baseline."""
    ours = find_row(model_rows, "onnxruntime", "fp32", provider, batch)
    base = find_row(baseline_rows, "onnxruntime", "fp32", provider, batch)
    if ours is None or base is None:
        return None
    model_ms, baseline_ms = ours["model_only"]["p50_ms"], base["model_only"]["p50_ms"]
    return {"value": model_ms / baseline_ms, "model_ms": model_ms, "baseline_ms": baseline_ms, "provider": provider, "batch": batch}


def int8_speedups(model_rows: list[dict]) -> list[dict]:
    """fp32 model-only p50 / int8 model-only p50 for every (provider, batch) that has both."""
    out = []
    for row in model_rows:
        if row["runtime"] != "onnxruntime" or row["precision"] != "int8":
            continue
        fp32 = find_row(model_rows, "onnxruntime", "fp32", row["provider"], row["batch"])
        if fp32 is not None:
            out.append(
                {
                    "provider": row["provider"],
                    "batch": row["batch"],
                    "fp32_ms": fp32["model_only"]["p50_ms"],
                    "int8_ms": row["model_only"]["p50_ms"],
                    "speedup": fp32["model_only"]["p50_ms"] / row["model_only"]["p50_ms"],
                }
            )
    return out


def targets(ratio: dict | None, speedups: list[dict], video: list[dict]) -> list[dict]:
    """The project's speed targets, each {"name", "value", "op", "threshold", "pass"} (value None: not measured)."""

    def entry(name: str, value: float | None, op: str, threshold: float) -> dict:
        passed = None if value is None else (value <= threshold if op == "<=" else value >= threshold)
        return {"name": name, "value": value, "op": op, "threshold": threshold, "pass": passed}

    out = [entry("baseline_ratio (ORT fp32 batch-1 latency / lraspp's)", ratio and ratio["value"], "<=", BASELINE_RATIO_MAX)]
    if speedups:
        for s in speedups:
            out.append(entry(f"INT8 speedup over fp32 ({s['provider']}, batch {s['batch']})", s["speedup"], ">=", INT8_SPEEDUP_MIN))
    else:
        out.append(entry("INT8 speedup over fp32", None, ">=", INT8_SPEEDUP_MIN))
    if video:
        for v in video:
            out.append(entry(f"video end-to-end / model-only FPS (batch {v['batch']})", v["ratio"], ">=", VIDEO_EFFICIENCY_MIN))
    else:
        out.append(entry("video end-to-end / model-only FPS", None, ">=", VIDEO_EFFICIENCY_MIN))
    return out
