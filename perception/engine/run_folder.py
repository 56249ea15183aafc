"""Claiming a training run's folder (perception.out_dir) once for every rank of a job."""

from __future__ import annotations

from pathlib import Path

from perception.engine.train_config import TrainConfig
from perception.errors import InputError


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
