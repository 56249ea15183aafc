"""ONNX Runtime vs PyTorch on the same frames: the numbers that say an exported file is the trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from perception.errors import InputError
from perception.imageio import reference_frames
from perception.models.network import MultiTaskNet
from perception.models.placement import model_input
from perception.preprocess import prepare_batch

FP32_TOLERANCE = 1e-3


class ParityError(InputError):
    """The exported model's outputs differ from PyTorch's beyond the tolerance; the message names the output."""


def max_abs_diffs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-output max |a - b| over the outputs both have (shapes must agree)."""
    diffs = {}
    for name, ref in reference.items():
        if name not in candidate:
            continue
        if ref.shape != candidate[name].shape:
            raise ParityError(f"output {name}: shape {candidate[name].shape} differs from PyTorch's {ref.shape}")
        diffs[name] = float(np.abs(ref.astype(np.float32) - candidate[name].astype(np.float32)).max())
    return diffs


def check_parity(
    onnx_path: str | Path,
    model: MultiTaskNet,
    images: list[np.ndarray] | None = None,
    tolerance: float | None = FP32_TOLERANCE,
    threads: int = 2,
) -> dict:
    """Run `images` (default: `reference_frames()`) through PyTorch and ONNX Runtime (CPU) one at a time.

    Returns {"images", "source", "max_abs_diff": {output: float}, "tolerance", "passed"}. Outputs absent from
    the ONNX file (the raw detection outputs of an NMS graph) are not compared here. With a tolerance, raises
    ParityError naming the worst output when any difference exceeds it; None only reports (FP16/INT8).
    """
    from perception.runtime.session import create_session

    source = "given"
    if images is None:
        images, source = reference_frames()
    config = model.config
    session = create_session(onnx_path, providers="cpu", threads=threads, verbose=False)
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    fixed_batch = session.get_inputs()[0].shape[0]
    worst: dict[str, float] = {}
    for image in images:
        batch, _ = prepare_batch([image], config.imgsz, config.mean, config.std)
        if isinstance(fixed_batch, int) and fixed_batch > 1:
            batch = np.repeat(batch, fixed_batch, 0)
        with torch.no_grad():
            outputs = model.eval()(model_input(model, batch))  # on the model's device, in its dtype
            reference = {k: v.float().cpu().numpy() for k, v in outputs.items()}
        candidate = dict(zip(output_names, session.run(None, {input_name: batch})))
        for name, diff in max_abs_diffs(reference, candidate).items():
            worst[name] = max(worst.get(name, 0.0), diff)
    passed = tolerance is None or all(d <= tolerance for d in worst.values())
    summary = {"images": len(images), "source": source, "max_abs_diff": worst, "tolerance": tolerance, "passed": passed}
    if not passed:
        name = max(worst, key=worst.get)
        raise ParityError(
            f"{onnx_path}: output {name!r} differs from PyTorch by {worst[name]:.3g} > {tolerance:g} "
            f"on {len(images)} {source} image(s)"
        )
    return summary
