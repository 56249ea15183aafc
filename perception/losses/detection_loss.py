"""Loss of one detection head (objects or pedestrians): task-aligned targets, BCE/focal class loss,
IoU box loss. Both terms are normalised by the sum of the soft targets, as in TOOD/YOLOv8, so the
loss scale does not depend on how many boxes an image has."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from perception.batching import pad_boxes, pad_regions
from perception.config import CLS_LOSSES
from perception.errors import InputError
from perception.losses.assigner import TaskAlignedAssigner
from perception.losses.box_loss import box_iou_loss


def anchor_grid(imgsz: Sequence[int], strides: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points (A, 2) xy input pixels and each point's stride (A,), in the order of the head's outputs."""
    from perception.postprocess.boxes import anchor_points

    points, point_strides = anchor_points(tuple(imgsz), tuple(strides))
    return torch.as_tensor(points, device=device), torch.as_tensor(point_strides, device=device)


def decode_boxes(points: torch.Tensor, strides: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """raw (B, A, 4) distances -> (B, A, 4) xyxy input pixels via the shared postprocess decoder."""
    from perception.postprocess.boxes import decode_distances

    return decode_distances(points, strides, raw.float())


class DetectionLoss(nn.Module):
    """Callable: (reg, cls, boxes, classes, labelled) -> {"box", "cls", "total"} scalars.

    head_classes: the head's global class indices (ModelConfig.object_classes / pedestrian_classes);
    other classes in the batch are dropped for this head (they belong to the other head or to none).
    An nn.Module only so that `.to(device)` moves its class lookup (a buffer); it has no parameters.
    The whole batch is computed at once (padded ground truth, per-image weights instead of selecting
    images), so the step needs no host synchronisation.
    """

    def __init__(
        self,
        head_classes: Sequence[int],
        strides: Sequence[int],
        imgsz: Sequence[int],
        cls_loss: str = "bce",
        box_loss: str = "ciou",
        box_weight: float = 7.5,
        cls_weight: float = 0.5,
        focal_gamma: float = 2.0,
        assigner: TaskAlignedAssigner | None = None,
    ) -> None:
        super().__init__()
        if cls_loss not in CLS_LOSSES:
            raise InputError(f"cls_loss {cls_loss!r} is not one of {CLS_LOSSES}")
        self.head_classes = tuple(int(c) for c in head_classes)
        self.strides = tuple(int(s) for s in strides)
        self.imgsz = tuple(int(v) for v in imgsz)
        self.cls_loss = cls_loss
        self.box_loss = box_loss
        self.box_weight = box_weight
        self.cls_weight = cls_weight
        self.focal_gamma = focal_gamma
        self.assigner = assigner or TaskAlignedAssigner()
        self._grid: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        lookup = torch.full((max(self.head_classes, default=0) + 1,), -1, dtype=torch.long)
        for local, cls in enumerate(self.head_classes):
            lookup[cls] = local
        # Buffers, not state dict entries: checkpoints keep their keys, `.to(device)` moves them.
        self.register_buffer("global_to_local", lookup, persistent=False)
        self.register_buffer("head_class_index", torch.tensor(self.head_classes, dtype=torch.long), persistent=False)
        self.register_buffer("unit_box", torch.tensor([0.0, 0.0, 1.0, 1.0]), persistent=False)

    def grid(self, imgsz: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(imgsz), str(device))
        if key not in self._grid:
            self._grid[key] = anchor_grid(imgsz, self.strides, device)
        return self._grid[key]

    def targets(self, gt_boxes: torch.Tensor, gt_classes: torch.Tensor, labelled: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded global ground truth (B, M, 4) / (B, M) (class -1 = padding) -> this head's local labels
        int64 (B, M), boxes (B, M, 4) and valid mask (B, M): rows of other heads' classes, degenerate boxes
        (no point inside, no defined IoU) and images not labelled for the task are invalid."""
        lookup = self.global_to_local
        known = (gt_classes >= 0) & (gt_classes < len(lookup))
        local = torch.where(known, lookup[gt_classes.clamp(0, len(lookup) - 1)], torch.full_like(gt_classes, -1))
        valid = (local >= 0) & (gt_boxes[..., 2] > gt_boxes[..., 0]) & (gt_boxes[..., 3] > gt_boxes[..., 1])
        valid = valid & labelled[:, None]
        return local.clamp(min=0), gt_boxes.float(), valid

    def forward(
        self,
        reg: torch.Tensor,
        cls: torch.Tensor,
        boxes: torch.Tensor | Sequence[torch.Tensor],
        classes: torch.Tensor | Sequence[torch.Tensor],
        labelled: torch.Tensor,
        imgsz: Sequence[int] | None = None,
        ignore_boxes: torch.Tensor | Sequence[torch.Tensor] | None = None,
        class_labelled: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """reg (B, A, 4) raw distances, cls (B, A, C) logits; boxes/classes: padded (B, M, 4) / (B, M) global
        class ids with -1 padding (perception.batching.pad_boxes), or per-image lists (padded here); labelled
        bool (B,). Images without this task's labels take no part (a missing label is never a negative); with
        none labelled every term is an exact, graph-connected zero.

        ignore_boxes: (B, K, 4) padded (pad_regions) or per image (K, 4) xyxy input pixels (crowds, "other
        person", ignore areas): a point inside one that is not a positive gives no class loss. class_labelled:
        bool (B, global classes); a class the image's source does not label gives no negative."""
        device = reg.device
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=device).reshape(-1)
        if not torch.is_tensor(boxes):
            boxes, classes = pad_boxes(boxes, classes)
        if ignore_boxes is not None and not torch.is_tensor(ignore_boxes):
            ignore_boxes = pad_regions(ignore_boxes)
        reg, cls = reg.float(), cls.float()
        gt_labels, gt_boxes, gt_mask = self.targets(boxes.to(device), classes.to(device), labelled)

        points, strides = self.grid(imgsz or self.imgsz, device)
        pred_boxes = decode_boxes(points, strides, reg)
        assigned = self.assigner(cls.detach().sigmoid(), pred_boxes.detach(), points, gt_labels, gt_boxes, gt_mask, strides)
        target_sum = assigned.target_scores.sum().clamp(min=1.0)

        bce = F.binary_cross_entropy_with_logits(cls, assigned.target_scores, reduction="none")
        if self.cls_loss == "focal":
            # Quality focal loss (Li et al. 2020, GFL): BCE against the soft IoU-aware target, down-weighted
            # by how close the prediction already is, so the many easy background points stop dominating.
            bce = bce * (cls.sigmoid() - assigned.target_scores).abs().pow(self.focal_gamma)
        weight = self._negative_weight(points, assigned, ignore_boxes, class_labelled)
        weight = labelled[:, None, None].float() if weight is None else weight * labelled[:, None, None]
        cls_term = (bce * weight).sum() / target_sum

        # Every point's box loss, kept where it is a positive: no boolean indexing, no data-dependent shape.
        # Non-positives compare against a fixed valid box so that CIoU stays finite there (a NaN would leak
        # into the gradient through the zero weight).
        fg = assigned.fg_mask
        safe_target = torch.where(fg[..., None], assigned.target_boxes, self.unit_box)
        per_box = box_iou_loss(pred_boxes.reshape(-1, 4), safe_target.reshape(-1, 4), self.box_loss).view(fg.shape)
        box_weight = assigned.target_scores.sum(-1) * fg
        box_term = (per_box * box_weight).sum() / target_sum
        total = self.box_weight * box_term + self.cls_weight * cls_term
        return {"box": box_term.detach(), "cls": cls_term.detach(), "total": total}

    def _negative_weight(self, points: torch.Tensor, assigned, ignore_boxes, class_labelled) -> torch.Tensor | None:
        """(B, A, C) 0/1 weight of the class loss: 0 for a negative the labels cannot vouch for - a point in an
        ignore region that is not a positive, or a class the source does not label. None when all count."""
        target = assigned.target_scores
        weight = None
        if ignore_boxes is not None and ignore_boxes.shape[1]:
            regions = ignore_boxes.to(target.device, torch.float32)[:, :, None, :]  # (B, K, 1, 4)
            x, y = points[None, None, :, 0], points[None, None, :, 1]
            hit = (x >= regions[..., 0]) & (x <= regions[..., 2]) & (y >= regions[..., 1]) & (y <= regions[..., 3])
            inside = hit.any(1)  # (B, A)
            weight = (~(inside & ~assigned.fg_mask)).float()[..., None].expand_as(target)
        if class_labelled is not None:
            covered = torch.as_tensor(class_labelled, dtype=torch.bool, device=target.device).reshape(len(target), -1)
            head = covered.index_select(1, self.head_class_index)  # (B, C) in the head's class order
            by_class = head[:, None, :].float().expand_as(target)
            weight = by_class if weight is None else weight * by_class
        if weight is None:
            return None
        return torch.where(target > 0, torch.ones_like(weight), weight)  # positives always count

