"""The reference point every figure is divided by: torchvision's LR-ASPP MobileNetV3-Large.

A well-known real-time segmentation network of similar purpose (one dense head on a mobile backbone), built
untrained (`weights=None, weights_backbone=None`: nothing is downloaded; speed does not depend on the weights),
run at the same input size and threads as the model under test, in PyTorch eager and in ONNX Runtime fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from perception.config import IMAGENET_MEAN, IMAGENET_STD
from perception.preprocess import LetterboxInfo, prepare_batch

# torchvision's segmentation models normalise with the ImageNet statistics, as ours do (IMAGENET_MEAN, _STD).
BASELINE_NAME = "lraspp_mobilenet_v3_large"


class _OutTensor(nn.Module):
    """torchvision segmentation models return {"out": (B, 21, H, W)}; export and time that tensor alone."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def build_baseline() -> nn.Module:
    """Untrained LR-ASPP MobileNetV3-Large (21 classes) in eval mode, returning the (B, 21, H, W) logits."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    return _OutTensor(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)).eval()


def baseline_summary(model: nn.Module, imgsz: tuple[int, int]) -> dict:
    """{"params", "gflops"} for one image at imgsz (H, W); multiply-add = 2 FLOPs, as model_summary counts."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, *imgsz))
    return {"params": sum(p.numel() for p in model.parameters()), "gflops": counter.get_total_flops() / 1e9}


def export_baseline_onnx(model: nn.Module, out: str | Path, imgsz: tuple[int, int], opset: int = 17) -> Path:
    """ONNX of the baseline at imgsz (H, W) with a dynamic batch axis, written atomically."""
    from perception.deploy.export import save_onnx_atomically, trace_to_onnx

    out = Path(out)
    proto = trace_to_onnx(model, torch.zeros(1, 3, *imgsz), out.parent, opset, ["images"], ["out"],
                          {"images": {0: "batch"}, "out": {0: "batch"}})
    return save_onnx_atomically(proto, out)


class BaselineRunner:
    """The baseline behind the two calls the benchmark times, mirroring the perception predictors:

    infer(batch (B, 3, H, W) float32) -> (B, 21, H, W) logits (model only);
    predict(list of RGB uint8 images) -> list of (H_orig, W_orig) uint8 class maps: letterbox + normalise,
    the network, argmax, crop the padding and resize to the original size (the same pre- and postprocessing
    work our drivable-area output gets).
    """

    def __init__(self, infer_fn, imgsz: tuple[int, int]):
        self.infer = infer_fn
        self.imgsz = tuple(imgsz)

    def preprocess(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[LetterboxInfo]]:
        return prepare_batch(images, self.imgsz, IMAGENET_MEAN, IMAGENET_STD)

    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        batch, infos = self.preprocess(images)
        logits = self.infer(batch)
        labels = np.argmax(logits, axis=1).astype(np.uint8)
        return [info.crop_mask(label) for label, info in zip(labels, infos)]


def torch_baseline_runner(model: nn.Module, imgsz: tuple[int, int], device: str = "cpu") -> BaselineRunner:
    model = model.to(device).eval()

    @torch.inference_mode()
    def infer(batch: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(batch).to(device)).cpu().numpy()

    return BaselineRunner(infer, imgsz)


def onnx_baseline_runner(session, imgsz: tuple[int, int]) -> BaselineRunner:
    """session: an onnxruntime.InferenceSession of `export_baseline_onnx`'s file."""
    name = session.get_inputs()[0].name

    def infer(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: batch})[0]

    return BaselineRunner(infer, imgsz)
