"""Train/val loaders for the trainer, built on perception.data, with a resumable epoch order."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from perception.config import ModelConfig
from perception.engine.distributed import DistContext, ResumableSampler, per_rank_batch
from perception.engine.train_config import TrainConfig


def build_train_loaders(config: TrainConfig, model_config: ModelConfig, ctx: DistContext) -> tuple[DataLoader, DataLoader | None]:
    """(train loader, val loader or None when the data has no val split). Batches follow `collate`."""
    from perception.data.dataset import WeightedDistributedSampler, build_dataset, collate
    from perception.data.transforms import AugmentConfig

    augment = None if config.augment else AugmentConfig(affine_p=0, flip_p=0, hsv_p=0, brightness_contrast_p=0,
                                                        blur_p=0, noise_p=0, weather_p=0)
    from perception.data.dataset_config import require_task_labels

    train_set = build_dataset(config.data, "train", model_config, train=True, augment=augment,
                              allow_missing_labels=config.allow_missing_labels)
    unlabelled = require_task_labels(train_set.sources, model_config.enabled_tasks, config.data, config.allow_missing_labels)
    if len(set(train_set.source_weights)) > 1:
        base = WeightedDistributedSampler(train_set.item_weights(), len(train_set), ctx.rank, ctx.world_size, config.seed)
    else:
        base = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    if config.label_fraction:
        from perception.data.label_fraction import LabelFraction

        train_set = LabelFraction(train_set, config.label_fraction, config.seed)
    train_set.unlabelled_tasks = unlabelled  # the trainer warns about these on every epoch line
    batch = per_rank_batch(config.batch, ctx)
    # More loader processes than cores only adds contention (the default of 4 is meant for GPU nodes).
    workers = min(config.workers, os.cpu_count() or 1)
    train_loader = DataLoader(
        train_set, batch_size=batch, sampler=ResumableSampler(base), num_workers=workers, collate_fn=collate,
        pin_memory=ctx.device.type == "cuda", drop_last=len(train_set) >= batch * ctx.world_size,
        # Workers are seeded from this generator; reseeded per epoch, a resumed epoch augments alike.
        generator=torch.Generator().manual_seed(config.seed),
    )
    val_loader = None
    if ctx.is_main:
        try:
            val_set = build_dataset(config.data, "val", model_config, train=False,
                                    allow_missing_labels=config.allow_missing_labels)
        except FileNotFoundError:
            val_set = None
        if val_set is not None and len(val_set):
            val_loader = DataLoader(val_set, batch_size=batch, shuffle=False, num_workers=min(workers, 2),
                                    collate_fn=collate, pin_memory=ctx.device.type == "cuda")
    return train_loader, val_loader


def move_batch(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """The training batch on `device` (images NHWC in memory when channels_last)."""
    images = batch["images"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    out = dict(batch)
    out["images"] = images
    out["boxes"] = [b.to(device, non_blocking=True) for b in batch["boxes"]]
    out["classes"] = [c.to(device, non_blocking=True) for c in batch["classes"]]
    for key in ("lane_target", "drivable_target", "lane_instances"):
        if key in batch:
            out[key] = batch[key].to(device, non_blocking=True)
    out["labelled"] = {t: v.to(device) for t, v in batch["labelled"].items()}
    return out
