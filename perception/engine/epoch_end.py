"""What the trainer does when an epoch (or a --max-steps run) ends: count the skipped label items and each
source's samples over the ranks, advance the epoch and fit the epoch count to a --time budget, validate when
due, then record the epoch on rank 0 (results.csv row, epoch line, last.pt, best.pt when the fitness improved).
Functions of the trainer's state, apart from its step loop (as engine/run_state.py and run_summary.py)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch

from perception.engine import run_summary
from perception.engine.checkpoint import save_checkpoint
from perception.engine.distributed import all_reduce_mean, all_reduce_sum, barrier
from perception.engine.run_logger import epoch_line
from perception.engine.run_state import run_state
from perception.engine.schedule import set_total_steps

if TYPE_CHECKING:
    from perception.engine.trainer import Trainer


def end_epoch(trainer: Trainer, losses: dict[str, float], epoch_skips: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """Count skipped labels over ranks, advance the epoch, validate when due, then record the epoch (row, line,
    last.pt and best.pt when the fitness improved). Returns the latest validation metrics."""
    epoch_skips = _count_epoch_skips(trainer, epoch_skips)
    epoch_done = _advance_epoch(trainer)
    run_val = epoch_done and (trainer.epoch % trainer.config.val_period == 0 or trainer.epoch == trainer.epochs)
    run_val = run_val or trainer.step >= trainer.total_steps
    if run_val:
        metrics = trainer.history_metrics = trainer.run_validation()
    if trainer.ctx.is_main:
        _record_epoch(trainer, losses, metrics, epoch_skips, epoch_done, run_val)
    barrier(trainer.ctx)
    return metrics


def fit_epochs_to_time(trainer: Trainer, epoch_seconds: float) -> None:
    """With a time budget (TrainConfig.time, hours) the run's length follows the measured epoch time, as
    ultralytics' `time` does: after each epoch the number of epochs becomes what fits in the budget at the
    mean epoch time so far (validation included), and the cosine is stretched or shrunk to end there."""
    trainer.train_seconds += epoch_seconds
    if not trainer.config.time:
        return
    per_epoch = trainer.train_seconds / max(trainer.epoch, 1)
    trainer.set_length(trainer.steps_for(max(trainer.epoch, round(trainer.config.time * 3600 / per_epoch))))
    set_total_steps(trainer.scheduler, trainer.total_steps)


def _count_epoch_skips(trainer: Trainer, epoch_skips: int) -> int:
    """The epoch's malformed label items over every rank (and its samples per source), said once."""
    ctx = trainer.ctx
    # collectives take tensors of the process's device (NCCL: CUDA only)
    local = torch.tensor(float(epoch_skips), device=ctx.device)
    epoch_skips = round(float(all_reduce_mean(local, ctx)) * ctx.world_size)
    trainer.label_skips["last_epoch"] = epoch_skips
    _sum_sources_over_ranks(trainer)
    if epoch_skips and ctx.is_main:
        print(f"epoch {trainer.epoch + 1}: skipped {epoch_skips} malformed label item(s) while loading "
              f"(first: {', '.join(trainer.label_skips['first_paths'])})")
    return epoch_skips


def _advance_epoch(trainer: Trainer) -> bool:
    """Whether a whole epoch ended (not only --max-steps); if so, count it and fit the epochs to --time."""
    if trainer.epoch_step < trainer.steps_per_epoch:
        return False
    trainer.epoch += 1
    trainer.epoch_step = 0
    # ranks agree on the measured time, so they agree on the number of epochs
    elapsed = torch.tensor(time.time() - trainer.epoch_clock, device=trainer.ctx.device)
    fit_epochs_to_time(trainer, float(all_reduce_mean(elapsed, trainer.ctx)))
    trainer.epoch_clock = time.time()
    return True


def _record_epoch(trainer: Trainer, losses: dict[str, float], metrics: dict[str, Any], epoch_skips: int,
                  epoch_done: bool, run_val: bool) -> None:
    """Rank 0: the results.csv row, the epoch line after a validation, last.pt, and best.pt when improved."""
    epoch = trainer.epoch if epoch_done else trainer.epoch + trainer.epoch_step / trainer.steps_per_epoch
    row = {"epoch": epoch, "step": trainer.step} | {f"train/{k}": v for k, v in losses.items()}
    if run_val:  # an epoch not validated leaves its val/ cells empty: a carried-over value would read as measured
        row |= {f"val/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
    row |= trainer.task_backward.epoch_row(trainer.out_dir / "task_gradients.png")
    row |= {"lr": trainer.scheduler.get_last_lr()[0], "skipped_labels": epoch_skips}
    row |= {f"samples/{name}": n for name, n in sorted(trainer.epoch_sources.items())}
    trainer.logger.log_epoch(row, plot=run_val or trainer.epoch >= trainer.epochs)
    if run_val and trainer.progress:
        print(epoch_line(epoch, trainer.epochs, trainer.step, metrics, time.time() - trainer.start_time)
              + run_summary.epoch_notes(trainer), flush=True)
    improved = run_val and metrics.get("fitness", -math.inf) > trainer.best_fitness
    if improved:
        trainer.best_fitness = metrics["fitness"]
    trainer.save_last(metrics)
    if improved:
        save_checkpoint(run_state(trainer, metrics), trainer.best_path)


def _sum_sources_over_ranks(trainer: Trainer) -> None:
    """Each rank counted the samples of its own batches: the epoch's counts are their sum."""
    if not trainer.ctx.distributed:
        return
    dataset = trainer.train_loader.dataset
    names = sorted(src.name for src in getattr(getattr(dataset, "dataset", dataset), "sources", ()))
    counts = torch.tensor([float(trainer.epoch_sources.get(n, 0)) for n in names], device=trainer.ctx.device)  # NCCL: CUDA
    totals = all_reduce_sum(counts, trainer.ctx).tolist()
    trainer.epoch_sources = {n: round(float(v)) for n, v in zip(names, totals)}
