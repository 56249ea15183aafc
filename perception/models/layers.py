"""Building blocks: Conv-BN-activation, CSP (C2f-style) blocks, SPPF. All fuse BatchNorm for export."""

from __future__ import annotations

import torch
from torch import nn


def make_activation(name: str) -> nn.Module:
    # ReLU is the default: cheapest on CPU and quantises to INT8 without a dequantise round trip.
    return nn.ReLU(inplace=True) if name == "relu" else nn.SiLU(inplace=True)


class ConvBNAct(nn.Module):
    """Conv2d + BatchNorm + activation; `fuse()` folds the BatchNorm into the convolution."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, groups: int = 1, act: str | None = "relu"):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c_out)
        self.act = make_activation(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, groups=conv.groups, bias=True
        ).to(conv.weight.device)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        self.bn = nn.Identity()


class DWConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1: a 3x3 receptive field at a fraction of a dense conv's cost."""

    def __init__(self, c_in: int, c_out: int, s: int = 1, act: str = "relu"):
        super().__init__()
        self.dw = ConvBNAct(c_in, c_in, 3, s, groups=c_in, act=act)
        self.pw = ConvBNAct(c_in, c_out, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool, act: str):
        super().__init__()
        self.cv1 = ConvBNAct(c, c, 3, act=act)
        self.cv2 = ConvBNAct(c, c, 3, act=act)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class CSPBlock(nn.Module):
    """Cross-stage-partial block with every bottleneck's output concatenated (YOLOv8's C2f layout)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, act: str = "relu"):
        super().__init__()
        self.hidden = max(8, c_out // 2)
        self.cv1 = ConvBNAct(c_in, 2 * self.hidden, 1, act=act)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut, act) for _ in range(n))
        self.cv2 = ConvBNAct((2 + n) * self.hidden, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        parts = [y[:, : self.hidden], y[:, self.hidden :]]
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools, a wide receptive field for little compute."""

    def __init__(self, c_in: int, c_out: int, act: str = "relu"):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBNAct(c_in, hidden, 1, act=act)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.cv2 = ConvBNAct(hidden * 4, c_out, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.cv2(torch.cat([x, p1, p2, self.pool(p2)], 1))


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ConvBNAct's BatchNorm into its conv (inference only: call after .eval())."""
    for module in model.modules():
        if isinstance(module, ConvBNAct):
            module.fuse()
    return model


def scaled_channels(base: int, width: float, divisor: int = 8) -> int:
    return max(divisor, int(round(base * width / divisor)) * divisor)


def scaled_depth(base: int, depth: float) -> int:
    return max(1, round(base * depth))
