"""The default CSP backbone: four stages, features at strides 4, 8, 16 and 32."""

from __future__ import annotations

import torch
from torch import nn

from perception.models.layers import SPPF, ConvBNAct, CSPBlock, scaled_channels, scaled_depth

BASE_CHANNELS = (64, 128, 256, 512, 1024)
BASE_DEPTHS = (3, 6, 6, 3)


class CSPBackbone(nn.Module):
    """Stem (stride 2) then four stride-2 stages; `forward` returns {stride: feature map}."""

    def __init__(self, width: float, depth: float, act: str = "relu"):
        super().__init__()
        c = [scaled_channels(b, width) for b in BASE_CHANNELS]
        d = [scaled_depth(b, depth) for b in BASE_DEPTHS]
        self.stem = ConvBNAct(3, c[0], 3, 2, act=act)
        self.stage2 = nn.Sequential(ConvBNAct(c[0], c[1], 3, 2, act=act), CSPBlock(c[1], c[1], d[0], act=act))
        self.stage3 = nn.Sequential(ConvBNAct(c[1], c[2], 3, 2, act=act), CSPBlock(c[2], c[2], d[1], act=act))
        self.stage4 = nn.Sequential(ConvBNAct(c[2], c[3], 3, 2, act=act), CSPBlock(c[3], c[3], d[2], act=act))
        self.stage5 = nn.Sequential(
            ConvBNAct(c[3], c[4], 3, 2, act=act), CSPBlock(c[4], c[4], d[3], act=act), SPPF(c[4], c[4], act=act)
        )
        self.channels = {4: c[1], 8: c[2], 16: c[3], 32: c[4]}

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        c2 = self.stage2(self.stem(x))
        c3 = self.stage3(c2)
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        return {4: c2, 8: c3, 16: c4, 32: c5}
