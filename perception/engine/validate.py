"""Quick per-head validation metrics during training, on the network's input pixels.

objects / pedestrians: COCO-style mAP@0.5 (perception.evaluation.detection, pycocotools-equal) at
conf 0.001 and NMS IoU 0.6, as the multi-task papers evaluate. lanes: IoU and recall ("accuracy" in
YOLOP) of the binary lane mask (argmax != 0) against the lane target raster. drivable: mIoU over the
three classes. `fitness` (used to pick best.pt) is the mean of the available head metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from perception.classes import BDD100K_CLASSES
from perception.config import ModelConfig
from perception.evaluation.detection import DetectionAccumulator
from perception.postprocess.decode import decode_detections

IGNORE = 255
VAL_CONF = 0.001
VAL_NMS_IOU = 0.6
HEADS = {"objects": ("obj", "object_classes", "object_strides"), "pedestrians": ("ped", "pedestrian_classes", "pedestrian_strides")}


class SegmentationCounts:
    """Confusion counts of a class map against a target with an ignore value."""

    def __init__(self, num_classes: int) -> None:
        self.confusion = np.zeros((num_classes, num_classes), np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        valid = target != IGNORE
        n = len(self.confusion)
        self.confusion += np.bincount(n * target[valid].astype(np.int64) + pred[valid], minlength=n * n).reshape(n, n)

    def iou(self) -> np.ndarray:
        tp = np.diag(self.confusion).astype(np.float64)
        denom = self.confusion.sum(0) + self.confusion.sum(1) - tp
        return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

    def recall(self) -> np.ndarray:
        tp = np.diag(self.confusion).astype(np.float64)
        gt = self.confusion.sum(1)
        return np.where(gt > 0, tp / np.maximum(gt, 1), np.nan)

    def f1(self) -> np.ndarray:
        """Per class 2TP / (2TP + FP + FN), the Dice of the class's mask."""
        tp = np.diag(self.confusion).astype(np.float64)
        denom = self.confusion.sum(0) + self.confusion.sum(1)
        return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)


@torch.no_grad()
def validate(
    model: nn.Module,
    loader,
    model_config: ModelConfig,
    device: torch.device,
    max_batches: int = 0,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run `model` (eval mode, usually the EMA) over `loader`; returns flat metrics and `fitness`."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    tasks = model_config.enabled_tasks
    accumulators = {
        task: DetectionAccumulator({c: BDD100K_CLASSES[c] for c in getattr(model_config, HEADS[task][1])}, max_detections=300)
        for task in HEADS
        if task in tasks
    }
    lane_counts = SegmentationCounts(2)
    drivable_counts = SegmentationCounts(3)
    seen = {t: 0 for t in tasks}
    total = len(loader) if max_batches <= 0 else min(len(loader), max_batches)
    for index, batch in enumerate(tqdm(loader, total=total, desc="val", leave=False, disable=not progress)):
        if max_batches and index >= max_batches:
            break
        images = batch["images"].to(device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            outputs = model(images)
        outputs = {k: v.float().cpu() for k, v in outputs.items()}
        imgsz = tuple(images.shape[-2:])
        labelled = {t: torch.as_tensor(v).cpu().numpy().astype(bool) for t, v in batch["labelled"].items()}
        for b in range(images.shape[0]):
            for task, acc in accumulators.items():
                if not labelled[task][b]:
                    continue
                prefix, class_attr, stride_attr = HEADS[task]
                dets = decode_detections(
                    outputs[f"{prefix}_reg"][b].numpy(), outputs[f"{prefix}_cls"][b].numpy(), imgsz,
                    getattr(model_config, stride_attr), getattr(model_config, class_attr),
                    VAL_CONF, VAL_NMS_IOU, 300,
                )
                gt_boxes = np.asarray(batch["boxes"][b], np.float32).reshape(-1, 4)
                gt_classes = np.asarray(batch["classes"][b], np.int64).reshape(-1)
                acc.update(dets.boxes, dets.scores, dets.classes, gt_boxes, gt_classes)
                seen[task] += 1
            if "lanes" in tasks and labelled["lanes"][b]:
                target = batch["lane_target"][b].numpy()
                binary_target = np.where(target == IGNORE, IGNORE, (target > 0).astype(np.int64))
                lane_counts.update((outputs["lane"][b].argmax(0).numpy() != 0).astype(np.int64), binary_target)
                seen["lanes"] += 1
            if "drivable" in tasks and labelled["drivable"][b]:
                drivable_counts.update(outputs["drivable"][b].argmax(0).numpy().astype(np.int64), batch["drivable_target"][b].numpy())
                seen["drivable"] += 1

    metrics: dict[str, Any] = {}
    head_scores = []
    for task, acc in accumulators.items():
        if seen[task]:
            summary = acc.summary()
            metrics[f"{task}/map50"] = summary["map50"] if summary["map50"] is not None else 0.0
            metrics[f"{task}/map50_95"] = summary["map50_95"] if summary["map50_95"] is not None else 0.0
            metrics[f"{task}/recall50"] = summary["recall50"] if summary["recall50"] is not None else 0.0
            head_scores.append(metrics[f"{task}/map50"])
    if "lanes" in tasks and seen["lanes"]:
        metrics["lanes/iou"] = float(np.nan_to_num(lane_counts.iou()[1]))
        metrics["lanes/accuracy"] = float(np.nan_to_num(lane_counts.recall()[1]))
        metrics["lanes/f1"] = float(np.nan_to_num(lane_counts.f1()[1]))
        head_scores.append(metrics["lanes/iou"])
    if "drivable" in tasks and seen["drivable"]:
        ious = drivable_counts.iou()
        metrics["drivable/miou"] = float(np.nanmean(ious)) if np.isfinite(ious).any() else 0.0
        metrics["drivable/iou_direct"] = float(np.nan_to_num(ious[0]))
        metrics["drivable/iou_alternative"] = float(np.nan_to_num(ious[1]))
        head_scores.append(metrics["drivable/miou"])
    metrics["fitness"] = float(np.mean(head_scores)) if head_scores else 0.0
    metrics["images"] = int(max(seen.values(), default=0))
    model.train(was_training)
    return metrics
