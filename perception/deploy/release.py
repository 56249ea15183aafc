"""A training checkpoint reduced to what inference reads: the weights to ship, commit or hand to a vehicle team.

last.pt/best.pt carry the optimizer, scheduler, loss balancer, RNG and both the raw and the EMA weights so
that a run can resume exactly; none of that serves inference, and it makes a scale-s checkpoint four times the
size of its weights. The released file keeps the EMA weights (what `load_model`, eval and export use) as
"model", the model config, and the run's provenance (epoch, step, metrics, training config, machine), and nothing
else; `load_model` reads it like any checkpoint. half=True stores floating tensors as float16 (half the size
again; load_model widens them back into the float32 model, a rounding of about 1e-3 relative per weight).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from perception.config import ConfigBase, option
from perception.errors import InputError

PROVENANCE = ("epoch", "step", "train_seconds", "metrics", "train_config", "machine")


@dataclass
class ReleaseConfig(ConfigBase):
    """One `perception release` job (its fields with help text are the command's flags)."""

    SECTION: ClassVar[str] = "release"

    model: str = option("", "training checkpoint (last.pt or best.pt)", metavar="CKPT", required=True)
    out: str = option("", "released checkpoint to write (.pt)", metavar="PATH", required=True)
    half: bool = option(False, "store the weights as float16 (loaded back as float32)")
    card: bool = option(False, "also write the model card OUT.md (model, training, machine, metrics, the settings "
                        "that reproduce it), from the checkpoint's own provenance")
    eval: str | None = option(None, "a `perception eval --json` summary of this model, whose metrics the card shows "
                              "(implies --card)", metavar="JSON")


def release_checkpoint(src: str | Path, dst: str | Path, half: bool = False) -> dict[str, Any]:
    """Write the inference-only checkpoint of `src` to `dst`; returns what was kept and the sizes."""
    from perception.engine.checkpoint import load_checkpoint, save_checkpoint
    from perception.models.factory import saved_model_config

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError(f"{dst}: the release would overwrite its own source checkpoint; choose another --out")
    ckpt = load_checkpoint(src)
    if "config" not in ckpt:
        raise InputError(f"{src}: not a perception checkpoint (no 'config' entry)")
    saved_model_config(ckpt["config"], source=str(src))  # a config this version cannot read fails here, not later
    weights = "ema" if ckpt.get("ema") is not None else "model"
    state = {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in ckpt[weights].items()}
    released = {"model": state, "config": ckpt["config"], "released_from": {"file": src.name, "weights": weights,
                                                                             "dtype": "float16" if half else "float32"}}
    released |= {k: ckpt[k] for k in PROVENANCE if k in ckpt}
    save_checkpoint(released, dst)
    return {"source": str(src), "out": str(dst), "weights": weights, "dtype": released["released_from"]["dtype"],
            "source_mb": round(src.stat().st_size / 2**20, 2), "out_mb": round(dst.stat().st_size / 2**20, 2),
            "epoch": ckpt.get("epoch"), "step": ckpt.get("step")}
