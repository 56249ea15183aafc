"""Keep only a fraction of one task's labels (the low-data setting of `perception compare-tasks`).

The images stay; for the images outside a seeded subset the task is marked unlabelled, so it adds exactly
zero loss there (docs/architecture.md: a missing label is never a negative) while the other tasks still
train on every image. The same seed keeps the same subset in every run of a comparison.

subset=True keeps only the images that kept their labels: how a single-task model is trained on scarce labels
(with the images masked instead, nine steps in ten of a 10 % run would carry no gradient at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch.utils.data import Dataset


def kept_indices(length: int, fraction: float, seed: int) -> set[int]:
    """round(fraction * length) indices (at least one), the same for the same (length, fraction, seed)."""
    count = max(1, round(fraction * length)) if fraction > 0 else 0
    return set(np.random.default_rng(seed).permutation(length)[:count].tolist())


class LabelFraction(Dataset):
    def __init__(self, dataset: Dataset, fractions: Mapping[str, float], seed: int = 0, subset: bool = False,
                 share: Mapping[str, float] | None = None) -> None:
        """fractions: task -> share of the images that keep that task's labels (0..1). subset: only the images
        that kept every thinned task's labels remain (in their original order). share: task -> share of the
        draws (by sampling weight) that go to the images that kept that task's labels (oversampling them)."""
        self.dataset = dataset
        self.keep = {task: kept_indices(len(dataset), float(f), seed) for task, f in fractions.items() if float(f) < 1.0}
        everything = range(len(dataset))
        self.indices = sorted(set.intersection(*self.keep.values())) if subset and self.keep else list(everything)
        self.share = {task: float(v) for task, v in (share or {}).items() if task in self.keep}

    def __len__(self) -> int:
        return len(self.indices)

    def item_weights(self) -> np.ndarray:
        """The wrapped dataset's sampling weights of the images that remain; with `share`, the images that kept a
        task's labels scaled together so that they draw that share of the total weight (the rest keep theirs)."""
        weights = np.asarray(self.dataset.item_weights(), np.float64)[self.indices]
        for task, share in self.share.items():
            labelled = np.isin(self.indices, sorted(self.keep[task]))
            kept, rest = weights[labelled].sum(), weights[~labelled].sum()
            if kept > 0 and rest > 0 and share < 1:
                weights[labelled] *= share * rest / ((1 - share) * kept)
        return weights

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """key: an index, or (index, augmentation seed) as the trainer's ResumableSampler yields."""
        index, aug_seed = key if isinstance(key, tuple) else (key, None)
        k = self.indices[index]
        item = self.dataset[k if aug_seed is None else (k, aug_seed)]
        if self.keep:
            labelled = dict(item["labelled"])
            for task, kept in self.keep.items():
                labelled[task] = bool(labelled.get(task, False)) and k in kept
            item = dict(item) | {"labelled": labelled}
            if "lanes" in self.keep and not labelled["lanes"]:
                item["lane_instances"] = False
        return item

    def __getattr__(self, name: str):
        # Source weights, class metadata...: everything else is the wrapped dataset's.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)
