"""Distributed data parallel under torchrun: environment, process group, sampler, rank-0 helpers.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them training runs as a single process. NCCL is
used on GPUs, gloo on CPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from perception.errors import InputError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
        if name == "cuda":
            name = f"cuda:{local_rank}"
        device = torch.device(name)
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def setup_distributed(device_name: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(value, ctx: DistContext):
    """Rank 0's picklable `value` on every rank (a single process returns it as is)."""
    if not ctx.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return holder[0]


def gather_to_main(obj, ctx: DistContext) -> list | None:
    """Every rank's picklable `obj`, in rank order, on rank 0 (None on the others); [obj] alone when not
    distributed. Under NCCL the objects travel through the current CUDA device (set by setup_distributed)."""
    if not ctx.distributed:
        return [obj]
    gathered = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def check_sync_bn(sync_bn: bool, ctx: DistContext) -> None:
    """Refuse --sync-bn before any work: SyncBatchNorm runs on CUDA/NCCL only and fails deep inside torch."""
    if sync_bn and ctx.device.type != "cuda":
        raise InputError(f"--sync-bn: SyncBatchNorm needs CUDA devices (NCCL); this run is on {ctx.device.type} "
                         "- drop --sync-bn")


def convert_sync_bn(model: nn.Module) -> nn.Module:
    """SyncBatchNorm in place of BatchNorm, so small per-GPU batches share BN statistics. The trainer converts
    right after building the model, before --freeze adds hooks to BN modules and whether or not the model is
    then DDP-wrapped (PCGrad trains it unwrapped)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP-wrap when distributed."""
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def check_device(value: torch.Tensor, ctx: DistContext) -> None:
    """Collectives take tensors on the process's device: NCCL accepts CUDA tensors only, and gloo (the CPU
    tests) would let a CPU tensor through that then crashes the first CUDA job. Checked in one process too,
    so a single-GPU run catches what a multi-GPU one would hit."""
    if value.device != ctx.device:
        raise RuntimeError(f"collective on a tensor on {value.device} in a process on {ctx.device}: build it on the "
                           "process's device (NCCL takes CUDA tensors only)")


@torch.no_grad()
def broadcast_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Rank 0's floating buffers (BN statistics) to every rank in one collective, as DDP's broadcast_buffers does
    before each forward; for models trained unwrapped (PCGrad averages gradients by hand)."""
    if not ctx.distributed:
        return
    buffers = [b for b in model.buffers() if b.dtype.is_floating_point]
    if not buffers:
        return
    flat = torch.cat([b.reshape(-1).float() for b in buffers])
    check_device(flat, ctx)
    dist.broadcast(flat, src=0)
    offset = 0
    for b in buffers:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    check_device(value, ctx)
    if not ctx.distributed:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    check_device(value, ctx)
    if not ctx.distributed:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


@torch.no_grad()
def replica_max_abs_diff(tensors: list[torch.Tensor], ctx: DistContext) -> float:
    """The largest |difference| between this rank's `tensors` and rank 0's, maximised over all ranks
    (0.0 in a single process). Every rank must call it. DDP promises replicas that stay identical;
    this checks the promise (and the hand-averaged balancer gradients) instead of trusting it.
    Rank 0's values are broadcast rather than all-gathered, so each rank holds two copies, not N."""
    if not ctx.distributed or not tensors:
        return 0.0
    local = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    check_device(local, ctx)
    reference = local.clone()
    dist.broadcast(reference, src=0)
    diff = (local - reference).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())


class ResumableSampler(Sampler[tuple[int, int]]):
    """Wraps an epoch-seeded sampler (DistributedSampler, or the data package's weighted one) so that a
    resumed run skips the samples an interrupted epoch already consumed: the order depends only on
    (seed, epoch), so the remaining batches are the ones the interrupted run would have seen.

    Yields (index, augmentation seed): the seed is a pure function of (seed, epoch, rank, position), so
    each draw augments the same way whichever loader worker, process or resumed run makes it (worker
    RNG streams depend on how many batches a worker has served, which a resume changes).
    """

    def __init__(self, base: Sampler[int]) -> None:
        if not hasattr(base, "set_epoch"):
            raise TypeError(f"{type(base).__name__} has no set_epoch; its order would not survive a resume")
        self.base = base
        self.start = 0
        self.epoch = 0
        self.seed = int(getattr(base, "seed", 0))
        self.rank = int(getattr(base, "rank", 0))

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order and skip the first `start` samples of this replica's share."""
        self.base.set_epoch(epoch)
        self.epoch = int(epoch)
        self.start = max(0, int(start))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = list(self.base)
        for position in range(self.start, len(order)):
            seed = np.random.SeedSequence([self.seed, self.epoch, self.rank, position]).generate_state(1)[0]
            yield int(order[position]), int(seed)

    def __len__(self) -> int:
        return max(0, len(self.base) - self.start)


def per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    return max(1, math.ceil(global_batch / ctx.world_size))
