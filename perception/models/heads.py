"""The four task heads. Each returns raw tensors (logits and raw box distances); decoding lives in
perception.postprocess so training, evaluation, the ONNX runtime and the video tool share it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from perception.models.layers import ConvBNAct, CSPBlock, DWConv

# Classification bias so every point starts at ~1% foreground probability (RetinaNet's prior): keeps the
# first steps' focal/BCE loss from being swamped by the background points.
PRIOR_PROBABILITY = 0.01


class DetectionHead(nn.Module):
    """Anchor-free decoupled head over several strides.

    Input: {stride: (B, C_s, H/s, W/s)}. Output: reg (B, A, 4) raw ltrb distances (decoded as
    softplus(raw) * stride), cls (B, A, num_classes) logits, with A = sum over strides of H*W/s^2, the
    points in stride order then row-major.
    """

    def __init__(self, in_channels: dict[int, int], strides: tuple[int, ...], num_classes: int, hidden: int, act: str):
        super().__init__()
        self.strides = tuple(strides)
        self.num_classes = num_classes
        self.stems = nn.ModuleList(ConvBNAct(in_channels[s], hidden, 1, act=act) for s in self.strides)
        self.reg_towers = nn.ModuleList(
            nn.Sequential(DWConv(hidden, hidden, act=act), DWConv(hidden, hidden, act=act)) for _ in self.strides
        )
        self.cls_towers = nn.ModuleList(
            nn.Sequential(DWConv(hidden, hidden, act=act), DWConv(hidden, hidden, act=act)) for _ in self.strides
        )
        self.reg_preds = nn.ModuleList(nn.Conv2d(hidden, 4, 1) for _ in self.strides)
        self.cls_preds = nn.ModuleList(nn.Conv2d(hidden, num_classes, 1) for _ in self.strides)
        for pred in self.cls_preds:
            nn.init.constant_(pred.bias, -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))
        for pred in self.reg_preds:
            # softplus(1.0) * stride ~ a 2.6-stride wide box at the start
            nn.init.constant_(pred.bias, 1.0)

    def forward(self, feats: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        regs, clss = [], []
        for i, stride in enumerate(self.strides):
            x = self.stems[i](feats[stride])
            regs.append(self.reg_preds[i](self.reg_towers[i](x)).flatten(2))
            clss.append(self.cls_preds[i](self.cls_towers[i](x)).flatten(2))
        return torch.cat(regs, 2).transpose(1, 2), torch.cat(clss, 2).transpose(1, 2)


class LaneHead(nn.Module):
    """Dense lane logits at input resolution from the stride-4 feature, refined once at stride 2.

    Output (B, 2 + K, H, W): background, K position slots, slotless lane pixel (docs/architecture.md).
    """

    def __init__(self, c_in: int, hidden: int, out_channels: int, act: str):
        super().__init__()
        self.block = nn.Sequential(ConvBNAct(c_in, hidden, 3, act=act), CSPBlock(hidden, hidden, 1, act=act))
        self.refine = ConvBNAct(hidden, hidden // 2, 3, act=act)
        self.pred = nn.Conv2d(hidden // 2, out_channels, 1)

    def forward(self, p2: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.block(p2), scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.pred(self.refine(x))
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class DrivableHead(nn.Module):
    """Drivable-area logits (direct / alternative / background) at input resolution from stride 4."""

    def __init__(self, c_in: int, c_coarse: int, hidden: int, act: str):
        super().__init__()
        # The stride-8 context sees a wider stretch of road than the stride-4 detail alone.
        self.coarse = ConvBNAct(c_coarse, hidden, 1, act=act)
        self.fine = ConvBNAct(c_in, hidden, 3, act=act)
        self.block = CSPBlock(hidden, hidden, 1, act=act)
        self.pred = nn.Conv2d(hidden, 3, 1)

    def forward(self, p2: torch.Tensor, p3: torch.Tensor) -> torch.Tensor:
        x = self.fine(p2) + F.interpolate(self.coarse(p3), scale_factor=2.0, mode="nearest")
        x = self.pred(self.block(x))
        return F.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)
