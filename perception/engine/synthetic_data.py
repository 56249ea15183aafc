"""The default training data made on demand: the synthetic world rendered into a synthetic dataset's root
when a run is pointed at it and it does not exist yet."""

from __future__ import annotations

import os
from pathlib import Path

from perception.engine.train_config import TrainConfig

DEFAULT_SYNTHETIC_IMAGES = 2000


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
