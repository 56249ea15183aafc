"""Torch Dataset mixing several sources, its collate function, samplers and loaders.

One item is a dict of tensors for the training batch of docs/architecture.md; `collate` stacks them.
`iter_samples` yields original-resolution `Sample`s for evaluation.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from perception.batching import pad_boxes, pad_regions
from perception.classes import BDD100K_CLASSES
from perception.config import DEFAULT_IMGSZ, IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from perception.data.copy_paste import paste_objects
from perception.data.dataset_config import DatasetConfig, build_sources, resolve_data_arg
from perception.data.errors import ErrorPolicy, LabelError
from perception.data.sources import SourceAdapter
from perception.data.targets import crossing_pixels, default_lane_thickness, drivable_target, lane_target, marking_targets
from perception.data.transforms import AugmentConfig, Augmented, EvalTransform, TrainTransform
from perception.errors import InputError
from perception.markings import MARKING_STRIDE
from perception.structures import TASKS, Sample

LOG = logging.getLogger("perception.data")


class MultiTaskDataset(Dataset):
    """Items from all sources, letterboxed (eval) or augmented (train), as training tensors.

    Item: image uint8 (3, H, W) RGB, not normalised (move_batch normalises on the device: a quarter of the
    bytes through shared memory); boxes float32 (N, 4) xyxy input pixels; classes int64 (N,);
    ignore_boxes float32 (M, 4); class_labelled bool (num classes,) the classes its source labels;
    lane_target uint8 (H, W); drivable_target uint8 (H, W); lane_attr_target uint8 (3, H/4, W/4);
    crossing_target uint8 (H/4, W/4) (255 ignore; move_batch widens them to int64); labelled
    dict task -> bool; lane_instances bool; meta dict (path, source, letterbox info, flipped).
    """

    def __init__(
        self,
        sources: list[SourceAdapter],
        imgsz: tuple[int, int] = DEFAULT_IMGSZ,
        train: bool = False,
        lane_slots: int = 6,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        policy: ErrorPolicy | None = None,
        lane_thickness: int | None = None,
        augment: AugmentConfig | None = None,
        weights: list[float] | None = None,
    ):
        self.sources = sources
        self.imgsz = tuple(imgsz)
        self.train = train
        self.lane_slots = lane_slots
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.policy = policy or ErrorPolicy(strict=not train)
        self.lane_thickness = lane_thickness or default_lane_thickness(self.imgsz[1])
        self.transform = TrainTransform(self.imgsz, augment) if train else EvalTransform(self.imgsz)
        self.index = [(s, i) for s, src in enumerate(sources) for i in range(len(src))]
        self.source_weights = list(weights) if weights else [1.0] * len(sources)

    def __len__(self) -> int:
        return len(self.index)

    def sample(self, k: int) -> Sample:
        s, i = self.index[k]
        return self.sources[s].load(i)

    def samples(self) -> Iterator[Sample]:
        """Every item untransformed (original resolution), in index order, as `iter_samples` yields them;
        the validator scores these. Bad items follow the dataset's error policy."""
        return load_samples(self.sources, self.policy)

    def prepare(self, k: int, aug_seed: int | None = None) -> Augmented:
        """The k-th item transformed, before tensors; an unreadable item is skipped (lenient) by moving on.

        aug_seed: seeds this draw's augmentation (a pure function of it), else the worker's `random`.
        """
        for attempt in range(len(self)):
            j = (k + attempt) % len(self)
            try:
                if isinstance(self.transform, TrainTransform):
                    rng = random.Random(aug_seed) if aug_seed is not None else random
                    return self.transform(self._with_pasted_objects(self.sample(j), rng), rng)
                return self.transform(self.sample(j))
            except LabelError as err:
                self.policy.report(err)  # raises in strict mode
        roots = ", ".join(sorted({str(src.root) for src in self.sources}))
        raise InputError(f"{roots}: every one of the {len(self)} items failed to load (skips by kind "
                         f"{dict(self.policy.counts)}); `perception data check` lists them")

    def _with_pasted_objects(self, sample: Sample, rng: random.Random) -> Sample:
        """With probability copy_paste_p, `sample` with objects of a random other item pasted in place."""
        if rng.random() >= self.transform.config.copy_paste_p or len(self) < 2:
            return sample
        try:
            donor = self.sample(rng.randrange(len(self)))
        except LabelError as err:
            self.policy.report(err)  # the donor is skipped; the item itself is fine
            return sample
        return paste_objects(sample, donor, rng)

    def item_weights(self) -> np.ndarray:
        """Per-item sampling weight: each source's share follows its weight, whatever its size."""
        sizes = [len(src) for src in self.sources]
        return np.array([self.source_weights[s] / max(sizes[s], 1) for s, _ in self.index], np.float64)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """key: an index, or (index, augmentation seed) as the trainer's ResumableSampler yields."""
        k, aug_seed = key if isinstance(key, tuple) else (key, None)
        with self.policy.capture() as skipped:
            item = self.prepare(k, aug_seed)
        size = self.imgsz
        lane_mask = item.lane_mask
        if lane_mask is not None and item.lane_bits is not None:
            lane_mask = lane_mask * ~crossing_pixels(item.lane_bits)  # crossings are their own output, not lanes
        lanes_t, instances = lane_target(item.lanes, item.lane_attrs, lane_mask, item.labelled["lanes"], size,
                                         self.lane_slots, self.lane_thickness)
        attr_t, crossing_t = marking_targets(item.lanes, item.lane_attrs, item.lane_bits, item.labelled["lanes"], size,
                                             MARKING_STRIDE, self.lane_thickness)
        info = item.info
        return {
            "image": torch.from_numpy(np.ascontiguousarray(item.image.transpose(2, 0, 1))),
            "boxes": torch.from_numpy(item.boxes.astype(np.float32).reshape(-1, 4)),
            "classes": torch.from_numpy(item.classes.astype(np.int64)),
            "ignore_boxes": torch.from_numpy(item.ignore_boxes.astype(np.float32).reshape(-1, 4)),
            "lane_target": torch.from_numpy(lanes_t),
            "lane_attr_target": torch.from_numpy(attr_t),
            "crossing_target": torch.from_numpy(crossing_t),
            "drivable_target": torch.from_numpy(drivable_target(item.drivable, item.labelled["drivable"], size)),
            "labelled": dict(item.labelled),
            "class_labelled": self._class_labelled(k),
            "lane_instances": bool(instances and item.labelled["lanes"]),
            "meta": {"path": item.path, "source": item.source, "flipped": item.flipped, "skipped": skipped,
                     "letterbox": {"scale": info.scale, "pad_x": info.pad_x, "pad_y": info.pad_y,
                                   "orig_size": info.orig_size, "input_size": info.input_size}},
        }


    def _class_labelled(self, k: int) -> torch.Tensor:
        """bool (num classes,): the classes the item's source labels (where it labels the task at all)."""
        classes = self.sources[self.index[k][0]].labelled_classes()
        out = torch.ones(len(BDD100K_CLASSES), dtype=torch.bool)
        if classes is not None:
            out[:] = False
            out[list(classes)] = True
        return out


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """List of items -> the training batch of docs/architecture.md (with `ignore_boxes`, `class_labelled`, and the
    same boxes padded for the loss: `gt_boxes` (B, M, 4), `gt_classes` (B, M) -1-padded, `gt_ignore` (B, K, 4))."""
    boxes, classes = [b["boxes"] for b in batch], [b["classes"] for b in batch]
    gt_boxes, gt_classes = pad_boxes(boxes, classes)
    return {
        "images": torch.stack([b["image"] for b in batch]),
        "boxes": [b["boxes"] for b in batch],
        "classes": [b["classes"] for b in batch],
        "ignore_boxes": [b["ignore_boxes"] for b in batch],
        "lane_target": torch.stack([b["lane_target"] for b in batch]),
        "lane_attr_target": torch.stack([b["lane_attr_target"] for b in batch]),
        "crossing_target": torch.stack([b["crossing_target"] for b in batch]),
        "drivable_target": torch.stack([b["drivable_target"] for b in batch]),
        "labelled": {t: torch.tensor([b["labelled"][t] for b in batch], dtype=torch.bool) for t in TASKS},
        "class_labelled": torch.stack([b["class_labelled"] for b in batch]),
        "lane_instances": torch.tensor([b["lane_instances"] for b in batch], dtype=torch.bool),
        "meta": [b["meta"] for b in batch],
        "gt_boxes": gt_boxes,
        "gt_classes": gt_classes,
        "gt_ignore": pad_regions([b["ignore_boxes"] for b in batch]),
    }


