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

# Allowed |ONNX Runtime - PyTorch| per output, as a fraction of the output's largest magnitude (at least 1): float32
# kernels round differently from one CPU to the next (AVX2, AVX-512) and between runtimes, and the error grows with
# the values, so a fixed absolute bound fails a correct export whose logits reach 1e4 (seen: 0.012 on logits of 4e4,
# 3e-7 of them) while a wrong file differs by a sizeable fraction of its outputs.
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

    Returns {"images", "source", "max_abs_diff": {output: float}, "max_magnitude": {output: PyTorch's largest
    |value|}, "max_rel_diff": {output: max_abs_diff / max(1, max_magnitude)}, "tolerance", "passed"}. Outputs absent
    from the ONNX file (the raw detection outputs of an NMS graph) are not compared here. With a tolerance (on
    max_rel_diff), raises ParityError naming the worst output when any exceeds it; None only reports (FP16/INT8).
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
    magnitude: dict[str, float] = {}
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
            magnitude[name] = max(magnitude.get(name, 0.0), float(np.abs(reference[name]).max(initial=0.0)))
    relative = {name: diff / max(1.0, magnitude[name]) for name, diff in worst.items()}
    passed = tolerance is None or all(r <= tolerance for r in relative.values())
    summary = {"images": len(images), "source": source, "max_abs_diff": worst, "max_magnitude": magnitude,
               "max_rel_diff": relative, "tolerance": tolerance, "passed": passed}
    if not passed:
        name = max(relative, key=relative.get)
        raise ParityError(
            f"{onnx_path}: output {name!r} differs from PyTorch by {worst[name]:.3g}, {relative[name]:.3g} of its "
            f"largest magnitude {max(1.0, magnitude[name]):.3g} > {tolerance:g}, on {len(images)} {source} image(s)"
        )
    return summary
