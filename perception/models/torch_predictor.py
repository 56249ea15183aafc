"""PyTorch inference behind the shared predictor interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from perception.models.factory import load_model
from perception.models.input_norm import normalize_uint8
from perception.models.network import MultiTaskNet
from perception.postprocess.lanes import ROW_STEP
from perception.preprocess import LetterboxInfo
from perception.runtime.base_predictor import BasePredictor
from perception.structures import FrameResult

HOST_OUTPUTS = ("raw", "decode")


class TorchPredictor(BasePredictor):
    """host_outputs: "raw" copies every output to the host as float32 (what parity checks compare);
    "decode" copies only what `decode_outputs` reads, reduced on the device: the drivable argmax as uint8
    instead of 3 float maps, and the lane logits' sampled rows plus their uint8 mask instead of every row
    (384x640, model n: 5.8 MB per image instead of 12.2, the dense maps 4.4 instead of 10.8), with the same
    decoded results.
    autocast_dtype: run the network under autocast (bf16 validation of a bf16-trained model); None = as stored.
    """

    def __init__(self, model: MultiTaskNet, device: str = "cpu", imgsz=None, half: bool = False,
                 autocast_dtype: torch.dtype | None = None, host_outputs: str = "raw", **kwargs):
        config = model.config
        if imgsz is not None:
            config = type(config).from_dict(config.to_dict() | {"imgsz": list(imgsz)})
        super().__init__(config, **kwargs)
        if host_outputs not in HOST_OUTPUTS:
            raise ValueError(f"host_outputs must be one of {HOST_OUTPUTS}, got {host_outputs!r}")
        self.device = torch.device(device)
        self.half = half and self.device.type == "cuda"
        self.autocast_dtype = autocast_dtype
        self.host_outputs = host_outputs
        self.model = model.eval().to(self.device)
        if self.half:
            self.model.half()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs) -> "TorchPredictor":
        model, _ = load_model(path)
        return cls(model.fuse(), device=device, **kwargs)

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, 3, H, W) float32 normalised batch (BasePredictor.preprocess) -> outputs on the host."""
        return self._run(torch.from_numpy(batch).to(self.device))

    def predict_letterboxed(self, images: torch.Tensor, infos: list[LetterboxInfo]) -> list[FrameResult]:
        """Already letterboxed (B, 3, H, W) uint8 images (a loader's), normalised on the device -> FrameResults."""
        with self.timings["inference"].measure():
            outputs = self._infer_uint8(images)
        return self.postprocess(outputs, infos)

    @torch.inference_mode()
    def _infer_uint8(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        images = images.to(self.device, non_blocking=images.is_pinned())
        return self._run(normalize_uint8(images, self.config.mean, self.config.std))

    def _run(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        if self.half:
            x = x.half()
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            outputs = self.model(x)
        if self.host_outputs == "decode":
            outputs = decode_inputs(outputs, self.masks, self.lane_masks)
        return {k: (v if v.dtype == torch.uint8 else v.float()).cpu().numpy() for k, v in outputs.items()}


def decode_inputs(outputs: dict[str, torch.Tensor], masks: bool = True, lane_masks: bool | None = None) -> dict[str, torch.Tensor]:
    """The raw outputs reduced, where they are, to what `decode_outputs` reads (its "lane_rows", "lane_mask"
    and "drivable_class" keys): the same comparisons as the numpy decode, so the same results in fp32."""
    out = dict(outputs)
    lane_masks = masks if lane_masks is None else lane_masks
    if "lane" in out:
        lane = out.pop("lane").float()
        out["lane_rows"] = lane[:, :, ::ROW_STEP]
        if lane_masks:
            out["lane_mask"] = (lane[:, 1:].amax(1) > lane[:, 0]).to(torch.uint8)
    if "drivable" in out:
        drivable = out.pop("drivable")
        if masks:  # argmax takes the first of equal maxima, as channel_argmax
            out["drivable_class"] = drivable.float().argmax(1).to(torch.uint8)
    return out
