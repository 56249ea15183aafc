"""Loss of one detection head (objects or pedestrians): task-aligned targets, BCE/focal class loss,
IoU box loss. Both terms are normalised by the sum of the soft targets, as in TOOD/YOLOv8, so the
loss scale does not depend on how many boxes an image has."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

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


class DetectionLoss:
    """Callable: (reg, cls, boxes, classes, labelled) -> {"box", "cls", "total"} scalars.

    head_classes: the head's global class indices (ModelConfig.object_classes / pedestrian_classes);
    other classes in the batch are dropped for this head (they belong to the other head or to none).
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
        self._global_to_local = lookup

    def grid(self, imgsz: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(imgsz), str(device))
        if key not in self._grid:
            self._grid[key] = anchor_grid(imgsz, self.strides, device)
        return self._grid[key]

    def targets(
        self, boxes: Sequence[torch.Tensor], classes: Sequence[torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pad one image's head-local ground truth to (B, M): labels int64, boxes (B, M, 4), valid mask."""
        per_image = []
        for img_boxes, img_classes in zip(boxes, classes):
            img_boxes = torch.as_tensor(img_boxes, dtype=torch.float32).reshape(-1, 4)
            img_classes = torch.as_tensor(img_classes, dtype=torch.long).reshape(-1)
            local = torch.full_like(img_classes, -1)
            known = (img_classes >= 0) & (img_classes < len(self._global_to_local))
            local[known] = self._global_to_local[img_classes[known]]
            # Degenerate boxes have no point inside them and no defined IoU.
            keep = (local >= 0) & (img_boxes[:, 2] > img_boxes[:, 0]) & (img_boxes[:, 3] > img_boxes[:, 1])
            per_image.append((img_boxes[keep], local[keep]))
        count = max((len(b) for b, _ in per_image), default=0)
        gt_boxes = torch.zeros(len(per_image), count, 4)
        gt_labels = torch.zeros(len(per_image), count, dtype=torch.long)
        gt_mask = torch.zeros(len(per_image), count, dtype=torch.bool)
        for i, (b, c) in enumerate(per_image):
            gt_boxes[i, : len(b)] = b
            gt_labels[i, : len(c)] = c
            gt_mask[i, : len(b)] = True
        return gt_labels.to(device), gt_boxes.to(device), gt_mask.to(device)

    def __call__(
        self,
        reg: torch.Tensor,
        cls: torch.Tensor,
        boxes: Sequence[torch.Tensor],
        classes: Sequence[torch.Tensor],
        labelled: torch.Tensor,
        imgsz: Sequence[int] | None = None,
        ignore_boxes: Sequence[torch.Tensor] | None = None,
        class_labelled: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """reg (B, A, 4) raw distances, cls (B, A, C) logits, boxes/classes per image (input pixels, global
        class), labelled bool (B,). Images without this task's labels take no part (a missing label is never
        a negative); with none labelled every term is an exact, graph-connected zero.

        ignore_boxes: per image (K, 4) xyxy input pixels (crowds, "other person", ignore areas): a point
        inside one that is not a positive gives no class loss. class_labelled: bool (B, global classes);
        a class the image's source does not label gives no negative (it may be there, unlabelled)."""
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=reg.device).reshape(-1)
        zero = (reg.sum() + cls.sum()) * 0.0
        if not bool(labelled.any()):
            return {"box": zero, "cls": zero, "total": zero}
        keep = labelled.nonzero().flatten()
        reg, cls = reg[keep].float(), cls[keep].float()
        index = keep.tolist()
        gt_labels, gt_boxes, gt_mask = self.targets([boxes[i] for i in index], [classes[i] for i in index], reg.device)

        points, strides = self.grid(imgsz or self.imgsz, reg.device)
        pred_boxes = decode_boxes(points, strides, reg)
        assigned = self.assigner(cls.detach().sigmoid(), pred_boxes.detach(), points, gt_labels, gt_boxes, gt_mask, strides)
        target_sum = assigned.target_scores.sum().clamp(min=1.0)

        bce = F.binary_cross_entropy_with_logits(cls, assigned.target_scores, reduction="none")
        if self.cls_loss == "focal":
            # Quality focal loss (Li et al. 2020, GFL): BCE against the soft IoU-aware target, down-weighted
            # by how close the prediction already is, so the many easy background points stop dominating.
            bce = bce * (cls.sigmoid() - assigned.target_scores).abs().pow(self.focal_gamma)
        weight = self._negative_weight(points, assigned, [ignore_boxes[i] for i in index] if ignore_boxes else None,
                                       class_labelled[keep.cpu()] if class_labelled is not None else None)
        cls_term = (bce if weight is None else bce * weight).sum() / target_sum

        fg = assigned.fg_mask
        if bool(fg.any()):
            weight = assigned.target_scores.sum(-1)[fg]
            per_box = box_iou_loss(pred_boxes[fg], assigned.target_boxes[fg], self.box_loss)
            box_term = (per_box * weight).sum() / target_sum
        else:
            box_term = pred_boxes.sum() * 0.0
        total = self.box_weight * box_term + self.cls_weight * cls_term
        return {"box": box_term.detach(), "cls": cls_term.detach(), "total": total}

    def _negative_weight(self, points: torch.Tensor, assigned, ignore_boxes, class_labelled) -> torch.Tensor | None:
        """(B, A, C) 0/1 weight of the class loss: 0 for a negative the labels cannot vouch for - a point in an
        ignore region that is not a positive, or a class the source does not label. None when all count."""
        target = assigned.target_scores
        weight = None
        if ignore_boxes is not None and any(len(b) for b in ignore_boxes):
            inside = torch.zeros(target.shape[:2], dtype=torch.bool, device=target.device)
            for i, regions in enumerate(ignore_boxes):
                regions = torch.as_tensor(regions, dtype=torch.float32, device=target.device).reshape(-1, 4)
                if len(regions):
                    x, y = points[:, 0:1], points[:, 1:2]
                    hit = (x >= regions[:, 0]) & (x <= regions[:, 2]) & (y >= regions[:, 1]) & (y <= regions[:, 3])
                    inside[i] = hit.any(1)
            weight = (~(inside & ~assigned.fg_mask)).float()[..., None].expand_as(target)
        if class_labelled is not None:
            covered = torch.as_tensor(class_labelled, dtype=torch.bool).reshape(len(target), -1)
            head = covered[:, list(self.head_classes)].to(target.device)  # (B, C) in the head's class order
            if not bool(head.all()):
                by_class = head[:, None, :].float().expand_as(target)
                weight = by_class if weight is None else weight * by_class
        if weight is None:
            return None
        return torch.where(target > 0, torch.ones_like(weight), weight)  # positives always count
