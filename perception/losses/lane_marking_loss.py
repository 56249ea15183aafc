"""Loss of the lane-marking head: cross-entropy within each attribute group (style, colour, type) on lane
pixels whose label says, and cross-entropy of the crossing map (none / crosswalk / stop line) on images
whose source labels crossings. Targets use 255 for "not labelled": a missing label is never a negative."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perception.classes import IGNORE_INDEX
from perception.markings import ATTRIBUTE_GROUPS

# Crossing pixels are ~1% of a road image; weighting them up keeps the map from collapsing to "none".
CROSSING_CLASS_WEIGHTS = (1.0, 4.0, 4.0)


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """F.cross_entropy's weighted mean over labelled pixels, an exact zero when none is (no host sync)."""
    target = target.long()
    total = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX, reduction="sum")
    labelled = target != IGNORE_INDEX
    norm = labelled.sum() if weight is None else weight[torch.where(labelled, target, 0)].mul(labelled).sum()
    return total / norm.clamp(min=1e-12) if weight is not None else total / norm.clamp(min=1)


class LaneMarkingLoss(nn.Module):
    """An nn.Module only so that `.to(device)` moves its class weights (a non-persistent buffer)."""

    def __init__(self, attr_weight: float = 1.0, crossing_weight: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("crossing_class_weights", torch.tensor(CROSSING_CLASS_WEIGHTS), persistent=False)
        self.attr_weight = attr_weight
        self.crossing_weight = crossing_weight

    def forward(self, attr_logits: torch.Tensor, crossing_logits: torch.Tensor, attr_target: torch.Tensor,
                 crossing_target: torch.Tensor) -> dict[str, torch.Tensor]:
        """attr_logits (B, 8, h, w), crossing_logits (B, 3, h, w); attr_target int64 (B, 3, h, w), crossing_target
        int64 (B, h, w), 255 ignore (the stride-4 targets of perception.data.targets.marking_targets).
        Returns {"attr", "crossing", "total"}."""
        attr_logits = attr_logits.float()
        attr_target = attr_target.to(attr_logits.device)
        attr = attr_logits.sum() * 0.0
        start = 0
        for g, (_, values) in enumerate(ATTRIBUTE_GROUPS):
            attr = attr + _cross_entropy(attr_logits[:, start : start + len(values)], attr_target[:, g])
            start += len(values)
        crossing = _cross_entropy(crossing_logits.float(), crossing_target.to(crossing_logits.device),
                                  self.crossing_class_weights)
        total = self.attr_weight * attr + self.crossing_weight * crossing
        return {"attr": attr.detach(), "crossing": crossing.detach(), "total": total}
