"""The trainer's per-epoch validation: the model as `perception eval` would load it, scored by the one
`Validator` (perception.evaluation.validator) on the val split's original-resolution images.

The numbers are those of `perception eval` on the checkpoint saved at the same step (same decode, same
thresholds, same metrics); the trainer only chooses how many images (`--max-val-batches`) and which tasks.
The images come through a DataLoader (its workers read and letterbox, the device normalises); under DDP
each rank scores its contiguous shard and rank 0 merges the ranks' Evaluators in split order, so no rank
idles in a barrier while one validates the whole split.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from perception.config import ModelConfig
from perception.engine.distributed import DistContext, gather_to_main
from perception.evaluation.evaluator import EvalConfig
from perception.evaluation.val_loader import build_val_loader
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
    amp_dtype: torch.dtype | None = None,
    ctx: DistContext | None = None,
) -> dict[str, Any]:
    """Score `model` (usually the EMA) on `loader.dataset`'s images; returns `headline_metrics` (incl. fitness)
    on rank 0 and {} on the other ranks.

    The model is copied and fused as a checkpoint is for `perception eval`, so training state is untouched.
    loader: the trainer's val loader (its dataset, batch size and worker count are used).
    max_batches: 0 = the whole split, else the first max_batches * loader.batch_size images.
    amp_dtype: run the network under autocast in this dtype (the trainer's bf16), None = float32.
    ctx: under DDP every rank must call this; each scores its shard.
    """
    from tqdm import tqdm

    ctx = ctx or DistContext(device=device)
    batch = loader.batch_size or 1
    limit = max_batches * batch if max_batches > 0 else None
    val_loader = build_val_loader(loader.dataset, model_config.imgsz, batch, loader.num_workers, ctx.rank, ctx.world_size,
                                  limit, pin_memory=device.type == "cuda")
    validator = Validator(EvalConfig(tasks=tuple(model_config.enabled_tasks)), batch_size=batch)
    predictor = TorchPredictor(copy.deepcopy(model).fuse(), device=str(device), autocast_dtype=amp_dtype,
                               host_outputs="decode", **validator.predictor_options())
    with tqdm(total=len(val_loader.sampler), desc="val", leave=False, disable=not progress) as bar:
        evaluator = validator.score_loader(predictor, val_loader, loader.dataset.policy, bar)
    shards = gather_to_main(evaluator, ctx)
    if shards is None:
        return {}
    for shard in shards[1:]:
        shards[0].merge(shard)
    return headline_metrics(shards[0].summary())
