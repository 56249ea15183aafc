"""`perception bench` end to end on a tiny setup: the JSON schema, positive latencies, ratios that agree with
the latencies they come from, and the Markdown report. Speed itself is never asserted."""

from __future__ import annotations

import json

import pytest
import torch

from perception.bench.ratios import BASELINE_RATIO_MAX, INT8_SPEEDUP_MIN, VIDEO_EFFICIENCY_MIN
from perception.bench.suite import GPU_PROVIDERS
from perception.cli.main import main

# The bench times PyTorch on CUDA whenever it is there (a GPU host), else on the CPU; the torch rows expected
# below are on that device, so this file passes on both kinds of host.
TORCH_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

LATENCY_KEYS = ("p50_ms", "p90_ms", "mean_ms", "min_ms", "throughput_img_s")


@pytest.fixture(scope="session")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = [
        "bench", "--model", "n", "--imgsz", "128", "256", "--batch", "1", "--runs", "2", "--warmup", "1",
        "--threads", "2", "--torch-amp", "off", "bf16", "fp16", "--int8", "--calib-images", "2", "--video-frames", "4", "--out", str(out),
        "--json", str(out / "bench.json"),
    ]
    assert main(argv) == 0
    return out, json.loads((out / "bench.json").read_text())


def test_json_schema_and_machine_info(bench_run):
    _, result = bench_run
    for key in ("config", "machine", "model", "baseline", "rows", "video", "baseline_ratio", "baseline_ratio_detail",
                "int8_speedup", "targets", "skipped", "command", "markdown"):
        assert key in result, key
    machine = result["machine"]
    for key in ("cpu", "cores", "threads", "onnxruntime", "torch", "providers", "date"):
        assert machine[key], key
    assert machine["threads"] == 2
    assert "CPUExecutionProvider" in machine["providers"]
    assert machine["torch_device"] == TORCH_DEVICE
    assert result["baseline"]["name"] == "lraspp_mobilenet_v3_large"
    assert result["model"]["params"] > 0 and result["model"]["gflops_per_image"] > 0
    assert result["baseline"]["params"] > 0 and result["baseline"]["gflops_per_image"] > 0


def test_every_runtime_is_measured_with_positive_latencies(bench_run):
    _, result = bench_run
    ids = {(r["model"], r["runtime"], r["precision"], r["provider"]) for r in result["rows"]}
    for model in ("perception-n", "lraspp_mobilenet_v3_large"):
        assert (model, "torch", "fp32", TORCH_DEVICE) in ids
        assert (model, "onnxruntime", "fp32", "CPUExecutionProvider") in ids
    assert ("perception-n", "onnxruntime", "int8", "CPUExecutionProvider") in ids
    # --torch-amp: the model (not the baseline) also timed under bf16 autocast; fp16 only where CUDA is
    assert ("perception-n", "torch", "bf16", TORCH_DEVICE) in ids
    assert ("lraspp_mobilenet_v3_large", "torch", "bf16", TORCH_DEVICE) not in ids
    assert (("perception-n", "torch", "fp16", TORCH_DEVICE) in ids) == (TORCH_DEVICE == "cuda")
    if TORCH_DEVICE != "cuda":
        assert {"what": "torch fp16", "why": "fp16 autocast is timed on CUDA only"} in result["skipped"]
    for row in result["rows"]:
        assert row["imgsz"] == [128, 256] and row["batch"] == 1
        for scope in ("model_only", "end_to_end"):
            figures = row[scope]
            assert all(figures[k] > 0 for k in LATENCY_KEYS), (row["id"], scope, figures)
            assert figures["min_ms"] <= figures["p50_ms"] <= figures["p90_ms"]
            assert figures["runs"] == 2 and figures["warmup"] == 1
            assert figures["throughput_img_s"] == pytest.approx(1000.0 / figures["p50_ms"], rel=1e-3)
        assert row["peak_rss_mb"] > 0


def test_ratios_agree_with_latencies(bench_run):
    _, result = bench_run
    rows = {(r["model"], r["runtime"], r["precision"], r["provider"]): r for r in result["rows"]}
    ours = rows[("perception-n", "onnxruntime", "fp32", "CPUExecutionProvider")]
    base = rows[("lraspp_mobilenet_v3_large", "onnxruntime", "fp32", "CPUExecutionProvider")]
    expected = ours["model_only"]["p50_ms"] / base["model_only"]["p50_ms"]
    assert result["baseline_ratio"] == pytest.approx(expected, rel=1e-6)
    for row in result["rows"]:
        vs = row["vs_baseline"]
        ref = base if row["runtime"] == "onnxruntime" else rows[("lraspp_mobilenet_v3_large", "torch", "fp32", TORCH_DEVICE)]
        assert vs["baseline_id"] == ref["id"]
        assert vs["model_only_p50"] == pytest.approx(row["model_only"]["p50_ms"] / ref["model_only"]["p50_ms"], rel=1e-6)
        assert vs["end_to_end_p50"] == pytest.approx(row["end_to_end"]["p50_ms"] / ref["end_to_end"]["p50_ms"], rel=1e-6)
        assert vs["params"] == pytest.approx(row["params"] / ref["params"])
    (speedup,) = result["int8_speedup"]
    int8 = rows[("perception-n", "onnxruntime", "int8", "CPUExecutionProvider")]
    assert speedup["speedup"] == pytest.approx(ours["model_only"]["p50_ms"] / int8["model_only"]["p50_ms"], rel=1e-6)


def test_video_tool_fps_and_targets(bench_run):
    _, result = bench_run
    (video,) = result["video"]
    assert video["frames"] == 4 and video["fps"] > 0 and video["batch"] == 1
    assert video["ratio"] == pytest.approx(video["fps"] / video["model_only_fps"], rel=1e-6)
    # each target's value is the figure measured in this run, judged against the threshold written in ratios.py
    (speedup,) = result["int8_speedup"]
    measured = {
        "baseline_ratio (ORT fp32 batch-1 latency / lraspp's)": (result["baseline_ratio"], "<=", BASELINE_RATIO_MAX),
        "INT8 speedup over fp32 (CPUExecutionProvider, batch 1)": (speedup["speedup"], ">=", INT8_SPEEDUP_MIN),
        "video end-to-end / model-only FPS (batch 1)": (video["ratio"], ">=", VIDEO_EFFICIENCY_MIN),
    }
    assert {t["name"]: (t["value"], t["op"], t["threshold"]) for t in result["targets"]} == measured
    for t in result["targets"]:
        value, threshold = t["value"], t["threshold"]
        assert t["pass"] is (value <= threshold if t["op"] == "<=" else value >= threshold), t
    # FP16 is timed exactly when a GPU provider started, and said to be skipped otherwise
    gpu = any(p in GPU_PROVIDERS for p in result["machine"]["providers"])
    assert ("fp16" in result["model"]["onnx"]) is gpu
    assert any(s["what"] == "onnxruntime fp16" for s in result["skipped"]) is not gpu


def test_markdown_report_is_written(bench_run):
    out, result = bench_run
    text = (out / "benchmarks.md").read_text()
    assert result["markdown"] == str(out / "benchmarks.md")
    assert "| perception-n | onnxruntime | int8 | cpu | 1 |" in text
    assert "lraspp_mobilenet_v3_large" in text and "end-to-end" in text
    assert result["command"].startswith("perception bench --model n --imgsz 128 256")
    assert text.count("**pass**") + text.count("**miss**") == len(result["targets"])
