"""Pixel loss terms shared by the lane and drivable losses: binary focal, weighted BCE, soft Dice."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_focal(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, gamma: float = 2.0, alpha: float = 0.75) -> torch.Tensor:
    """Mean focal loss (Lin et al. 2017) over valid pixels. logits/target/valid: same shape, target 0 or 1;
    alpha weighs positives.

    With a 0/1 target the BCE is -log p_t, so p_t = exp(-BCE): no sigmoid and no p_t blend, fewer of the
    full-resolution elementwise passes that dominate the loss's cost on a CPU."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    alpha_t = (1 - alpha) + (2 * alpha - 1) * target
    weight = alpha_t * (1 - torch.exp(-bce)).pow(gamma)
    return (bce * weight * valid).sum() / valid.sum().clamp(min=1)


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """BCE with positives weighted by the background/foreground ratio of the batch (thin lanes are ~2% of pixels)."""
    positives = (target * valid).sum()
    negatives = ((1 - target) * valid).sum()
    pos_weight = (negatives / positives.clamp(min=1)).clamp(max=50.0).detach()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=pos_weight)
    return (bce * valid).sum() / valid.sum().clamp(min=1)


def soft_dice(prob: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over the batch. prob/target/valid (B, ..., H, W) or (B, C, H, W): Dice per leading
    channel axis 1 when 4-D (mean over channels), else over all pixels."""
    prob, target = prob * valid, target * valid
    dims = (0, 2, 3) if prob.dim() == 4 else tuple(range(prob.dim()))
    inter = (prob * target).sum(dims)
    union = prob.sum(dims) + target.sum(dims)
    return (1 - (2 * inter + smooth) / (union + smooth)).mean()
