"""The val split through a DataLoader: workers read and letterbox the original-resolution Samples, the
main process runs the model and scores them (perception.evaluation.validator.Validator.score_loader).

Items keep the split's order (`load_samples`'), so a batched validation feeds the Evaluator exactly as the
sequential one. Under DDP each rank reads one contiguous shard (`ShardSampler`); the shards' evaluators,
merged in rank order, are the whole split's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from perception.data.errors import LabelError
from perception.preprocess import LetterboxInfo, letterbox
from perception.structures import Sample


@dataclass
class ValBatch:
    """samples: the readable items in split order; images: their letterboxes (B, 3, H, W) uint8 RGB;
    infos: each letterbox; errors: the LabelErrors of unreadable items, for the main process's policy."""

    samples: list[Sample]
    images: torch.Tensor
    infos: list[LetterboxInfo]
    errors: list[LabelError]

    def pin_memory(self) -> "ValBatch":  # DataLoader(pin_memory=True) pins custom batches through this
        return ValBatch(self.samples, self.images.pin_memory(), self.infos, self.errors)


class ValItems(Dataset):
    """Item k of a split (a MultiTaskDataset's `sample(k)`, index order = `samples()` order), letterboxed to
    `imgsz` as the predictors' preprocess does, or the LabelError that made it unreadable."""

    def __init__(self, dataset, imgsz: tuple[int, int]):
        self.dataset = dataset
        self.imgsz = tuple(imgsz)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, k: int) -> dict[str, Any]:
        try:
            sample = self.dataset.sample(k)
        except LabelError as err:
            # LabelError does not survive pickling (its constructor takes the parts): send the parts.
            return {"error": (err.path, err.problem, err.kind, err.item)}
        boxed, info = letterbox(sample.image, self.imgsz)
        return {"sample": sample, "image": torch.from_numpy(np.ascontiguousarray(boxed.transpose(2, 0, 1))), "info": info}


def collate_val(items: list[dict[str, Any]]) -> ValBatch:
    good = [item for item in items if "error" not in item]
    images = torch.stack([item["image"] for item in good]) if good else torch.zeros((0, 3, 1, 1), dtype=torch.uint8)
    return ValBatch([item["sample"] for item in good], images, [item["info"] for item in good],
                    [LabelError(*item["error"]) for item in items if "error" in item])


class ShardSampler(Sampler[int]):
    """Rank `rank`'s contiguous part of range(length) (sizes differ by at most one; none repeated or padded,
    unlike DistributedSampler, so no image counts twice): concatenated in rank order, the whole range."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1):
        per_rank = length / world_size
        self.start, self.stop = math.floor(rank * per_rank), math.floor((rank + 1) * per_rank)

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def build_val_loader(dataset, imgsz: tuple[int, int], batch_size: int, workers: int = 0, rank: int = 0,
                     world_size: int = 1, limit: int | None = None, pin_memory: bool = False) -> DataLoader:
    """This rank's shard of the first `limit` items (all when None) of `dataset`'s split, as ValBatches."""
    from perception.data.workers import init_worker, prepare_fork

    length = len(dataset) if limit is None else min(len(dataset), limit)
    if workers > 0:
        prepare_fork()
    options = {"worker_init_fn": init_worker} if workers > 0 else {}
    return DataLoader(ValItems(dataset, imgsz), batch_size=batch_size, sampler=ShardSampler(length, rank, world_size),
                      num_workers=workers, collate_fn=collate_val, pin_memory=pin_memory, **options)
