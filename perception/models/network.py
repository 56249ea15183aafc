"""MultiTaskNet: one encoder (backbone + neck) and up to four heads, returning a dict of raw tensors."""

from __future__ import annotations

import torch
from torch import nn

from perception.config import ModelConfig
from perception.models.backbone import CSPBackbone
from perception.models.heads import DetectionHead, DrivableHead, LaneHead
from perception.models.marking_head import LaneMarkingHead
from perception.models.layers import fuse_batchnorm, scaled_channels
from perception.models.neck import FPNPAN

# Every output a network with all heads has, in graph order.
OUTPUT_NAMES = tuple(n for spec in ModelConfig().all_detection_heads for n in (spec.reg, spec.cls)) + (
    "lane", "lane_attr", "crossing", "drivable")
# Neck widths before the width multiplier, per stride.
NECK_BASE = {4: 128, 8: 256, 16: 512, 32: 1024}


class MultiTaskNet(nn.Module):
    """forward(x: (B, 3, H, W) normalised) -> dict of raw outputs (docs/architecture.md).

    H and W must be multiples of 32. There is no data-dependent control flow: which heads exist is fixed
    at construction, so the graph traces and exports to ONNX as is.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        act = config.activation
        if config.backbone == "csp":
            self.backbone: nn.Module = CSPBackbone(config.width, config.depth, act)
        else:
            from perception.models.torchvision_backbone import TorchvisionBackbone

            self.backbone = TorchvisionBackbone(config.backbone, config.backbone_weights)
        neck_channels = {s: scaled_channels(b, config.width) for s, b in NECK_BASE.items()}
        neck_channels[4] = scaled_channels(NECK_BASE[4], config.width * 0.75)
        self.neck = FPNPAN(self.backbone.channels, neck_channels, config.depth, act)
        c = self.neck.channels
        head_hidden = scaled_channels(192, config.width)
        fine_hidden = scaled_channels(96, config.width)
        heads = config.heads
        # pedestrians are small: the finer, narrower head (strides 4-16 by default)
        hidden = {"objects": head_hidden, "pedestrians": fine_hidden}
        self.object_head: DetectionHead | None = None
        self.pedestrian_head: DetectionHead | None = None
        for spec in config.detection_heads:
            setattr(self, spec.module, DetectionHead(c, spec.strides, len(spec.classes), hidden[spec.task], act))
        self.lane_head = LaneHead(c[4], fine_hidden, config.lane_channels, act) if heads["lanes"] else None
        self.lane_attr_head = (
            LaneMarkingHead(c[4], max(8, fine_hidden // 2), act) if heads["lanes"] and config.lane_markings else None
        )
        self.drivable_head = DrivableHead(c[4], c[8], fine_hidden, act) if heads["drivable"] else None

    @property
    def output_names(self) -> list[str]:
        names = [name for spec in self.config.detection_heads for name in (spec.reg, spec.cls)]
        if self.lane_head is not None:
            names.append("lane")
        if self.lane_attr_head is not None:
            names += ["lane_attr", "crossing"]
        if self.drivable_head is not None:
            names.append("drivable")
        return names

    def encode(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return self.neck(self.backbone(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.encode(x)
        out: dict[str, torch.Tensor] = {}
        for spec in self.config.detection_heads:
            out[spec.reg], out[spec.cls] = getattr(self, spec.module)(feats)
        if self.lane_head is not None:
            out["lane"] = self.lane_head(feats[4])
        if self.lane_attr_head is not None:
            out["lane_attr"], out["crossing"] = self.lane_attr_head(feats[4])
        if self.drivable_head is not None:
            out["drivable"] = self.drivable_head(feats[4], feats[8])
        return out

    def fuse(self) -> "MultiTaskNet":
        """Fold BatchNorm into convolutions for inference and export (call in eval mode)."""
        self.eval()
        fuse_batchnorm(self)
        return self
