"""Transfer: start a run from a trained checkpoint's weights, and freeze what should not move.

`perception train --weights ckpt.pt` loads weights only (a new optimizer and schedule start), into a model
that may differ from the checkpoint's in its heads (fewer, or new ones that start fresh) and its class
lists: a class the two lists share keeps its classifier row, a new class starts from the fresh
initialisation. A checkpoint of another scale or backbone is refused: its tensors cannot fit.
`--freeze backbone|encoder` trains only the rest (YOLOP's staged training: encoder frozen, heads tuned).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from perception.classes import BDD100K_CLASSES
from perception.config import ConfigError, ModelConfig
from perception.engine.checkpoint import load_checkpoint
from perception.errors import InputError

FREEZE_PARTS = {"none": (), "backbone": ("backbone",), "encoder": ("backbone", "neck")}


def class_mapping(old: list[int], new: list[int]) -> dict[int, int | None]:
    """New head row -> the checkpoint's row of the same global class, or None for a class it lacks."""
    return {i: (old.index(c) if c in old else None) for i, c in enumerate(new)}


def load_pretrained(model: nn.Module, config: ModelConfig, path: str | Path) -> dict[str, Any]:
    """Copy every tensor of the checkpoint (EMA weights when present) that fits `model`; returns a report
    with `loaded`, `fresh` (kept initialised), `dropped` (checkpoint-only) tensor names, the per-head class
    mappings and a printable `message`. Raises InputError when scale or backbone differ."""
    ckpt = load_checkpoint(path)
    saved = ModelConfig.from_dict(ckpt.get("config") or {}, source=str(path))
    if (saved.scale, saved.backbone) != (config.scale, config.backbone):
        raise InputError(f"{path}: trained at scale {saved.scale!r} with backbone {saved.backbone!r}, but this run builds "
                         f"scale {config.scale!r} with {config.backbone!r}; use --model {saved.scale} (same backbone) to start from it")
    state = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    own = model.state_dict()
    loaded, fresh, mappings = [], [], {}
    # detection heads' classifier rows follow their class lists
    for saved_spec, spec in zip(saved.all_detection_heads, config.all_detection_heads):
        prefix, old, new = spec.module, list(saved_spec.classes), list(spec.classes)
        if old != new and any(k.startswith(f"{prefix}.cls_preds.") for k in own) and any(k.startswith(f"{prefix}.cls_preds.") for k in state):
            mappings[prefix] = class_mapping(old, new)
            names = {i: (BDD100K_CLASSES[new[i]], None if j is None else BDD100K_CLASSES[old[j]]) for i, j in mappings[prefix].items()}
            mappings[prefix + "_names"] = names
    for key, value in own.items():
        source = state.get(key)
        prefix = key.split(".", 1)[0]
        if source is not None and prefix in mappings and key.startswith(f"{prefix}.cls_preds."):
            rows = value.clone()
            for i, j in mappings[prefix].items():
                if j is not None:
                    rows[i] = source[j]
            own[key] = rows
            loaded.append(key)
        elif source is not None and source.shape == value.shape:
            own[key] = source.to(value.dtype)
            loaded.append(key)
        else:
            fresh.append(key)
    model.load_state_dict(own)
    dropped = [k for k in state if k not in own]
    lines = [f"weights: {len(loaded)}/{len(own)} tensors from {path} (new optimizer and schedule)"]
    for prefix in (spec.module for spec in config.all_detection_heads):
        if prefix + "_names" in mappings:
            pairs = [f"{n}<-{o}" if o else f"{n} (new, fresh)" for n, o in mappings[prefix + "_names"].values()]
            lines.append(f"  {prefix} classes: " + ", ".join(pairs))
    fresh_parts = sorted({k.split(".", 1)[0] for k in fresh})
    if fresh_parts:
        lines.append(f"  fresh (not in the checkpoint or another shape): {', '.join(fresh_parts)}")
    dropped_parts = sorted({k.split(".", 1)[0] for k in dropped})
    if dropped_parts:
        lines.append(f"  unused from the checkpoint: {', '.join(dropped_parts)}")
    return {"source": str(path), "loaded": len(loaded), "fresh": fresh, "dropped": dropped,
            "class_mapping": {p: {str(i): j for i, j in m.items()} for p, m in mappings.items() if not p.endswith("_names")},
            "message": "\n".join(lines)}


def _keep_eval(module: nn.Module, inputs) -> None:
    # A frozen encoder keeps its BatchNorm statistics too: in train mode BN would update its running
    # means and normalise by batch statistics, so "frozen" weights would still change the outputs.
    module.train(False)


def apply_freeze(model: nn.Module, part: str) -> list[str]:
    """Stop gradients (and BN statistic updates) in `part` (none | backbone | encoder); returns the modules frozen."""
    if part not in FREEZE_PARTS:
        raise ConfigError(f"--freeze {part!r}: must be one of {list(FREEZE_PARTS)}")
    for name in FREEZE_PARTS[part]:
        module = getattr(model, name)
        for p in module.parameters():
            p.requires_grad_(False)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.register_forward_pre_hook(_keep_eval)
    return list(FREEZE_PARTS[part])
