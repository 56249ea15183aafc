"""Drivable-area loss: cross-entropy plus multi-class soft Dice, pixels labelled 255 ignored."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.classes import IGNORE_INDEX as IGNORE
from perception.losses.segmentation_terms import soft_dice


class DrivableLoss:
    def __init__(self, dice_weight: float = 1.0) -> None:
        self.dice_weight = dice_weight

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor) -> dict[str, torch.Tensor]:
        """logits (B, 3, H, W); target int64 (B, H, W) {0, 1, 2, 255}; labelled bool (B,).
        Returns {"ce", "dice", "total"} scalars; exact zeros when no image is labelled."""
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=logits.device).reshape(-1)
        zero = logits.sum() * 0.0
        target = target.to(logits.device)
        if not bool(labelled.any()) or not bool((target[labelled] != IGNORE).any()):
            return {"ce": zero, "dice": zero, "total": zero}
        logits, target = logits[labelled].float(), target[labelled]
        ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
        valid = (target != IGNORE)
        onehot = F.one_hot(torch.where(valid, target, 0), logits.shape[1]).permute(0, 3, 1, 2).float()
        dice = soft_dice(logits.softmax(dim=1), onehot, valid[:, None].float())
        total = ce + self.dice_weight * dice
        return {"ce": ce.detach(), "dice": dice.detach(), "total": total}
