"""`perception bench --train` on a tiny setup: every figure present and positive, the parts' shares adding up,
the CPU's flags recorded, the markdown written. Speed itself is never asserted."""

from __future__ import annotations

import json

import pytest
import torch

from perception.bench.machine import SPEED_FLAGS, cpu_flags
from perception.bench.train_bench import PARTS
from perception.cli.main import main
from perception.engine.hardware import resolve_amp
from perception.errors import InputError


@pytest.fixture(scope="module")
def train_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_train")
    argv = ["bench", "--train", "--model", "n", "--imgsz", "64", "128", "--batch", "2", "--steps", "2", "--warmup", "1",
            "--val-batches", "1", "--workers", "0", "--device", "cpu", "--out", str(out), "--json", str(out / "t.json")]
    assert main(argv) == 0
    return out, json.loads((out / "t.json").read_text())


def test_every_figure_is_measured(train_bench):
    out, result = train_bench
    for key in ("images_per_second", "step_images_per_second", "loader_images_per_second", "val_images_per_second"):
        assert result[key] > 0, key
    assert set(result["parts_ms"]) == set(PARTS) and all(v >= 0 for v in result["parts_ms"].values())
    assert result["parts_ms"]["forward"] > 0 and result["parts_ms"]["backward"] > 0
    assert sum(result["parts_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert 0 <= result["data_wait_share"] <= 1
    # the parts are the step: their sum is the profiled step's time, less the bookkeeping between them
    assert sum(result["parts_ms"].values()) <= result["profiled_step_ms"] * 1.05
    assert result["device"] == "cpu" and result["amp"] == resolve_amp("auto", torch.device("cpu"))
    assert result["machine"]["cpu_flags"] == cpu_flags()
    assert "| training, end to end |" in (out / "train_benchmark.md").read_text()
    assert result["command"].startswith("perception bench --train --model n --imgsz 64 128 --batch 2")


def test_amp_auto_is_float32_on_a_cpu_and_fp16_needs_cuda():
    assert set(cpu_flags()) <= set(SPEED_FLAGS)
    # bf16 on a CPU costs accuracy at the demo's budget (docs/benchmarks.md): only on request
    assert resolve_amp("auto", torch.device("cpu")) == "off"
    assert resolve_amp("off", torch.device("cpu")) == "off" and resolve_amp("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(InputError, match="--amp fp16: loss-scaled fp16 training needs CUDA"):
        resolve_amp("fp16", torch.device("cpu"))
