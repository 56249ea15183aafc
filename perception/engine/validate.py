"""The trainer's per-epoch validation: the model as `perception eval` would load it, scored by the one
`Validator` (perception.evaluation.validator) on the val split's original-resolution images.

The numbers are those of `perception eval` on the checkpoint saved at the same step (same decode, same
thresholds, same metrics); the trainer only chooses how many images (`--max-val-batches`) and which tasks.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from perception.config import ModelConfig
from perception.evaluation.evaluator import EvalConfig
from perception.evaluation.validator import Validator, headline_metrics
from perception.models.torch_predictor import TorchPredictor


@torch.no_grad()
def validate(
    model: nn.Module,
    loader,
    model_config: ModelConfig,
    device: torch.device,
    max_batches: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Score `model` (usually the EMA) on `loader.dataset`'s images; returns `headline_metrics` (incl. fitness).

    The model is copied and fused as a checkpoint is for `perception eval`, so training state is untouched.
    max_batches: 0 = the whole split, else the first max_batches * loader.batch_size images.
    """
    from tqdm import tqdm

    dataset = loader.dataset
    batch = loader.batch_size or 1
    limit = max_batches * batch if max_batches > 0 else None
    validator = Validator(EvalConfig(tasks=tuple(model_config.enabled_tasks)), batch_size=batch)
    predictor = TorchPredictor(copy.deepcopy(model).fuse(), device=str(device), **validator.predictor_options())
    total = len(dataset) if limit is None else min(len(dataset), limit)
    with tqdm(total=total, desc="val", leave=False, disable=not progress) as bar:
        summary = validator(predictor, dataset.samples(), limit, bar)
    return headline_metrics(summary)
