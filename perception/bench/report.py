"""The benchmark's Markdown report: machine, command, models, latency table with ratios, video, targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perception.bench.measure import PROVIDER_SHORT

SCOPE_NOTE = (
    "**model-only**: one call of the network on a preprocessed (B, 3, H, W) float32 batch, outputs back in host "
    "memory as numpy. **end-to-end**: B camera frames (RGB uint8) in, results out: letterbox + normalise, the "
    "network, and the postprocess (box decoding + NMS, lane polylines, masks resized to the frame) for our model; "
    "letterbox + normalise, the network, argmax and resize for the baseline. Latencies are medians (p50) and 90th "
    "percentiles of repeated runs after warm-up, per call of B images; img/s = B / p50. "
    "**x base**: the figure divided by the baseline's at the same batch and provider (PyTorch rows by the baseline's "
    "PyTorch row, ONNX Runtime rows by its ONNX Runtime fp32 row); below 1 is faster."
)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _verdict(target: dict) -> str:
    if target["pass"] is None:
        return "not measured"
    return "**pass**" if target["pass"] else "**miss**"


def render_markdown(result: dict[str, Any], command: str | None = None) -> str:
    lines = _header(result, command) + _models(result) + _latency(result) + _video(result) + _targets(result)
    return "\n".join(lines) + "\n"


def _header(result: dict[str, Any], command: str | None) -> list[str]:
    machine, cfg = result["machine"], result["config"]
    lines = [
        "# perception bench",
        "",
        f"- date: {machine['date']}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads"
        + (f", GPU {machine['cuda_device']}" if machine.get("cuda_device") else ", no GPU"),
        f"- load average (1/5/15 min) at start {machine.get('load_average_at_start')}, at end "
        f"{machine.get('load_average_at_end')}",
        f"- torch {machine['torch']} ({machine['torch_device']}), onnxruntime {machine['onnxruntime']}, "
        f"providers that started: {', '.join(machine['providers'])}",
        f"- input {cfg['imgsz'][0]}x{cfg['imgsz'][1]} (HxW), batches {list(cfg['batches'])}, "
        f"{cfg['warmup']} warm-up + {cfg['runs']} timed runs per figure; end-to-end frames: {result['frames_source']}",
    ]
    return lines + ([f"- command: `{command}`"] if command else [])


def _models(result: dict[str, Any]) -> list[str]:
    model, base = result["model"], result["baseline"]
    return [
        "",
        "## Models",
        "",
        "| model | params | GFLOPs/image | params x base | GFLOPs x base |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| {model['name']} | {model['params']:,} | {model['gflops_per_image']:.2f} | "
        f"{model['params'] / base['params']:.2f} | {model['gflops_per_image'] / base['gflops_per_image']:.2f} |",
        f"| {base['name']} (baseline, untrained) | {base['params']:,} | {base['gflops_per_image']:.2f} | 1.00 | 1.00 |",
    ]


def _latency(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Latency and throughput",
        "",
        "| model | runtime | precision | provider | batch | model-only p50 ms | p90 ms | img/s | x base | "
        "end-to-end p50 ms | p90 ms | img/s | x base | peak RSS MB |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        mo, e2e, vs = row["model_only"], row["end_to_end"], row.get("vs_baseline") or {}
        memory = _fmt(row["peak_rss_mb"], 0) + (f" (CUDA {row['cuda_peak_mb']:.0f})" if row.get("cuda_peak_mb") else "")
        lines.append(
            f"| {row['model']} | {row['runtime']} | {row['precision']} | {PROVIDER_SHORT.get(row['provider'], row['provider'])} "
            f"| {row['batch']} | {mo['p50_ms']:.2f} | {mo['p90_ms']:.2f} | {mo['throughput_img_s']:.1f} | "
            f"{_fmt(vs.get('model_only_p50'))} | {e2e['p50_ms']:.2f} | {e2e['p90_ms']:.2f} | "
            f"{e2e['throughput_img_s']:.1f} | {_fmt(vs.get('end_to_end_p50'))} | {memory} |"
        )
    return lines + ["", SCOPE_NOTE, ""]


def _video(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if result["video"]:
        lines += [
            "## Video tool (end-to-end FPS on a file)",
            "",
            "`perception infer`'s concurrent pipeline (decode, preprocess, inference, postprocess, tracking, drawing, "
            "mp4 encode), ONNX Runtime fp32, against the model-only throughput at the same batch and provider.",
            "",
            "| video | provider | batch | frames | video FPS | model-only img/s | ratio | peak RSS MB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for v in result["video"]:
            lines.append(
                f"| {Path(v['video']).name} | {PROVIDER_SHORT.get(v['provider'], v['provider'])} | {v['batch']} | "
                f"{v['frames']} | {v['fps']:.1f} | {_fmt(v['model_only_fps'], 1)} | {_fmt(v['ratio'])} | "
                f"{_fmt(v.get('peak_rss_mb'), 0)} |"
            )
        lines.append("")
    return lines


def _targets(result: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| target | value | goal | result |", "| --- | ---: | ---: | --- |"]
    for t in result["targets"]:
        lines.append(f"| {t['name']} | {_fmt(t['value'])} | {t['op']} {t['threshold']} | {_verdict(t)} |")
    if result["skipped"]:
        lines += ["", "Not measured: " + "; ".join(f"{s['what']} ({s['why']})" for s in result["skipped"]) + "."]
    return lines
