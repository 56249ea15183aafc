"""The gradient-level balancers under DDP: two gloo processes end with identical replicas."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine_sizes import TINY_IMGSZ

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("balancing", ["pcgrad", "gradnorm", "dwa"])
def test_balancers_keep_replicas_identical_under_ddp(tiny_synthetic, tmp_path, balancing):
    # 6 steps = 2 epochs of 3: DWA needs two finished epochs before its weights move.
    # Each rank sees its own image, so per-task gradients, norms and losses differ between ranks: only the
    # by-hand averaging (PCGrad's gradients, GradNorm's norms, DWA's losses) keeps the replicas and weights equal.
    out, summary_path = tmp_path / "run", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "perception.cli.main", "train", "--data", str(tiny_synthetic),
           "--model", "n", "--imgsz", str(TINY_IMGSZ[0]), str(TINY_IMGSZ[1]), "--epochs", "2", "--batch", "2",
           "--max-steps", "6", "--balancing", balancing, "--grad-monitor", "2", "--workers", "0", "--device", "cpu",
           "--out", str(out), "--quiet", "--json", str(summary_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6
    assert summary["replicas_identical"] is True and summary["replica_max_abs_diff"] == 0.0
    assert summary["multitask"]["gradient_monitor"]["measurements"] == 3
    if balancing != "pcgrad":
        assert any(abs(w - 1.0) > 1e-6 for w in summary["multitask"]["final_weights"].values())
