"""Ragged per-image ground truth padded into batch tensors, so the training step works on whole batches.

Built once per batch on the CPU (in the loader's collate, inside a worker), so the step on the device never
loops over images, never indexes with a boolean mask and never waits for the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Padding ignore regions: x1 > x2, so no point is ever inside one (no mask needed beside them).
EMPTY_REGION = (1.0, 1.0, 0.0, 0.0)


def pad_boxes(boxes: Sequence[torch.Tensor], classes: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (N_i, 4) xyxy boxes and (N_i,) global class ids -> (B, M, 4) float32 and (B, M) int64,
    M = max N_i (0 for a batch without boxes); padding rows have class -1."""
    count = max((len(c) for c in classes), default=0)
    gt_boxes = torch.zeros(len(boxes), count, 4)
    gt_classes = torch.full((len(boxes), count), -1, dtype=torch.long)
    for i, (b, c) in enumerate(zip(boxes, classes)):
        c = torch.as_tensor(c, dtype=torch.long).reshape(-1)
        gt_boxes[i, : len(c)] = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
        gt_classes[i, : len(c)] = c
    return gt_boxes, gt_classes


def pad_regions(regions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image (K_i, 4) xyxy ignore regions -> (B, K, 4) float32 padded with EMPTY_REGION."""
    count = max((len(r) for r in regions), default=0)
    out = torch.tensor(EMPTY_REGION).repeat(len(regions), count, 1)
    for i, r in enumerate(regions):
        r = torch.as_tensor(r, dtype=torch.float32).reshape(-1, 4)
        out[i, : len(r)] = r
    return out
