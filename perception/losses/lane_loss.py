"""Lane loss: lane-vs-background (focal or weighted BCE, plus Dice) on every lane-labelled image, and a
softmax cross-entropy among the lane channels (slots 1..K and slotless K+1) on lane pixels of images
whose polylines gave slot labels (`lane_instances`)."""

from __future__ import annotations

import torch

from perception.classes import IGNORE_INDEX
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
        # Unlabelled images weigh 0 instead of being selected out: no boolean indexing, no host sync, and with
        # nothing labelled every term is an exact zero (the means divide by a count clamped to 1).
        logits = logits.float()
        target = target.to(logits.device)
        per_image = labelled[:, None, None]
        valid = ((target != IGNORE_INDEX) & per_image).float()
        is_lane = ((target > 0) & (target != IGNORE_INDEX)).float()
        # log p(lane) - log p(bg) with p(lane) = 1 - p(bg): the binary logit implied by the softmax. The same
        # log-sum-exp over the lane channels normalises them for the slot term below.
        # split, not two slices: a slice's backward fills a zero gradient of the whole (B, K+2, H, W) map and
        # copies into it, twice, where split's concatenates the two gradients once
        background, lane_channels = logits.split([1, logits.shape[1] - 1], dim=1)
        lane_lse = torch.logsumexp(lane_channels, dim=1)
        lane_logit = lane_lse - background.squeeze(1)
        if self.binary == "focal":
            binary = binary_focal(lane_logit, is_lane, valid)
        else:
            binary = weighted_bce(lane_logit, is_lane, valid)
        dice = soft_dice(lane_logit.sigmoid(), is_lane, valid)

        # Which lane channel, given that the pixel is a lane: the background channel takes no part. The
        # cross-entropy is lse - the target channel's logit, read with a gather: no (B, K+1, H, W) log-softmax.
        lane_pixels = (target > 0) & (target != IGNORE_INDEX) & instances[:, None, None]
        channel = torch.where(lane_pixels, target.long() - 1, 0)[:, None]
        picked = lane_channels.gather(1, channel)[:, 0]
        slot = ((lane_lse - picked) * lane_pixels).sum() / lane_pixels.sum().clamp(min=1)
        total = binary + self.dice_weight * dice + self.slot_weight * slot
        return {"binary": binary.detach(), "dice": dice.detach(), "slot": slot.detach(), "total": total}
