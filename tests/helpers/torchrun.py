"""Two-process gloo training through the real torchrun, shared by the DDP tests."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from engine_sizes import TINY_IMGSZ

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_train_command(data, out, *extra: str) -> list[str]:
    """`torchrun --nproc_per_node 2 ... perception train` of the tiny model on CPU (global batch 2: one image per
    rank per step, so the ranks' gradients differ); `extra` adds or overrides train flags."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), "-m", "perception.cli.main", "train", "--data", str(data), "--model", "n",
            "--imgsz", str(TINY_IMGSZ[0]), str(TINY_IMGSZ[1]), "--batch", "2", "--workers", "0", "--device", "cpu",
            "--out", str(out), "--quiet", *extra]


def run_ddp(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    # One OpenMP thread per rank: two ranks on two cores.
    return subprocess.run(cmd, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=timeout)
