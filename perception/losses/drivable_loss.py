"""Drivable-area loss: cross-entropy plus multi-class soft Dice, pixels labelled 255 ignored."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.classes import IGNORE_INDEX
from perception.losses.segmentation_terms import soft_dice


class DrivableLoss:
    def __init__(self, dice_weight: float = 1.0) -> None:
        self.dice_weight = dice_weight

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor) -> dict[str, torch.Tensor]:
        """logits (B, 3, H, W); target int64 (B, H, W) {0, 1, 2, 255}; labelled bool (B,).
        Returns {"ce", "dice", "total"} scalars; exact zeros when no image is labelled."""
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=logits.device).reshape(-1)
        target = target.to(logits.device).long()
        logits = logits.float()
        # Pixels of unlabelled images count as ignored: whole-batch tensors, no host sync; with nothing labelled
        # both terms are exact zeros (a mean over a count clamped to 1, Dice over an all-zero valid mask).
        valid = (target != IGNORE_INDEX) & labelled[:, None, None]
        ce_target = torch.where(valid, target, torch.full_like(target, IGNORE_INDEX))
        ce = F.cross_entropy(logits, ce_target, ignore_index=IGNORE_INDEX, reduction="sum") / valid.sum().clamp(min=1)
        onehot = F.one_hot(torch.where(valid, target, 0), logits.shape[1]).permute(0, 3, 1, 2).float()
        dice = soft_dice(logits.softmax(dim=1), onehot, valid[:, None].float())
        total = ce + self.dice_weight * dice
        return {"ce": ce.detach(), "dice": dice.detach(), "total": total}
