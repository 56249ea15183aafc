"""The gradient-level balancers under DDP: two gloo processes end with identical replicas."""

import json

import pytest

from torchrun import ddp_train_command, run_ddp


@pytest.mark.slow
@pytest.mark.parametrize("balancing", ["pcgrad", "gradnorm", "dwa"])
def test_balancers_keep_replicas_identical_under_ddp(tiny_synthetic, tmp_path, balancing):
    # 6 steps = 2 epochs of 3: DWA needs two finished epochs before its weights move.
    # Each rank sees its own image, so per-task gradients, norms and losses differ between ranks: only the
    # by-hand averaging (PCGrad's gradients, GradNorm's norms, DWA's losses) keeps the replicas and weights equal.
    out, summary_path = tmp_path / "run", tmp_path / "summary.json"
    cmd = ddp_train_command(tiny_synthetic, out, "--epochs", "2", "--max-steps", "6", "--balancing", balancing,
                            "--grad-monitor", "2", "--json", str(summary_path))
    done = run_ddp(cmd, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6
    assert summary["replicas_identical"] is True and summary["replica_max_abs_diff"] == 0.0
    assert summary["multitask"]["gradient_monitor"]["measurements"] == 3
    if balancing != "pcgrad":
        assert any(abs(w - 1.0) > 1e-6 for w in summary["multitask"]["final_weights"].values())
