"""Task-aligned label assignment for anchor-free points (TOOD, Feng et al. 2021; as used in YOLOv8).

Each ground-truth box picks the `topk` anchor points inside it with the highest alignment
`t = s^alpha * IoU^beta` (s: the predicted score of the box's class, IoU: of the predicted box), so
the points that already classify AND localise well become positives. The soft class target of a
positive is `t` rescaled so that the best point of each box gets that box's best IoU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AssignResult:
    """Targets for one head. B images, A anchor points, C classes.

    fg_mask        bool (B, A): the point is a positive
    target_boxes   float (B, A, 4) xyxy input pixels (zeros where not positive)
    target_scores  float (B, A, C) soft one-hot targets for the class logits
    target_gt_idx  int64 (B, A) index of the assigned ground truth (0 where not positive)
    """

    fg_mask: torch.Tensor
    target_boxes: torch.Tensor
    target_scores: torch.Tensor
    target_gt_idx: torch.Tensor


class TaskAlignedAssigner:
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
        if num_gt == 0:  # a shape, not a value: no synchronisation (an all-invalid gt_mask gives no positives below)
            return _no_positives(batch, num_points, num_classes, device)
        pred_scores, pred_boxes, gt_boxes = pred_scores.float(), pred_boxes.float(), gt_boxes.float()

        candidate = self._candidates(points, gt_boxes, gt_mask, point_strides)

        zero = torch.zeros((), device=device)
        # where, not a product: padding rows and empty boxes may give 0/0 IoUs, and NaN * 0 is NaN.
        ious = torch.where(candidate, batched_box_iou(gt_boxes, pred_boxes).clamp(min=0), zero)  # (B, M, A)
        labels = gt_labels.clamp(min=0, max=num_classes - 1)
        scores = pred_scores.gather(2, labels[:, None, :].expand(batch, num_points, num_gt)).permute(0, 2, 1)
        align = torch.where(candidate, scores.pow(self.alpha) * ious.pow(self.beta), zero)

        # Top-k points per box by alignment, kept only where they are real candidates.
        k = min(self.topk, num_points)
        # Non-candidates rank last, so a box whose candidates all score 0 early in training still gets them.
        top_idx = torch.where(candidate, align, torch.full_like(align, -1.0)).topk(k, dim=-1).indices
        in_topk = torch.zeros_like(candidate).scatter_(-1, top_idx, True)
        positive = in_topk & candidate

        # A point claimed by several boxes keeps the one its prediction overlaps most.
        multi = positive.sum(dim=1, keepdim=True) > 1
        # max(dim).indices, not argmax: the same first-maximum index, several times faster over a strided dim on CPU
        best = ious.max(dim=1, keepdim=True).indices
        best_onehot = torch.zeros_like(positive).scatter_(1, best, True)
        positive = torch.where(multi, best_onehot & candidate, positive)

        fg_mask = positive.any(dim=1)
        target_gt_idx = positive.to(torch.uint8).max(dim=1).indices
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
        # x and y compared separately on (B, M, A): no (B, M, A, 4) intermediate, which dominated the loss on CPU
        x, y = points[:, 0], points[:, 1]
        box = gt_boxes[:, :, None, :]
        inside = ((x - box[..., 0]) > self.eps) & ((y - box[..., 1]) > self.eps) & ((box[..., 2] - x) > self.eps) & (
            (box[..., 3] - y) > self.eps)
        if self.centre_cells and point_strides is not None:
            cx, cy = (box[..., 0] + box[..., 2]) / 2, (box[..., 1] + box[..., 3]) / 2
            half = point_strides / 2
            inside |= ((x - cx).abs() < half) & ((y - cy).abs() < half)
        return inside & gt_mask[:, :, None]


def batched_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Pairwise IoU of (B, M, 4) and (B, A, 4) xyxy boxes -> (B, M, A), the batched form of torchvision's
    box_iou (eps keeps empty pairs at 0 instead of 0/0)."""
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, :, None] + area_b[:, None, :] - inter + eps)


def _no_positives(batch: int, num_points: int, num_classes: int, device: torch.device) -> AssignResult:
    """The assignment of a batch without ground truth: every point a negative."""
    return AssignResult(
        fg_mask=torch.zeros(batch, num_points, dtype=torch.bool, device=device),
        target_boxes=torch.zeros(batch, num_points, 4, device=device),
        target_scores=torch.zeros(batch, num_points, num_classes, device=device),
        target_gt_idx=torch.zeros(batch, num_points, dtype=torch.long, device=device),
    )