class WeightedDistributedSampler(Sampler[int]):
    """Draws items with replacement by weight; each rank takes its own slice of the same draw.

    Mixing sources by weight (e.g. 1 synthetic : 3 BDD100K) works with and without DDP; call
    `set_epoch` each epoch, as with torch's DistributedSampler.
    """

    def __init__(self, weights: np.ndarray, num_samples: int | None = None, rank: int = 0, world_size: int = 1, seed: int = 0):
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.total = int(num_samples or len(weights))
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, 0
        self.per_rank = math.ceil(self.total / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        draw = torch.multinomial(self.weights, self.per_rank * self.world_size, replacement=True, generator=gen)
        return iter(draw[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank


def build_dataset(data_arg: str | Path | DatasetConfig, split: str, model_config: ModelConfig | None = None, train: bool = False,
                  strict: bool = False, augment: AugmentConfig | None = None, lane_thickness: int | None = None,
                  allow_missing_labels: bool = False) -> MultiTaskDataset:
    """Dataset for `--data` (YAML or BDD100K-layout directory) and one split, sized for `model_config`."""
    config = resolve_data_arg(data_arg)
    model_config = model_config or ModelConfig()
    policy = ErrorPolicy(strict=strict)
    sources = build_sources(config, split, policy, allow_missing_labels)
    weights = [src.weight for src in config.sources if split in src.splits]
    return MultiTaskDataset(sources, model_config.imgsz, train, model_config.lane_slots, model_config.mean, model_config.std,
                            policy, lane_thickness, augment, weights)


def build_sampler(dataset: MultiTaskDataset, shuffle: bool, rank: int = 0, world_size: int = 1, seed: int = 0) -> Sampler:
    """Weighted mixing when sources have unequal weights (train), else Distributed/Random/Sequential."""
    from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

    if shuffle and len(set(dataset.source_weights)) > 1:
        return WeightedDistributedSampler(dataset.item_weights(), len(dataset), rank, world_size, seed)
    if world_size > 1:
        return DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    if shuffle:
        return RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return SequentialSampler(dataset)


def build_dataloader(dataset: MultiTaskDataset, batch_size: int, workers: int = 2, shuffle: bool | None = None,
                     rank: int = 0, world_size: int = 1, seed: int = 0, drop_last: bool | None = None):
    """DataLoader with `collate`; shuffles (and drops the last partial batch) when the dataset trains."""
    from torch.utils.data import DataLoader

    shuffle = dataset.train if shuffle is None else shuffle
    sampler = build_sampler(dataset, shuffle, rank, world_size, seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=torch.cuda.is_available(), drop_last=dataset.train if drop_last is None else drop_last,
                      persistent_workers=workers > 0)


def iter_samples(data_arg: str | Path | DatasetConfig, split: str = "val", strict: bool = False,
                 policy: ErrorPolicy | None = None) -> Iterator[Sample]:
    """Original-resolution Samples of a split, for evaluation; bad items follow the error policy."""
    policy = policy or ErrorPolicy(strict=strict)
    return load_samples(build_sources(resolve_data_arg(data_arg), split, policy), policy)


def load_samples(sources: list[SourceAdapter], policy: ErrorPolicy) -> Iterator[Sample]:
    """The items of `sources` in order; a LabelError goes to `policy` (raises when strict, else skips)."""
    for source in sources:
        for i in range(len(source)):
            try:
                yield source.load(i)
            except LabelError as err:
                policy.report(err)
