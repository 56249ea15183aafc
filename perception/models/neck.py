"""FPN + PAN neck over strides 8/16/32, with an extra top-down level at stride 4 for the fine heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from perception.models.layers import ConvBNAct, CSPBlock, scaled_depth


class FPNPAN(nn.Module):
    """Top-down (FPN) then bottom-up (PAN) fusion. Returns {4: P2, 8: N3, 16: N4, 32: N5}.

    P2 (stride 4) serves the pedestrian head's finest level and the lane and drivable heads; the detection
    levels come out of the bottom-up path as in YOLOv5/v8.
    """

    def __init__(self, in_channels: dict[int, int], out_channels: dict[int, int], depth: float, act: str = "relu"):
        super().__init__()
        n = scaled_depth(3, depth)
        c2, c3, c4, c5 = (in_channels[s] for s in (4, 8, 16, 32))
        o2, o3, o4, o5 = (out_channels[s] for s in (4, 8, 16, 32))
        self.td4 = CSPBlock(c5 + c4, o4, n, shortcut=False, act=act)
        self.td3 = CSPBlock(o4 + c3, o3, n, shortcut=False, act=act)
        self.td2 = CSPBlock(o3 + c2, o2, 1, shortcut=False, act=act)
        self.down3 = ConvBNAct(o3, o3, 3, 2, act=act)
        self.bu4 = CSPBlock(o3 + o4, o4, n, shortcut=False, act=act)
        self.down4 = ConvBNAct(o4, o4, 3, 2, act=act)
        self.bu5 = CSPBlock(o4 + c5, o5, n, shortcut=False, act=act)
        self.channels = dict(out_channels)

    def forward(self, feats: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        c2, c3, c4, c5 = feats[4], feats[8], feats[16], feats[32]
        p4 = self.td4(torch.cat([_up(c5, c4), c4], 1))
        p3 = self.td3(torch.cat([_up(p4, c3), c3], 1))
        p2 = self.td2(torch.cat([_up(p3, c2), c2], 1))
        n4 = self.bu4(torch.cat([self.down3(p3), p4], 1))
        n5 = self.bu5(torch.cat([self.down4(n4), c5], 1))
        return {4: p2, 8: p3, 16: n4, 32: n5}


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # Nearest x2: inputs are multiples of 32, so every level is exactly twice the next.
    return F.interpolate(x, scale_factor=2.0, mode="nearest")
