"""Training engine: the loop, EMA, checkpoints, schedule, distributed helpers and run logging."""

from perception.engine.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from perception.engine.ema import ModelEMA, unwrap
from perception.engine.schedule import build_scheduler, warmup_cosine_factor
from perception.engine.train_config import TrainConfig, load_train_config, save_train_config
from perception.engine.trainer import Trainer

__all__ = [
    "ModelEMA",
    "TrainConfig",
    "Trainer",
    "build_scheduler",
    "capture_rng",
    "load_checkpoint",
    "load_train_config",
    "restore_rng",
    "save_checkpoint",
    "save_train_config",
    "unwrap",
    "warmup_cosine_factor",
]
