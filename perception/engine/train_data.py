"""Train/val loaders for the trainer, built on perception.data, with a resumable epoch order."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from perception.config import ModelConfig
from perception.engine.distributed import DistContext, ResumableSampler, per_rank_batch
from perception.engine.train_config import TrainConfig
from perception.models.input_norm import normalize_uint8

# The loader's per-pixel targets (uint8, 255 = ignore); the losses index with them as int64.
DENSE_TARGETS = ("lane_target", "drivable_target", "lane_attr_target", "crossing_target")


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
    if config.label_fraction:  # before the sampler: with label_subset fewer images remain
        from perception.data.label_fraction import LabelFraction

        train_set = LabelFraction(train_set, config.label_fraction, config.seed, subset=config.label_subset,
                                  share=config.label_share)
    if len(set(train_set.source_weights)) > 1 or config.label_share:
        base = WeightedDistributedSampler(train_set.item_weights(), len(train_set), ctx.rank, ctx.world_size, config.seed)
    else:
        base = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    train_set.unlabelled_tasks = unlabelled  # the trainer warns about these on every epoch line
    batch = per_rank_batch(config.batch, ctx)
    workers = loader_workers(config.workers)
    train_loader = DataLoader(
        train_set, batch_size=batch, sampler=ResumableSampler(base), num_workers=workers, collate_fn=collate,
        pin_memory=ctx.device.type == "cuda", drop_last=len(train_set) >= batch * ctx.world_size,
        # Worker RNG seeds come from this generator (drawn once: the workers persist); augmentation does not use
        # them but the sampler's (seed, epoch, position) keys, so a resumed epoch augments alike.
        generator=torch.Generator().manual_seed(config.seed), **worker_options(workers),
    )
    val_loader = None
    try:
        val_set = build_dataset(config.data, "val", model_config, train=False,
                                allow_missing_labels=config.allow_missing_labels)
    except FileNotFoundError:
        val_set = None
    if val_set is not None and len(val_set):
        # Every rank keeps the val split: perception.engine.validate scores each rank's shard of it (through its
        # own loader of original-resolution samples); this loader gives it the dataset, batch size and workers.
        val_loader = DataLoader(val_set, batch_size=batch, shuffle=False, num_workers=workers,
                                collate_fn=collate, pin_memory=ctx.device.type == "cuda")
    return train_loader, val_loader


def loader_workers(requested: int) -> int:
    """Loader processes per training process: `requested`, at most this process's share of the cores.

    More loader processes than cores only adds contention; under torchrun the node's ranks share them."""
    if requested <= 0:
        return 0
    share = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(requested, share))


def worker_options(workers: int) -> dict[str, Any]:
    """DataLoader options for `workers` processes: kept across epochs, one OpenCV thread each."""
    from perception.data.workers import init_worker, prepare_fork

    if workers <= 0:
        return {}
    prepare_fork()
    # persistent: no re-fork (and dataset copy) per epoch. The trainer's epoch order and augmentation come from
    # the sampler's (seed, epoch, position) keys, not from worker RNG, so a resumed run still augments alike.
    # prefetch 2 batches per worker (torch's default, stated): 8 workers keep 16 batches in flight, enough to
    # absorb per-image decode variance; each more costs /dev/shm (1.3 MB per uint8 item at 384x640, so batch 64
    # x 8 workers x 2 = 1.3 GB where float32/int64 items needed 7.5 GB), which containers often keep small.
    return {"persistent_workers": True, "worker_init_fn": init_worker, "prefetch_factor": 2}


def move_batch(batch: dict[str, Any], device: torch.device, channels_last: bool = False, *,
               mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """The training batch on `device`: uint8 images normalised there with the model's `mean`/`std` (already
    float images, e.g. a test's inf batch, are taken as normalised), NHWC in memory when channels_last, and the
    uint8 dense targets widened to the int64 that cross-entropy indexes with."""
    images = batch["images"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    if images.dtype == torch.uint8:
        images = normalize_uint8(images, mean, std)
    elif not images.is_floating_point():
        raise TypeError(f"batch images must be uint8 or normalised floats, got {images.dtype}")
    out = dict(batch)
    out["images"] = images
    # The per-image box lists stay on the host (the loss reads the padded gt_* tensors): 2B copies saved.
    for key in DENSE_TARGETS:
        if key in batch:
            out[key] = batch[key].to(device, non_blocking=True).long()
    for key in ("lane_instances", "gt_boxes", "gt_classes", "gt_ignore", "class_labelled"):
        if key in batch:
            out[key] = batch[key].to(device, non_blocking=True)
    # Which tasks the batch labels at all, decided here on the host copy: the balancers branch on it in Python.
    out["task_active"] = {t: bool(v.any()) for t, v in batch["labelled"].items()}
    out["labelled"] = {t: v.to(device, non_blocking=True) for t, v in batch["labelled"].items()}
    return out
