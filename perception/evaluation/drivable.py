"""Drivable-area IoU from one confusion matrix summed over all pixels of the split (255 ignored)."""

from __future__ import annotations

import numpy as np

from perception.classes import DRIVABLE_CLASSES, IGNORE_INDEX
from perception.evaluation.lanes import resize_mask
from perception.evaluation.merge import merge_fields


def confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore: int = IGNORE_INDEX) -> np.ndarray:
    """(C, C + 1) int64 counts, rows = gt class, columns = predicted class; gt == ignore is skipped.

    The extra last column counts predictions outside [0, C) (e.g. an unset pixel): a miss of the gt
    class (an FN) that is no class's false positive.
    """
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    keep = (gt != ignore) & (gt >= 0) & (gt < num_classes)
    gt, pred = gt[keep], pred[keep]
    pred = np.where((pred >= 0) & (pred < num_classes), pred, num_classes)
    counts = np.bincount(gt * (num_classes + 1) + pred, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN) from a (C, C[+1]) matrix; NaN for a class absent from both."""
    num_classes = matrix.shape[0]
    tp = np.diag(matrix[:, :num_classes]).astype(np.float64)
    fp = matrix[:, :num_classes].sum(0) - tp
    fn = matrix.sum(1) - tp
    denom = tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


class DrivableAccumulator:
    """Per-class IoU (direct, alternative, background) and mIoU, plus YOLOP's binary drivable IoU."""

    def __init__(self, class_names: tuple[str, ...] = DRIVABLE_CLASSES):
        self.class_names = tuple(class_names)
        n = len(self.class_names)
        self.matrix = np.zeros((n, n + 1), np.int64)
        self.num_images = 0

    def merge(self, other: "DrivableAccumulator") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("matrix", "num_images"))

    def update(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        """Add one image: pred (H', W') class map (resized to gt's size if needed), gt (H, W) uint8."""
        pred = resize_mask(pred, gt.shape[:2])
        matrix = confusion(pred, gt, len(self.class_names))
        self.matrix += matrix
        self.num_images += 1
        iou = iou_from_confusion(matrix)
        return {"miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0}

    def summary(self) -> dict:
        iou = iou_from_confusion(self.matrix)
        out = {"iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(self.class_names, iou)}}
        out["miou"] = float(np.nanmean(iou)) if np.isfinite(iou).any() else None
        # YOLOP / HybridNets: direct and alternative merged into "drivable", mIoU over {drivable, background}
        bg = self.class_names.index("background") if "background" in self.class_names else len(self.class_names) - 1
        fg = [i for i in range(len(self.class_names)) if i != bg]
        extra = self.matrix.shape[0]
        m = self.matrix
        binary = np.array(
            [[m[np.ix_(fg, fg)].sum(), m[np.ix_(fg, [bg])].sum(), m[fg, extra].sum()],
             [m[np.ix_([bg], fg)].sum(), m[bg, bg], m[bg, extra]]]
        )
        binary_iou = iou_from_confusion(binary)
        out["binary_iou"] = None if np.isnan(binary_iou[0]) else float(binary_iou[0])
        out["binary_miou"] = float(np.nanmean(binary_iou)) if np.isfinite(binary_iou).any() else None
        out["confusion"] = self.matrix.tolist()
        out["num_images"] = self.num_images
        return out
