"""The multi-task papers' "vehicle" protocol (YOLOP, HybridNets, YOLOPv2, A-YOLOM on BDD100K).

car, truck, bus and train become one class. A single-class model never outputs a car box and a truck
box for the same object, so the merged predictions are suppressed again class-agnostically at the
evaluation NMS IoU; otherwise the second box would be a false positive the papers' models never make.
"""

from __future__ import annotations

import numpy as np

from perception.classes import VEHICLE_CLASSES
from perception.postprocess.boxes import nms
from perception.thresholds import NMS_IOU

VEHICLE_ID = VEHICLE_CLASSES[0]  # the merged class reuses the global id of "car"


def merge_vehicles(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float | None = NMS_IOU
) -> tuple[np.ndarray, np.ndarray]:
    """Vehicle boxes and scores of one image's detections (other classes dropped), re-suppressed."""
    sel = np.isin(np.asarray(classes).reshape(-1), VEHICLE_CLASSES)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[sel]
    scores = np.asarray(scores, np.float64).reshape(-1)[sel]
    if iou_threshold is not None and len(boxes):
        keep = nms(boxes, scores, iou_threshold)
        boxes, scores = boxes[keep], scores[keep]
    return boxes, scores


def vehicle_ground_truth(gt_boxes: np.ndarray, gt_classes: np.ndarray) -> np.ndarray:
    """The gt boxes of the merged class."""
    return np.asarray(gt_boxes, np.float64).reshape(-1, 4)[np.isin(np.asarray(gt_classes).reshape(-1), VEHICLE_CLASSES)]
