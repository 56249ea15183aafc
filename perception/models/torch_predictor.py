"""PyTorch inference behind the shared predictor interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from perception.models.factory import load_model
from perception.models.network import MultiTaskNet
from perception.runtime.base_predictor import BasePredictor


class TorchPredictor(BasePredictor):
    def __init__(self, model: MultiTaskNet, device: str = "cpu", imgsz=None, half: bool = False, **kwargs):
        config = model.config
        if imgsz is not None:
            config = type(config).from_dict(config.to_dict() | {"imgsz": list(imgsz)})
        super().__init__(config, **kwargs)
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        self.model = model.eval().to(self.device)
        if self.half:
            self.model.half()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs) -> "TorchPredictor":
        model, _ = load_model(path)
        return cls(model.fuse(), device=device, **kwargs)

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(batch).to(self.device)
        if self.half:
            x = x.half()
        return {k: v.float().cpu().numpy() for k, v in self.model(x).items()}
