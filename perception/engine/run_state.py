"""What a run's last.pt (and best.pt) holds of the trainer, and how a resumed run takes it back: weights, EMA,
loss (with the balancer's state), optimizer, schedule, GradScaler, epoch/step and the position in the epoch,
training time, best fitness, the last metrics, every RNG, the gradient monitor's measurements, the configs and
the machine. Functions of the trainer's state, apart from its loop (as engine/run_summary.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from perception.engine.checkpoint import capture_rng, restore_rng
from perception.engine.ema import unwrap
from perception.engine.schedule import set_total_steps

if TYPE_CHECKING:
    from perception.engine.trainer import Trainer


def run_state(trainer: Trainer, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint of the run as it stands (`metrics`: the validation it was saved after, else the last one).
    Tensors, numbers, strings and plain containers only: torch.load(weights_only=True) reads it."""
    monitor = trainer.task_backward.monitor
    return {
        "model": unwrap(trainer.model).state_dict(),
        "ema": trainer.ema.state_dict() if trainer.ema is not None else None,
        "ema_updates": trainer.ema.updates if trainer.ema is not None else 0,
        "config": trainer.model_config.to_dict(),
        "train_config": trainer.config.to_dict(),
        "loss": trainer.loss.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler.is_enabled() else None,
        "epoch": trainer.epoch,
        "epoch_step": trainer.epoch_step,
        "step": trainer.step,
        "train_seconds": trainer.train_seconds,
        "best_fitness": trainer.best_fitness,
        "rng": capture_rng(),
        "metrics": dict(metrics or trainer.history_metrics),
        "grad_monitor": monitor.state_dict() if monitor is not None else None,
        "machine": trainer.machine,
    }


def restore_run_state(trainer: Trainer, ckpt: dict[str, Any]) -> None:
    """Every state of a resumed run from its last.pt, into a trainer built for the same config."""
    trainer.model.load_state_dict(ckpt["model"])
    if ckpt.get("loss"):
        trainer.loss.load_state_dict(ckpt["loss"])
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    trainer.scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        trainer.scaler.load_state_dict(ckpt["scaler"])
    if trainer.ema is not None and ckpt.get("ema") is not None:
        trainer.ema.load_state_dict(ckpt["ema"], int(ckpt.get("ema_updates", ckpt["step"])))
    trainer.epoch, trainer.epoch_step, trainer.step = int(ckpt["epoch"]), int(ckpt["epoch_step"]), int(ckpt["step"])
    trainer.resumed_from = {"path": str(trainer.last_path), "epoch": trainer.epoch, "epoch_step": trainer.epoch_step,
                            "step": trainer.step}
    trainer.train_seconds = float(ckpt.get("train_seconds", 0.0))
    if trainer.config.time:  # the length re-estimated before the interruption, not --epochs
        trainer.set_length(trainer.scheduler.lr_lambdas[0].total_steps)
    else:
        set_total_steps(trainer.scheduler, trainer.total_steps)
    trainer.best_fitness = float(ckpt.get("best_fitness", -math.inf))
    trainer.history_metrics = dict(ckpt.get("metrics") or {})
    if trainer.task_backward.monitor is not None and ckpt.get("grad_monitor"):
        trainer.task_backward.monitor.load_state_dict(ckpt["grad_monitor"])
    rng = ckpt.get("rng")
    if rng:  # one state per rank (DDP); a run resumed on more ranks than it had reuses the last
        restore_rng(rng[min(trainer.ctx.rank, len(rng) - 1)] if isinstance(rng, list) else rng)
