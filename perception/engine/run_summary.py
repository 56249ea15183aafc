"""What a finished run reports (`Trainer.fit`'s summary, printed by `perception train --json`): its steps and
time, the last losses and metrics, best.pt validated again, the replicas check under DDP, data skips, the
multi-task summary; and the notes of the epoch line. Functions of the trainer's state, apart from the loop."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from perception.engine.checkpoint import load_checkpoint
from perception.engine.distributed import replica_max_abs_diff
from perception.engine.ema import unwrap
from perception.engine.validate import validate

if TYPE_CHECKING:
    from perception.engine.trainer import Trainer


def epoch_notes(trainer: Trainer) -> str:
    """What the epoch line must not leave out: samples per source when several mix, tasks without labels."""
    notes = ""
    sources = trainer.epoch_sources
    if len(sources) > 1:
        notes += " | samples " + ", ".join(f"{name} {n}" for name, n in sorted(sources.items()))
    unlabelled = getattr(trainer.train_loader.dataset, "unlabelled_tasks", None)
    if unlabelled:
        notes += f" | WARNING no labels for {', '.join(unlabelled)}: those heads do not learn"
    return notes


def best_model(trainer: Trainer) -> dict[str, Any] | None:
    """best.pt's epoch, step and saved metrics, and best.pt validated again as `perception eval` would load it
    (EMA weights), after ultralytics' final validation: the numbers of the model a user keeps."""
    if not (trainer.ctx.is_main and trainer.best_path.is_file()):
        return None
    from perception.models import load_model

    ckpt = load_checkpoint(trainer.best_path, map_location="cpu")
    best = {"path": str(trainer.best_path), "epoch": int(ckpt["epoch"]), "step": int(ckpt["step"]),
            "metrics": dict(ckpt.get("metrics") or {}), "validated": None}
    if trainer.val_loader is not None:
        model, _ = load_model(trainer.best_path)
        best["validated"] = validate(model.to(trainer.ctx.device), trainer.val_loader, trainer.model_config, trainer.ctx.device,
                                     trainer.config.max_val_batches)
    return best


def summarize(trainer: Trainer, last_losses: dict[str, float], metrics: dict[str, Any]) -> dict[str, Any]:
    """The run's summary (call before the process group is torn down: the replicas check is a collective)."""
    elapsed = time.time() - trainer.start_time
    # Parameters, and BN statistics where they are kept equal (SyncBatchNorm, or PCGrad's broadcast after each
    # step): under plain DDP they legitimately differ after each rank's last forward.
    compared = [*unwrap(trainer.model).parameters(), *trainer.loss.parameters()]
    if trainer.config.sync_bn or trainer.task_backward.reduces_by_hand:
        compared += [b for b in unwrap(trainer.model).buffers() if b.dtype.is_floating_point]
    replica_diff = replica_max_abs_diff(compared, trainer.ctx)
    summary = {
        "out": str(trainer.out_dir),
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "skipped_steps": trainer.skipped_steps,  # fp16 steps GradScaler skipped for inf/nan gradients
        "amp": trainer.amp,
        "label_skips": trainer.label_skips,  # malformed labels skipped (lenient training), with the first paths
        "world_size": trainer.ctx.world_size,
        "replicas_identical": replica_diff == 0.0,
        "replica_max_abs_diff": replica_diff,
        "device": str(trainer.ctx.device),
        "seconds": round(elapsed, 2),
        "train_seconds": round(trainer.train_seconds, 2),  # every epoch's wall time, summed over resumes
        "images_per_second": round(trainer._images_seen / max(elapsed, 1e-9), 2),
        "train_losses": last_losses,
        "val_metrics": metrics,
        "best_fitness": trainer.best_fitness if math.isfinite(trainer.best_fitness) else None,
        "last": str(trainer.last_path),
        "best": str(trainer.best_path) if trainer.best_path.is_file() else None,
        "best_model": best_model(trainer),  # best.pt's epoch and metrics, re-validated
        "resumed_from": trainer.resumed_from,
        "data_skips": data_skips(trainer),
        "model_config": trainer.model_config.to_dict(),
        "multitask": trainer.task_backward.summary(trainer.train_seconds or elapsed),
        "transfer": trainer.transfer,
    }
    return summary


def data_skips(trainer: Trainer) -> dict[str, Any]:
    """Per split: images and labels skipped by reason and what was left out (ErrorPolicy.summary)."""
    out = {}
    for split, loader in (("train", trainer.train_loader), ("val", trainer.val_loader)):
        policy = getattr(getattr(loader, "dataset", None), "policy", None)
        if policy is not None:
            out[split] = policy.summary()
    return out
