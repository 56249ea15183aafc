"""Drivable-area loss: cross-entropy plus multi-class soft Dice, pixels labelled 255 ignored."""

from __future__ import annotations

import torch

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
        # Cross-entropy as lse - the target's logit (a gather, not a (B, C, H, W) log-softmax); the same lse
        # gives Dice its probabilities. The one-hot is a comparison against the class indices, zero where invalid.
        lse = torch.logsumexp(logits, dim=1)
        picked = logits.gather(1, torch.where(valid, target, 0)[:, None])[:, 0]
        ce = ((lse - picked) * valid).sum() / valid.sum().clamp(min=1)
        classes = torch.arange(logits.shape[1], device=logits.device)[None, :, None, None]
        onehot = ((target[:, None] == classes) & valid[:, None]).float()
        dice = soft_dice((logits - lse[:, None]).exp(), onehot, valid[:, None].float())
        total = ce + self.dice_weight * dice
        return {"ce": ce.detach(), "dice": dice.detach(), "total": total}
