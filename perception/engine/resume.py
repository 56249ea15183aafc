"""A resumed run's TrainConfig: the one saved in the run's last.pt, with only the flags a resumed run may change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perception.engine.train_config import TrainConfig
from perception.errors import InputError, MissingFileError

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
