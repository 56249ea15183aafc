"""`perception data check`: load every item of a split and count what is there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from perception.classes import BDD100K_CLASSES
from perception.data.dataset_config import DatasetConfig, build_sources, resolve_data_arg
from perception.data.errors import ErrorPolicy, LabelError
from perception.structures import TASKS


def check_dataset(data_arg: str | Path | DatasetConfig, split: str = "val", strict: bool = True, progress: bool = True) -> dict[str, Any]:
    """Validate every image and label of `split`; strict raises the first LabelError, lenient counts.

    Returns counts per source and in total: images, labelled images per task, boxes per class, ignore
    boxes, lanes, lane masks, drivable masks, image sizes, dropped categories, tasks of a source without any
    label file (`missing_labels`; a task listed under the source's `tasks:` is an error before this) and skips per image and reason (`errors`).
    """
    config = resolve_data_arg(data_arg)
    policy = ErrorPolicy(strict=strict)
    sources = build_sources(config, split, policy)
    missing = {src.name: dict(src.missing_tasks) for src in sources if src.missing_tasks}
    per_source = []
    for source in sources:
        stats: dict[str, Any] = {"name": source.name, "type": source.type_name, "root": str(source.root), "images": 0,
                                 "labelled": Counter(), "boxes_per_class": Counter(), "ignore_boxes": 0, "lanes": 0,
                                 "lane_masks": 0, "drivable_masks": 0, "image_sizes": Counter(),
                                 "unlabelled_images": getattr(source, "unlabelled_images", 0)}
        for i in tqdm(range(len(source)), desc=f"check {source.name}", disable=not progress, leave=False):
            try:
                sample = source.load(i)
            except LabelError as err:
                policy.report(err)
                continue
            stats["images"] += 1
            stats["image_sizes"][f"{sample.width}x{sample.height}"] += 1
            for task in TASKS:
                stats["labelled"][task] += int(sample.labelled[task])
            for c in sample.classes.tolist():
                stats["boxes_per_class"][BDD100K_CLASSES[c]] += 1
            stats["ignore_boxes"] += len(sample.ignore_boxes)
            stats["lanes"] += len(sample.lanes)
            stats["lane_masks"] += int(sample.lane_mask is not None)
            stats["drivable_masks"] += int(sample.drivable is not None)
        stats["dropped_categories"] = dict(source.dropped_categories)
        stats["missing_tasks"] = dict(source.missing_tasks)
        per_source.append({k: dict(v) if isinstance(v, Counter) else v for k, v in stats.items()})
    total: dict[str, Any] = {"images": 0, "labelled": Counter(), "boxes_per_class": Counter(), "ignore_boxes": 0, "lanes": 0,
                             "lane_masks": 0, "drivable_masks": 0}
    for stats in per_source:
        for key in total:
            if isinstance(total[key], Counter):
                total[key].update(stats[key])
            else:
                total[key] += stats[key]
    total = {k: dict(v) if isinstance(v, Counter) else v for k, v in total.items()}
    total["boxes"] = sum(total["boxes_per_class"].values())
    return {"data": config.path, "split": split, "strict": strict, "sources": per_source, "total": total,
            "missing_labels": missing, "errors": policy.summary()}
