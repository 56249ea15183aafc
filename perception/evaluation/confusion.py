"""Detection confusion matrix: which class a detection gets for which true class, background included."""

from __future__ import annotations

import numpy as np

from perception.evaluation.merge import merge_fields
from perception.postprocess.boxes import box_iou
from perception.thresholds import DISPLAY_CONF


class DetectionConfusion:
    """(C + 1, C + 1) counts, rows = true class, columns = predicted class, index C = background.

    Detections with score >= conf are matched to gts of any class at IoU >= iou, pairs taken in
    descending IoU, each gt and detection at most once. A missed gt counts in the background column,
    an unmatched detection in the background row; detections inside ignore regions are left out.
    """

    def __init__(self, class_ids: list[int], conf: float = DISPLAY_CONF, iou: float = 0.5):
        self.class_ids = list(class_ids)
        self.index = {c: i for i, c in enumerate(self.class_ids)}
        self.conf = conf
        self.iou = iou
        n = len(self.class_ids) + 1
        self.matrix = np.zeros((n, n), np.int64)

    def merge(self, other: "DetectionConfusion") -> None:
        """Add another accumulator's images (a DDP rank's shard) to these, as if this one had seen them."""
        merge_fields(self, other, ("matrix",))

    def update(self, boxes, scores, classes, gt_boxes, gt_classes, ignore_boxes=None) -> None:
        bg = len(self.class_ids)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        classes = np.asarray(classes).reshape(-1)
        keep = (np.asarray(scores).reshape(-1) >= self.conf) & np.isin(classes, self.class_ids)
        boxes, classes = boxes[keep], classes[keep]
        gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        gt_classes = np.asarray(gt_classes).reshape(-1)
        gt_keep = np.isin(gt_classes, self.class_ids)
        gt_boxes, gt_classes = gt_boxes[gt_keep], gt_classes[gt_keep]
        iou = box_iou(gt_boxes, boxes)
        gt_done = np.zeros(len(gt_boxes), bool)
        det_done = np.zeros(len(boxes), bool)
        pairs = np.argwhere(iou >= self.iou)
        for g, d in pairs[np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="mergesort")]:
            if gt_done[g] or det_done[d]:
                continue
            gt_done[g] = det_done[d] = True
            self.matrix[self.index[gt_classes[g]], self.index[classes[d]]] += 1
        for g in np.flatnonzero(~gt_done):
            self.matrix[self.index[gt_classes[g]], bg] += 1
        if ignore_boxes is not None and len(ignore_boxes) and len(boxes):
            inside = box_iou(boxes, ignore_boxes, crowd=np.ones(len(ignore_boxes), bool)).max(1) >= self.iou
            det_done |= inside
        for d in np.flatnonzero(~det_done):
            self.matrix[bg, self.index[classes[d]]] += 1
