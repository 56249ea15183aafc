"""Build a model from a config, a named scale or a YAML file; load one from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from perception.config import SCALES, ModelConfig, load_model_config
from perception.errors import InputError, MissingFileError
from perception.models.network import MultiTaskNet


def model_config_from_arg(arg: str | ModelConfig | None, **overrides) -> ModelConfig:
    """'n' | 's' | 'm' | path/to/model.yaml | ModelConfig -> ModelConfig, with keyword overrides applied."""
    if isinstance(arg, ModelConfig):
        base = arg.to_dict()
    elif arg is None or arg in SCALES:
        base = ModelConfig(scale=arg or "s").to_dict()
    else:
        base = load_model_config(arg).to_dict()
    base.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig.from_dict(base, source=str(arg))


def build_model(config: ModelConfig | str | None = None) -> MultiTaskNet:
    return MultiTaskNet(config if isinstance(config, ModelConfig) else model_config_from_arg(config))


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True (no pickled code runs) and one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {str(exc)[:120]})") from None


def saved_model_config(data: dict[str, Any], source: str) -> ModelConfig:
    """The ModelConfig a checkpoint was saved with, with the defaults of its time for fields added since."""
    config = ModelConfig.from_dict(data, source=source)
    if not {"lane_markings", "lane_attributes"} & set(data):  # (the field's name before it became lane_markings)
        config = config.replace(lane_markings=False)  # saved before the lane-marking head existed
    return config


def load_model(path: str | Path, use_ema: bool = True, map_location: str = "cpu") -> tuple[MultiTaskNet, ModelConfig]:
    """Model and config from a checkpoint (EMA weights when present), in eval mode."""
    path = Path(path)
    ckpt = read_checkpoint(path, map_location)
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise InputError(f"{path}: not a perception checkpoint (needs 'model' and 'config' entries)")
    config = saved_model_config(ckpt["config"], source=str(path))
    config.backbone_weights = None  # the checkpoint already holds the trained backbone
    model = MultiTaskNet(config)
    state = ckpt.get("ema") if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    model.load_state_dict(state)
    return model.eval(), config
