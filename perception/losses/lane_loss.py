"""Lane loss: lane-vs-background (focal or weighted BCE, plus Dice) on every lane-labelled image, and a
softmax cross-entropy among the lane channels (slots 1..K and slotless K+1) on lane pixels of images
whose polylines gave slot labels (`lane_instances`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perception.classes import IGNORE_INDEX as IGNORE
from perception.config import LANE_BINARY_LOSSES
from perception.errors import InputError
from perception.losses.segmentation_terms import binary_focal, soft_dice, weighted_bce


class LaneLoss:
    def __init__(self, binary: str = "focal", dice_weight: float = 1.0, slot_weight: float = 1.0) -> None:
        if binary not in LANE_BINARY_LOSSES:
            raise InputError(f"lane binary loss {binary!r} is not one of {LANE_BINARY_LOSSES}")
        self.binary = binary
        self.dice_weight = dice_weight
        self.slot_weight = slot_weight

    def __call__(
        self, logits: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor, instances: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """logits (B, K+2, H, W); target int64 (B, H, W) 0 bg, 1..K slots, K+1 slotless, 255 ignore;
        labelled, instances bool (B,). Returns {"binary", "dice", "slot", "total"} scalars."""
        labelled = torch.as_tensor(labelled, dtype=torch.bool, device=logits.device).reshape(-1)
        instances = torch.as_tensor(instances, dtype=torch.bool, device=logits.device).reshape(-1) & labelled
        zero = logits.sum() * 0.0
        if not bool(labelled.any()):
            return {"binary": zero, "dice": zero, "slot": zero, "total": zero}
        logits = logits.float()
        target = target.to(logits.device)
        sel_logits, sel_target = logits[labelled], target[labelled]
        valid = (sel_target != IGNORE).float()
        is_lane = ((sel_target > 0) & (sel_target != IGNORE)).float()
        # log p(lane) - log p(bg) with p(lane) = 1 - p(bg): the binary logit implied by the softmax.
        lane_logit = torch.logsumexp(sel_logits[:, 1:], dim=1) - sel_logits[:, 0]
        if self.binary == "focal":
            binary = binary_focal(lane_logit, is_lane, valid)
        else:
            binary = weighted_bce(lane_logit, is_lane, valid)
        dice = soft_dice(lane_logit.sigmoid(), is_lane, valid)

        slot = zero
        if bool(instances.any()):
            inst_logits, inst_target = logits[instances], target[instances]
            lane_pixels = (inst_target > 0) & (inst_target != IGNORE)
            if bool(lane_pixels.any()):
                # Which lane channel, given that the pixel is a lane: the background channel takes no part.
                channel_target = torch.where(lane_pixels, inst_target - 1, torch.full_like(inst_target, -100))
                slot = F.cross_entropy(inst_logits[:, 1:], channel_target, ignore_index=-100)
        total = binary + self.dice_weight * dice + self.slot_weight * slot
        return {"binary": binary.detach(), "dice": dice.detach(), "slot": slot.detach(), "total": total}
