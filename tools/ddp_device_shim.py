#!/usr/bin/env python
"""`perception ARGS` under torchrun with every rank on one device and every collective's tensors checked.

    torchrun --nproc_per_node 2 tools/ddp_device_shim.py train --device cuda ...

For a machine with one GPU (tools/gpu_check.py's DDP step): NCCL refuses two ranks on one GPU, so the ranks
join a gloo group instead, and both use device 0. gloo also takes CPU tensors, which NCCL does not; so that a
collective given a CPU tensor still fails here as it would under NCCL, the torch.distributed collectives the
library calls are wrapped to refuse any tensor that is not on the rank's device. With --device cpu it is the
plain gloo run with the same checks (the CPU dry run).
"""

from __future__ import annotations

import functools
import os
import sys

import torch
import torch.distributed as dist

CHECKED = ("all_reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter_tensor", "reduce", "gather")


def rank_device(argv: list[str]) -> torch.device:
    """cuda:0 for `--device cuda[:N]` (every rank shares GPU 0), else the CPU."""
    device = argv[argv.index("--device") + 1] if "--device" in argv[:-1] else "cpu"
    return torch.device("cuda", 0) if device.startswith("cuda") else torch.device("cpu")


def tensors_of(args, kwargs) -> list[torch.Tensor]:
    found = []
    for value in [*args, *kwargs.values()]:
        items = value if isinstance(value, (list, tuple)) else [value]
        found += [t for t in items if isinstance(t, torch.Tensor)]
    return found


def on_device_only(name: str, collective, expected: torch.device):
    @functools.wraps(collective)
    def checked(*args, **kwargs):
        for tensor in tensors_of(args, kwargs):
            if tensor.device != expected:
                raise RuntimeError(f"dist.{name} got a tensor on {tensor.device}; this rank's device is {expected} "
                                   "(NCCL takes tensors on the rank's GPU only)")
        return collective(*args, **kwargs)

    return checked


def install(argv: list[str]) -> None:
    os.environ["LOCAL_RANK"] = "0"  # every rank on device 0 (perception.engine.distributed reads LOCAL_RANK)
    real_init = dist.init_process_group

    @functools.wraps(real_init)
    def gloo_group(*args, **kwargs):
        kwargs.pop("backend", None)
        return real_init("gloo", *args[1:], **kwargs)

    dist.init_process_group = gloo_group
    for name in CHECKED:
        if hasattr(dist, name):
            setattr(dist, name, on_device_only(name, getattr(dist, name), rank_device(argv)))


if __name__ == "__main__":
    install(sys.argv[1:])
    from perception.cli.main import main

    sys.exit(main(sys.argv[1:]))
