"""What a GPU run needs that a CPU can check: nothing in the step is built off the inputs' device, collectives
take tensors of the process's device, every rank stops together, resume and SyncBatchNorm/--freeze work
(issue 22; the GPU itself runs tools/gpu_check.py)."""

from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from perception.config import BALANCING_MODES, ModelConfig
from perception.engine import TrainConfig, Trainer
from perception.engine.distributed import DistContext, all_reduce_mean, convert_sync_bn, replica_max_abs_diff
from perception.engine.step_stats import StepStats
from perception.engine.transfer import apply_freeze
from perception.losses import MultiTaskLoss
from perception.models import build_model

from engine_sizes import TINY_IMGSZ
from torchrun import free_port


def _trainer(data, out, **kw) -> Trainer:
    cfg = TrainConfig(**(dict(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0, device="cpu",
                              out=str(out), augment=False, amp="off") | kw))
    trainer = Trainer(cfg, progress=False)
    trainer._setup()
    return trainer


@pytest.mark.parametrize("balancing", BALANCING_MODES)
def test_the_whole_step_builds_nothing_without_a_device(tiny_synthetic, tmp_path, balancing):
    """With `meta` as the default device, a tensor the step makes without `device=` lands on meta and the step
    fails at the line that made it: what would be a CPU tensor meeting CUDA ones on a GPU (the step-1 crash of
    `_global_to_local`). Loss, assigner, balancers, gradient monitor, optimizer and EMA, with every task."""
    trainer = _trainer(tiny_synthetic, tmp_path / balancing, balancing=balancing, grad_monitor_period=1)
    batch = next(iter(trainer.train_loader))
    trainer.train_step(batch)  # the optimizer creates its state (torch's own code) on the first step
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with torch.device("meta"):
        trainer.train_step(batch)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert all(p.device.type == "cpu" for p in trainer.model.parameters())


def test_multitask_loss_to_another_dtype_and_device_leaves_nothing_behind():
    loss = MultiTaskLoss(ModelConfig(scale="n", imgsz=TINY_IMGSZ), balancing="dwa")
    moved = loss.to("meta")
    left = [name for name, t in [*moved.named_parameters(), *moved.named_buffers()] if t.device.type != "meta"]
    assert not left
    for task, head in moved.detection.items():
        assert head.global_to_local.device.type == "meta", task
    # State dicts keep their keys: the lookup tables are not persistent (checkpoints load as before).
    assert not any("global_to_local" in k or "crossing_class_weights" in k for k in loss.state_dict())


def test_collectives_refuse_a_tensor_off_the_process_device():
    ctx = DistContext(device=torch.device("meta"))
    with pytest.raises(RuntimeError, match="collective on a tensor on cpu in a process on meta"):
        all_reduce_mean(torch.ones(1), ctx)
    with pytest.raises(RuntimeError, match="NCCL takes CUDA tensors only"):
        replica_max_abs_diff([torch.ones(2)], DistContext(world_size=2, device=torch.device("meta")))
    assert all_reduce_mean(torch.ones(1, device="meta"), ctx).device.type == "meta"


def test_resume_reads_the_checkpoint_on_the_host(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    Trainer(TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=0,
                        device="cpu", out=str(out), max_steps=1, amp="off"), progress=False).fit()
    trainer = Trainer(TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, epochs=2, batch=2, workers=0,
                                  device="cpu", out=str(out), amp="off"), resume=True, progress=False)
    trainer.ctx = DistContext(device=torch.device("meta"))  # a process on another device than the CPU
    ckpt = trainer._resume_checkpoint()
    tensors = [ckpt["rng"]["numpy"], ckpt["rng"]["torch"], *ckpt["model"].values()]
    assert all(t.device.type == "cpu" for t in tensors)


def _bn_stats(model: nn.Module) -> list[torch.Tensor]:
    return [m.running_mean.clone() for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_freeze_still_freezes_batchnorm_after_syncbn_conversion():
    """--sync-bn replaces BN modules; converted first (as the trainer does), the freeze hooks are on the modules
    that run, so a frozen backbone's statistics stay put in train mode."""
    torch.manual_seed(0)
    model = convert_sync_bn(build_model(ModelConfig(scale="n", imgsz=TINY_IMGSZ)))
    apply_freeze(model, "backbone")
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.backbone.modules())
    before = _bn_stats(model)
    model.train()
    model(torch.randn(2, 3, *TINY_IMGSZ))  # no process group: SyncBatchNorm runs as BatchNorm
    assert all(torch.equal(a, b) for a, b in zip(before, _bn_stats(model)))


def test_pcgrad_under_ddp_converts_to_syncbn_although_the_model_is_not_wrapped(tiny_synthetic, tmp_path, monkeypatch):
    from perception.engine import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "check_sync_bn", lambda sync_bn, ctx: None)  # SyncBN's CUDA-only guard
    monkeypatch.setattr(trainer_module, "setup_distributed",
                        lambda device: DistContext(rank=0, world_size=2, device=torch.device("cpu")))
    # no process group in this test: the wrapper and rank 0's folder broadcast are what would need one
    monkeypatch.setattr(trainer_module, "wrap_model", lambda model, ctx: model)
    monkeypatch.setattr("perception.engine.distributed.broadcast_object", lambda value, ctx: value)
    trainer = _trainer(tiny_synthetic, tmp_path / "pcgrad", balancing="pcgrad", sync_bn=True, freeze="backbone")
    assert trainer.task_backward.reduces_by_hand and trainer.train_model is trainer.model
    assert any(isinstance(m, nn.SyncBatchNorm) for m in trainer.model.modules())
    assert not any(type(m) is nn.BatchNorm2d for m in trainer.model.modules())


def _stats_rank(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        stats = StepStats(DistContext(rank=rank, world_size=world, device=torch.device("cpu")))
        total = torch.tensor(float("nan") if rank == 1 else 1.0)
        stats.add({"total": total, "objects": torch.tensor(0.5)})
        queue.put((rank, stats.read()["nonfinite_ranks"]))
    finally:
        dist.destroy_process_group()


def test_a_nonfinite_loss_on_one_rank_is_seen_by_every_rank():
    """Each rank reads the same verdict, so all stop at the same step instead of one raising while the others
    wait in the next all-reduce until NCCL's timeout."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_stats_rank, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == {0: [1], 1: [1]}
