"""Lane-marking head: per-pixel lane attributes (style, colour, type) and crossing markings at stride 4.

Cheap on purpose (the issue's budget: at most 5% of the default model's GFLOPs): one 3x3 convolution on
the neck's stride-4 feature and two 1x1 predictions. Attributes are read along each decoded lane polyline
(perception.postprocess.markings), so they need no full-resolution map; crossings are decoded as
connected regions of the stride-4 map.
"""

from __future__ import annotations

import torch
from torch import nn

from perception.markings import CROSSING_CLASSES, NUM_ATTRIBUTE_CHANNELS
from perception.models.layers import ConvBNAct


class LaneMarkingHead(nn.Module):
    """Input: the neck's stride-4 feature (B, C, H/4, W/4). Output: (lane_attr (B, 8, H/4, W/4): logits of
    the channel groups of perception.markings.ATTRIBUTE_GROUPS, softmax within each group: style 2,
    colour 3, type 3; crossing (B, 3, H/4, W/4): softmax logits of background, crosswalk, stop line)."""

    def __init__(self, c_in: int, hidden: int, act: str):
        super().__init__()
        self.stem = ConvBNAct(c_in, hidden, 3, act=act)
        self.attr_pred = nn.Conv2d(hidden, NUM_ATTRIBUTE_CHANNELS, 1)
        self.crossing_pred = nn.Conv2d(hidden, len(CROSSING_CLASSES) + 1, 1)
        # Crossings cover a small share of the road: start near "none" as the detection heads do.
        nn.init.constant_(self.crossing_pred.bias, 0.0)
        with torch.no_grad():
            self.crossing_pred.bias[0] = 4.0

    def forward(self, p2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(p2)
        return self.attr_pred(x), self.crossing_pred(x)
