"""The multi-task network: backbones, neck, heads, factory and checkpoint loading."""

from perception.models.factory import build_model, load_model, model_config_from_arg
from perception.models.network import OUTPUT_NAMES, MultiTaskNet

__all__ = ["MultiTaskNet", "OUTPUT_NAMES", "build_model", "load_model", "model_config_from_arg"]
