"""Turning command-line choices into a TrainConfig: resume from a run directory, making sure the default
synthetic data exists before training on it, and claiming the run's folder (perception.out_dir)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perception.engine.train_config import TrainConfig
from perception.errors import InputError, MissingFileError

DEFAULT_SYNTHETIC_IMAGES = 2000
# What a resumed run may change: where and how fast it runs, and how long (a longer run recomputes the LR
# schedule over the new length). Anything else would make the resumed run a different one.
RESUME_RUN_FIELDS = {"device", "workers", "save_period", "compile", "exist_ok"}
RESUME_LENGTH_FIELDS = {"epochs", "max_steps"}


def resume_config(out_dir: str | Path, **overrides: Any) -> tuple[TrainConfig, dict[str, tuple[Any, Any]], dict[str, Any]]:
    """The TrainConfig saved in `out_dir/weights/last.pt` with the given overrides, the length fields they
    changed ({field: (saved, new)}) and the checkpoint itself (for `Trainer(checkpoint=...)`: read once). An
    override of any other field that differs from the saved value is refused (a flag given with --resume is
    honoured or refused, never dropped)."""
    from perception.engine.checkpoint import load_checkpoint

    path = Path(out_dir) / "weights" / "last.pt"
    if not path.is_file():
        raise MissingFileError(f"{path}: nothing to resume (no last.pt under --out {out_dir})")
    saved = load_checkpoint(path)
    data = dict(saved.get("train_config") or {})
    if not data:
        raise InputError(f"{path}: the checkpoint holds no train_config; cannot resume it")
    given = {k: v for k, v in overrides.items() if v is not None and k != "out"}
    for key, value in given.items():
        if key in RESUME_RUN_FIELDS | RESUME_LENGTH_FIELDS:
            continue
        saved_value = data.get(key)
        same = list(saved_value) == list(value) if isinstance(value, (list, tuple)) else saved_value == value
        if not same:
            flag = "--" + key.replace("_", "-")
            raise InputError(f"{flag}: the run in {out_dir} was trained with {saved_value!r}, and a resumed run "
                             f"cannot change it; drop {flag} or start a new run with another --out")
    changed = {k: (data.get(k), given[k]) for k in RESUME_LENGTH_FIELDS & set(given) if data.get(k) != given[k]}
    data.update({k: v for k, v in given.items() if k in RESUME_RUN_FIELDS | RESUME_LENGTH_FIELDS})
    data["out"] = str(out_dir)
    return TrainConfig.from_dict(data, source=str(path)), changed, saved


def claim_run_dir(config: TrainConfig, ctx, resume: bool):
    """(folder, claim) of a training run. Rank 0 chooses the folder (the default `runs/train` moves on to the next
    free name; a named folder holding a run is refused unless resumed or `exist_ok`) and holds its lock for the run
    (claim None on other ranks); every rank of a torchrun job then gets rank 0's folder, or its one-line refusal."""
    from perception.engine.distributed import broadcast_object
    from perception.errors import PerceptionError
    from perception.out_dir import FolderClaim, choose_out_dir

    claim, chosen, refusal = None, None, None
    if ctx.is_main:
        try:
            chosen = choose_out_dir(config.out, "train", default=TrainConfig().out, resume=resume, exist_ok=config.exist_ok)
            claim = FolderClaim(chosen, "train").acquire()
        except PerceptionError as exc:
            if not ctx.distributed:
                raise
            refusal = exc
    chosen, message = broadcast_object((chosen, str(refusal) if refusal else None), ctx)
    if refusal is not None:
        raise refusal
    if message is not None:
        raise InputError(message)
    return Path(chosen), claim


def synthetic_root_to_generate(data: str) -> Path | None:
    """The root of a synthetic dataset YAML (name: synthetic) that does not exist yet, else None."""
    from perception.data.dataset_config import load_dataset_config

    path = Path(data)
    if path.is_dir() or not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        return None
    config = load_dataset_config(path)
    if config.name != "synthetic" or len(config.sources) != 1:
        return None
    root = config.sources[0].root
    root = root if root.is_absolute() else Path.cwd() / root
    return None if root.exists() else root


def ensure_synthetic_data(config: TrainConfig, num: int = DEFAULT_SYNTHETIC_IMAGES, progress: bool = True) -> dict | None:
    """Render the synthetic world into the dataset's root when the training data is the (missing)
    synthetic set; returns the generator's summary, or None when nothing had to be generated.
    Only rank 0 renders; other ranks of a torchrun job wait for the root to appear."""
    import time

    root = synthetic_root_to_generate(config.data)
    if root is None:
        return None
    if int(os.environ.get("RANK", "0")) != 0:
        while not (root / ".complete").exists():
            time.sleep(2)
        return None
    from perception.data.synthetic import generate_dataset

    tmp = root.with_name(root.name + ".partial")
    summary = generate_dataset(tmp, num, seed=config.seed, imgsz=tuple(config.imgsz), progress=progress)
    (tmp / ".complete").write_text("ok\n")
    os.replace(tmp, root)  # a half-written dataset never sits at the real root
    return summary | {"out": str(root)}
