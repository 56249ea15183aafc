"""The detection loss and assigner as they were before the batch was vectorised (per-image Python loops,
boolean-mask selection, host round trips): the reference the vectorised ones must equal. Test-only."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from perception.losses.assigner import AssignResult, _no_positives
from perception.losses.box_loss import box_iou_loss
from perception.losses.detection_loss import anchor_grid, decode_boxes


class PerImageAssigner:
    def __init__(
        self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9, centre_cells: bool = True
    ) -> None:
        self.topk = topk
        self.centre_cells = centre_cells
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: torch.Tensor,
        pred_boxes: torch.Tensor,
        points: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_mask: torch.Tensor,
        point_strides: torch.Tensor | None = None,
    ) -> AssignResult:
        """pred_scores (B, A, C) probabilities; pred_boxes (B, A, 4) xyxy pixels; points (A, 2) xy pixels;
        gt_labels int64 (B, M) local class; gt_boxes (B, M, 4) xyxy pixels; gt_mask bool (B, M) valid rows;
        point_strides (A,) each point's stride, needed for the centre-cell candidates."""
        batch, num_points, num_classes = pred_scores.shape
        num_gt = gt_boxes.shape[1]
        device = pred_scores.device
        if num_gt == 0 or not bool(gt_mask.any()):
            return _no_positives(batch, num_points, num_classes, device)
        pred_scores, pred_boxes, gt_boxes = pred_scores.float(), pred_boxes.float(), gt_boxes.float()

        candidate = self._candidates(points, gt_boxes, gt_mask, point_strides)

        ious = torch.stack([box_iou(gt_boxes[b], pred_boxes[b]) for b in range(batch)]).clamp_(min=0)  # (B, M, A)
        labels = gt_labels.clamp(min=0, max=num_classes - 1)
        scores = pred_scores.gather(2, labels[:, None, :].expand(batch, num_points, num_gt)).permute(0, 2, 1)
        align = scores.pow(self.alpha) * ious.pow(self.beta) * candidate
        ious = ious * candidate

        # Top-k points per box by alignment, kept only where they are real candidates.
        k = min(self.topk, num_points)
        # Non-candidates rank last, so a box whose candidates all score 0 early in training still gets them.
        top_idx = torch.where(candidate, align, torch.full_like(align, -1.0)).topk(k, dim=-1).indices
        in_topk = torch.zeros_like(candidate).scatter_(-1, top_idx, True)
        positive = in_topk & candidate

        # A point claimed by several boxes keeps the one its prediction overlaps most.
        multi = positive.sum(dim=1, keepdim=True) > 1
        if bool(multi.any()):
            best = ious.argmax(dim=1, keepdim=True)
            best_onehot = torch.zeros_like(positive).scatter_(1, best, True)
            positive = torch.where(multi, best_onehot & candidate, positive)

        fg_mask = positive.any(dim=1)
        target_gt_idx = positive.float().argmax(dim=1)
        batch_idx = torch.arange(batch, device=device)[:, None]
        target_boxes = gt_boxes[batch_idx, target_gt_idx] * fg_mask[..., None]
        target_labels = labels[batch_idx, target_gt_idx]

        align = align * positive
        max_align = align.amax(dim=-1, keepdim=True)
        max_iou = (ious * positive).amax(dim=-1, keepdim=True)
        norm_align = (align * max_iou / (max_align + self.eps)).amax(dim=1)  # (B, A)
        target_scores = torch.zeros(batch, num_points, num_classes, device=device)
        target_scores.scatter_(2, target_labels[..., None], 1.0)
        target_scores = target_scores * (norm_align * fg_mask)[..., None]
        return AssignResult(fg_mask, target_boxes, target_scores, target_gt_idx)

    def _candidates(self, points, gt_boxes, gt_mask, point_strides) -> torch.Tensor:
        """bool (B, M, A): the point lies strictly inside the box, or (centre_cells) its cell holds the box's centre."""
        lt = points[None, None] - gt_boxes[:, :, None, :2]
        rb = gt_boxes[:, :, None, 2:] - points[None, None]
        inside = torch.cat([lt, rb], dim=-1).amin(dim=-1) > self.eps
        if self.centre_cells and point_strides is not None:
            centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
            offset = (points[None, None] - centres[:, :, None]).abs()  # (B, M, A, 2)
            inside |= (offset < point_strides[None, None, :, None] / 2).all(dim=-1)
        return inside & gt_mask[:, :, None]


class PerImageDetectionLoss:
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
        assigner: "PerImageAssigner | None" = None,
    ) -> None:
        self.head_classes = tuple(int(c) for c in head_classes)
        self.strides = tuple(int(s) for s in strides)
        self.imgsz = tuple(int(v) for v in imgsz)
        self.cls_loss = cls_loss
        self.box_loss = box_loss
        self.box_weight = box_weight
        self.cls_weight = cls_weight
        self.focal_gamma = focal_gamma
        self.assigner = assigner or PerImageAssigner()
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
