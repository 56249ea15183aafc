"""IoU-family box regression losses (torchvision's reference implementations)."""

from __future__ import annotations

import torch
from torchvision.ops import complete_box_iou_loss, generalized_box_iou_loss

from perception.config import BOX_LOSSES
from perception.errors import InputError


def box_iou_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "ciou") -> torch.Tensor:
    """Per-box loss `1 - IoU'` for matched pairs.

    pred, target: (N, 4) xyxy in the same units (input pixels). Returns (N,) float32.
    CIoU (Zheng et al. 2020) adds centre distance and aspect terms, so it still has a gradient when the
    boxes do not overlap; GIoU (Rezatofighi et al. 2019) adds the enclosing-box term.
    """
    if kind not in BOX_LOSSES:
        raise InputError(f"box loss {kind!r} is not one of {BOX_LOSSES}")
    # The losses divide by areas and squared diagonals: do them in float32 even under bf16/fp16 autocast.
    pred, target = pred.float(), target.float()
    if kind == "ciou":
        return complete_box_iou_loss(pred, target, reduction="none", eps=1e-7)
    return generalized_box_iou_loss(pred, target, reduction="none", eps=1e-7)
