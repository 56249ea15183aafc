"""IoU-family box regression losses: CIoU (Zheng et al. 2020) and GIoU (Rezatofighi et al. 2019).

The formulas are torchvision's (`complete_box_iou_loss`, `generalized_box_iou_loss`, and a test holds these
equal to them), written without their boolean-mask assignment of the intersection: on a GPU that indexing
waits for the device at every call, and the detection loss evaluates every anchor point at once.
"""

from __future__ import annotations

import math

import torch

from perception.config import BOX_LOSSES
from perception.errors import InputError


def _iou_and_enclosure(pred: torch.Tensor, target: torch.Tensor, eps: float):
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    # clamped widths: zero where the boxes do not overlap (torchvision assigns those through a mask)
    inter = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp(min=0) * (torch.min(y2, y2g) - torch.max(y1, y1g)).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    enclosure = (torch.min(x1, x1g), torch.min(y1, y1g), torch.max(x2, x2g), torch.max(y2, y2g))
    return iou, union, enclosure


def box_iou_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "ciou", eps: float = 1e-7) -> torch.Tensor:
    """Per-box loss `1 - IoU'` for matched pairs.

    pred, target: (N, 4) xyxy in the same units (input pixels). Returns (N,) float32.
    CIoU adds centre distance and aspect terms, so it still has a gradient when the boxes do not overlap;
    GIoU adds the enclosing-box term.
    """
    if kind not in BOX_LOSSES:
        raise InputError(f"box loss {kind!r} is not one of {BOX_LOSSES}")
    # The losses divide by areas and squared diagonals: do them in float32 even under bf16/fp16 autocast.
    pred, target = pred.float(), target.float()
    iou, union, (xc1, yc1, xc2, yc2) = _iou_and_enclosure(pred, target, eps)
    if kind == "giou":
        area_c = (xc2 - xc1) * (yc2 - yc1)
        return 1 - (iou - (area_c - union) / (area_c + eps))
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = target.unbind(-1)
    diagonal = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    centres = ((x1 + x2 - x1g - x2g) / 2) ** 2 + ((y1 + y2 - y1g - y2g) / 2) ** 2
    v = (4 / math.pi**2) * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return 1 - iou + centres / diagonal + alpha * v
