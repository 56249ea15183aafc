"""All heads' losses from one forward pass, combined by the balancer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from perception.config import DetectionHeadSpec, ModelConfig
from perception.multitask.balancers import build_balancer
from perception.losses.detection_loss import DetectionLoss
from perception.losses.drivable_loss import DrivableLoss
from perception.losses.lane_loss import LaneLoss
from perception.losses.lane_marking_loss import LaneMarkingLoss


class MultiTaskLoss(nn.Module):
    """forward(outputs, batch) -> (total scalar, {name: float-able detached scalar}).

    outputs: the raw dict of MultiTaskNet.forward; batch: the training batch of docs/architecture.md.
    A task none of whose images is labelled contributes exactly zero (never NaN) and is reported as 0.
    The balancer is an nn.Module: with `uncertainty` its parameters must be optimised with the model's.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        balancing: str = "fixed",
        weights: Mapping[str, float] | None = None,
        cls_loss: str = "bce",
        box_loss: str = "ciou",
        lane_binary: str = "focal",
        balancing_options: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.tasks = model_config.enabled_tasks
        imgsz = model_config.imgsz
        # Submodules (ModuleDict), so `.to(device)` moves every tensor the losses keep.
        self.detection_specs: dict[str, DetectionHeadSpec] = {spec.task: spec for spec in model_config.detection_heads}
        self.detection = nn.ModuleDict({
            spec.task: DetectionLoss(spec.classes, spec.strides, imgsz, cls_loss, box_loss)
            for spec in model_config.detection_heads
        })
        self.lane = LaneLoss(binary=lane_binary)
        self.lane_marking = LaneMarkingLoss()
        self.drivable = DrivableLoss()
        self.balancer = build_balancer(balancing, self.tasks, dict(weights or {}), balancing_options)
        # The last forward's unweighted task losses (with their graphs) and which tasks had labels: what
        # per-task gradient work (monitoring, GradNorm, PCGrad) differentiates.
        self.task_losses: dict[str, torch.Tensor] = {}
        self.task_active: dict[str, bool] = {}

    def forward(self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labelled = batch["labelled"]
        imgsz = tuple(batch["images"].shape[-2:])
        losses: dict[str, torch.Tensor] = {}
        parts: dict[str, torch.Tensor] = {}
        active: dict[str, bool] = {}
        # Padded ground truth from the collate when present (no per-image work in the step), else the lists.
        boxes, classes = batch.get("gt_boxes", batch["boxes"]), batch.get("gt_classes", batch["classes"])
        ignore = batch.get("gt_ignore", batch.get("ignore_boxes"))
        for task, loss_fn in self.detection.items():
            spec = self.detection_specs[task]
            out = loss_fn(outputs[spec.reg], outputs[spec.cls], boxes, classes, labelled[task], imgsz, ignore,
                          batch.get("class_labelled"))
            losses[task] = out["total"]
            parts.update({f"{task}/box": out["box"], f"{task}/cls": out["cls"]})
        if "lanes" in self.tasks:
            out = self.lane(outputs["lane"], batch["lane_target"], labelled["lanes"], batch["lane_instances"])
            losses["lanes"] = out["total"]
            parts.update({f"lanes/{k}": v for k, v in out.items() if k != "total"})
            if "lane_attr" in outputs and "lane_attr_target" in batch:
                # the lane-marking head is part of the lanes task: one loss, one weight, one gradient group
                marks = self.lane_marking(outputs["lane_attr"], outputs["crossing"], batch["lane_attr_target"],
                                          batch["crossing_target"])
                losses["lanes"] = losses["lanes"] + marks["total"]
                parts.update({"lanes/attr": marks["attr"], "lanes/crossing": marks["crossing"]})
        if "drivable" in self.tasks:
            out = self.drivable(outputs["drivable"], batch["drivable_target"], labelled["drivable"])
            losses["drivable"] = out["total"]
            parts.update({f"drivable/{k}": v for k, v in out.items() if k != "total"})
        # Whether any image has the task's labels: read from the host copy the loader made (move_batch), so the
        # balancers' Python decisions never wait for the device.
        host = batch.get("task_active")
        for task in losses:
            active[task] = bool(host[task]) if host is not None else bool(torch.as_tensor(labelled[task]).any())
        self.task_losses, self.task_active = losses, active
        total = self.balancer(losses, active)
        # detached: the report is read as floats (a part still in the graph made PyTorch warn on every step)
        report = {task: loss.detach() for task, loss in losses.items()} | {k: v.detach() for k, v in parts.items()}
        report["total"] = total.detach()
        return total, report
