"""Parameters and FLOPs per part of the network (multiply-add = 2 FLOPs, torch.utils.flop_counter's count)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from perception.models.network import MultiTaskNet
from perception.models.placement import zeros_input

PARTS = {
    "backbone": "backbone",
    "neck": "neck",
    "objects": "object_head",
    "pedestrians": "pedestrian_head",
    "lanes": "lane_head",
    "lane markings": "lane_attr_head",
    "drivable": "drivable_head",
}


def model_summary(model: MultiTaskNet, imgsz: tuple[int, int], batch: int = 1) -> dict:
    """{"parts": {part: {"params", "gflops"}}, "total": {...}, "imgsz", "layers": [...]} for one forward."""
    model = model.eval()
    x = zeros_input(model, batch, tuple(imgsz))  # where the model is: a GPU, or `meta` for shapes alone
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        outputs = model(x)
    counts = counter.get_flop_counts()
    parts = {}
    for part, attr in PARTS.items():
        module = getattr(model, attr)
        if module is None:
            continue
        key = f"{type(model).__name__}.{attr}"
        parts[part] = {
            "params": sum(p.numel() for p in module.parameters()),
            "gflops": _flops(counts, key) / 1e9,
        }
    layers = []
    for name, module in model.named_children():
        if module is None:
            continue
        for child_name, child in module.named_children():
            key = f"{type(model).__name__}.{name}.{child_name}"
            layers.append(
                {
                    "name": f"{name}.{child_name}",
                    "type": type(child).__name__,
                    "params": sum(p.numel() for p in child.parameters()),
                    "gflops": _flops(counts, key) / 1e9,
                }
            )
    return {
        "imgsz": list(imgsz),
        "batch": batch,
        "parts": parts,
        "layers": layers,
        "outputs": {k: list(v.shape) for k, v in outputs.items()},
        "total": {
            "params": sum(p.numel() for p in model.parameters()),
            "gflops": counter.get_total_flops() / 1e9,
        },
    }


def _flops(counts: dict, key: str) -> float:
    """FLOPs of a module; a ModuleList is never called itself, so sum its direct children."""
    if key in counts:
        return float(sum(counts[key].values()))
    children = [k for k in counts if k.startswith(key + ".") and "." not in k[len(key) + 1 :]]
    return float(sum(sum(counts[k].values()) for k in children))
