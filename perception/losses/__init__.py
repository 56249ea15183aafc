"""Training losses: task-aligned assignment, box/class, lane, drivable.

The task balancers are re-exported from their home, perception.multitask.balancers."""

from perception.losses.assigner import AssignResult, TaskAlignedAssigner
from perception.multitask.balancers import FixedWeights, UncertaintyWeights, build_balancer
from perception.losses.box_loss import box_iou_loss
from perception.losses.detection_loss import DetectionLoss
from perception.losses.drivable_loss import DrivableLoss
from perception.losses.lane_loss import LaneLoss
from perception.losses.multitask import MultiTaskLoss

__all__ = [
    "AssignResult",
    "DetectionLoss",
    "DrivableLoss",
    "FixedWeights",
    "LaneLoss",
    "MultiTaskLoss",
    "TaskAlignedAssigner",
    "UncertaintyWeights",
    "box_iou_loss",
    "build_balancer",
]
