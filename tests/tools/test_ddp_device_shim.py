"""tools/ddp_device_shim.py: the collectives it wraps refuse a tensor that is not on the rank's device, as NCCL
does, so gloo on one GPU still catches a CPU tensor handed to a collective."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from ddp_device_shim import on_device_only, rank_device  # noqa: E402
from gpu_check_core import free_port  # noqa: E402


@pytest.fixture
def one_rank_group():
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_a_collective_refuses_a_tensor_off_the_ranks_device(one_rank_group):
    # The CPU stands in for the GPU's "other device": expecting `meta`, a CPU tensor is the foreign one.
    all_reduce = on_device_only("all_reduce", dist.all_reduce, torch.device("meta"))
    with pytest.raises(RuntimeError, match=r"dist.all_reduce got a tensor on cpu; this rank's device is meta"):
        all_reduce(torch.ones(3))
    broadcast = on_device_only("broadcast", dist.broadcast, torch.device("meta"))
    with pytest.raises(RuntimeError, match="dist.broadcast got a tensor on cpu"):
        broadcast(torch.ones(3), src=0)


def test_a_collective_on_the_ranks_device_runs(one_rank_group):
    value = torch.tensor([2.0, 3.0])
    on_device_only("all_reduce", dist.all_reduce, torch.device("cpu"))(value)
    assert value.tolist() == [2.0, 3.0]  # one rank: the sum is itself
    gathered = [torch.zeros(2)]
    on_device_only("all_gather", dist.all_gather, torch.device("cpu"))(gathered, value)  # lists are checked too
    assert gathered[0].tolist() == [2.0, 3.0]


def test_every_rank_uses_device_0_of_the_device_asked_for():
    assert rank_device(["train", "--device", "cuda"]) == torch.device("cuda", 0)
    assert rank_device(["train", "--device", "cuda:1"]) == torch.device("cuda", 0)
    assert rank_device(["train", "--device", "cpu"]) == torch.device("cpu")
    assert rank_device(["train"]) == torch.device("cpu")
