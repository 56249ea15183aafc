"""Timing loop bookkeeping, baseline matching and target verdicts, and one-line errors for bad arguments."""

from __future__ import annotations

import time

import pytest

from perception.bench import ratios
from perception.bench.runners import time_batches
from perception.cli.main import main


def test_time_batches_runs_warmup_untimed_then_times_each_run():
    # Calls of known length: two slow warm-ups (300 ms), then timed calls of 120, 10 and 50 ms in that order.
    # Sleeping only ever overshoots, so each sample is at least its call's length; the bounds above allow
    # for a loaded machine.
    sleeps = iter([0.3, 0.3, 0.12, 0.01, 0.05])
    timing = time_batches(lambda: time.sleep(next(sleeps)), runs=3, warmup=2, batch=4)
    slow, fast, middle = timing.samples_ms  # call order
    assert 120 <= slow < 300 and 10 <= fast < 50 and 50 <= middle < 120  # no warm-up was timed
    assert timing.p50_ms == middle  # the median is the middle-length call, not the middle call
    assert middle < timing.p90_ms <= slow
    assert timing.throughput == pytest.approx(4 * 1000.0 / middle)  # images per second at batch 4
    figures = timing.to_dict()
    assert (figures["runs"], figures["warmup"], figures["batch"]) == (3, 2, 4)
    assert figures["min_ms"] == pytest.approx(fast, abs=1e-6) and figures["p50_ms"] == pytest.approx(middle, abs=1e-6)
    with pytest.raises(ValueError, match="runs 0"):
        time_batches(lambda: None, runs=0, warmup=0)


def _row(model, runtime, precision, provider, batch, p50, params=10, gflops=1.0):
    figures = {"p50_ms": p50, "p90_ms": p50 * 1.5, "throughput_img_s": batch * 1000.0 / p50}
    return {"id": f"{model}/{runtime}-{precision}-{provider}/b{batch}", "model": model, "runtime": runtime,
            "precision": precision, "provider": provider, "batch": batch, "params": params, "gflops_per_image": gflops,
            "model_only": figures, "end_to_end": dict(figures)}


def test_rows_are_compared_with_the_matching_baseline_row():
    base = [_row("b", "torch", "fp32", "cpu", 1, 100.0, 20), _row("b", "onnxruntime", "fp32", "CPU", 1, 40.0, 20)]
    ours = [_row("m", "torch", "fp32", "cpu", 1, 50.0), _row("m", "onnxruntime", "fp32", "CPU", 1, 60.0),
            _row("m", "onnxruntime", "int8", "CPU", 1, 30.0), _row("m", "onnxruntime", "fp32", "CPU", 4, 90.0)]
    ratios.add_baseline_ratios(ours, base)
    assert ours[0]["vs_baseline"]["model_only_p50"] == pytest.approx(0.5)  # eager vs eager
    assert ours[1]["vs_baseline"]["model_only_p50"] == pytest.approx(1.5)  # ORT vs ORT fp32
    assert ours[2]["vs_baseline"]["baseline_id"] == base[1]["id"]  # int8 vs the baseline's fp32
    assert ours[1]["vs_baseline"]["params"] == pytest.approx(0.5)
    assert ours[3]["vs_baseline"] is None  # no baseline at batch 4
    headline = ratios.baseline_ratio(ours, base, "CPU", 1)
    assert headline["value"] == pytest.approx(1.5)
    (speedup,) = [s for s in ratios.int8_speedups(ours) if s["batch"] == 1]
    assert speedup["speedup"] == pytest.approx(2.0)
    verdicts = {t["name"].split(" (")[0]: t["pass"] for t in ratios.targets(headline, [speedup], [])}
    assert verdicts == {"baseline_ratio": True, "INT8 speedup over fp32": True, "video end-to-end / model-only FPS": None}


def test_bad_arguments_fail_with_one_line(tmp_path, capsys):
    assert main(["bench", "--onnx", str(tmp_path / "missing.onnx"), "--out", str(tmp_path)]) == 2
    assert main(["bench", "--imgsz", "100", "640", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.onnx: ONNX model not found" in err[0] and "--imgsz [100, 640]" in err[1]
