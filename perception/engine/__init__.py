"""Training engine: the loop, EMA, checkpoints, schedule, distributed helpers and run logging.

Names are imported on first use (PEP 562), so `perception.engine.train_config` stays importable without torch:
the CLI builds `perception train`'s flags from it in the base install.
"""

from importlib import import_module

_HOMES = {
    "capture_rng": "checkpoint", "load_checkpoint": "checkpoint", "restore_rng": "checkpoint",
    "save_checkpoint": "checkpoint", "ModelEMA": "ema", "unwrap": "ema", "build_scheduler": "schedule",
    "warmup_cosine_factor": "schedule", "TrainConfig": "train_config", "load_train_config": "train_config",
    "save_train_config": "train_config", "Trainer": "trainer",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'perception.engine' has no attribute {name!r}")
    return getattr(import_module(f"perception.engine.{_HOMES[name]}"), name)
