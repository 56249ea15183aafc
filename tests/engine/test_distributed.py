"""Distributed data parallel on CPU: two gloo processes under torchrun train as one model."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from perception.config import ModelConfig
from perception.engine import load_checkpoint
from perception.engine.distributed import DistContext, replica_max_abs_diff

from torchrun import REPO, ddp_train_command, free_port, run_ddp



@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas(tiny_synthetic, tmp_path):
    out, summary_path = tmp_path / "run", tmp_path / "summary.json"
    # 6 train images, global batch 2: each rank takes its own image per step, so the ranks' gradients differ
    # and only DDP's all-reduce (and the trainer's by-hand averaging of the uncertainty balancer) keeps them equal.
    cmd = ddp_train_command(tiny_synthetic, out, "--epochs", "1", "--max-steps", "3", "--balancing", "uncertainty",
                            "--json", str(summary_path))
    done = run_ddp(cmd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(summary_path.read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert summary["replicas_identical"] is True and summary["replica_max_abs_diff"] == 0.0
    header, row = (out / "results.csv").read_text().splitlines()[:2]  # both ranks' samples: 3 steps x 2 images
    assert row.split(",")[header.split(",").index(f"samples/bdd100k:{tiny_synthetic}")] == "6"

    last = load_checkpoint(out / "weights" / "last.pt")
    assert last["step"] == 3
    # The replicas agree because they trained together, not because nothing moved.
    from perception.models import build_model

    torch.manual_seed(last["train_config"]["seed"])  # the trainer's initial weights
    initial = build_model(ModelConfig.from_dict(last["config"])).state_dict()
    moved = [name for name, t in last["model"].items() if t.is_floating_point() and not torch.equal(t, initial[name])]
    assert len(moved) > len(last["model"]) // 4
    assert any(float(v) != 0.0 for v in last["loss"].values())  # the balancer's log-variances were learned


def _replica_worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        ctx = DistContext(rank=rank, world_size=2)
        tensors = [torch.arange(6, dtype=torch.float32).reshape(2, 3), torch.ones(4)]
        same = replica_max_abs_diff(tensors, ctx)
        if rank == 1:
            tensors[1][2] += 0.25
        drifted = replica_max_abs_diff(tensors, ctx)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps([same, drifted]))
    finally:
        dist.destroy_process_group()


def test_replica_check_reports_a_rank_that_drifted(tmp_path):
    """The cross-rank check is not vacuous: a parameter that differs on one rank shows on every rank."""
    # fork: the children need nothing re-imported, which keeps this test to a couple of seconds.
    mp.start_processes(_replica_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    assert [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)] == [[0.0, 0.25], [0.0, 0.25]]


def _ddp_train(data, out, *extra):
    return ddp_train_command(data, out, "--epochs", "2", "--save-period", "1", *extra)


@pytest.mark.slow
def test_two_gloo_processes_killed_mid_epoch_resume_bit_exactly(tiny_synthetic, tmp_path):
    """SIGKILL a 2-process run mid-epoch, resume it: the weights equal an uninterrupted run's bit for bit
    (sampling and augmentation are pure functions of seed, epoch, rank and position)."""
    import signal
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1")  # as run_ddp; the killed run below needs Popen
    full = run_ddp(_ddp_train(tiny_synthetic, tmp_path / "full"), timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    out = tmp_path / "cut"
    proc = subprocess.Popen(_ddp_train(tiny_synthetic, out), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    last = out / "weights" / "last.pt"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if last.is_file() and load_checkpoint(last)["step"] >= 2:
                break
            time.sleep(0.05)
    finally:
        # torchrun starts each rank in its own session: killing torchrun's group alone leaves both ranks training
        # on (and holding the run folder's lock), so kill them as a crash of the machine would
        ranks = [int(pid) for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        os.killpg(proc.pid, signal.SIGKILL)
        for rank in ranks:
            os.killpg(rank, signal.SIGKILL)
        proc.wait()
    assert 2 <= load_checkpoint(last)["step"] < 6, "the run was not killed mid-training"
    resumed = run_ddp(_ddp_train(tiny_synthetic, out, "--resume"), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "full" / "weights" / "last.pt"), load_checkpoint(last)
    assert a["step"] == b["step"] == 6
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name}"
