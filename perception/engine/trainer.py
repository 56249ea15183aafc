"""The training loop: AMP, EMA, warm-up + cosine LR, gradient clipping, DDP, step and epoch checkpoints,
exact resume, per-epoch validation and best.pt by the combined metric.

    Trainer(TrainConfig(...)).fit() -> summary dict

Run directory (`config.out`): weights/last.pt, weights/best.pt, results.csv, results.png,
tensorboard/, train.yaml (the resolved train and model configs). Under DDP the summary also says whether
every rank ended with rank 0's parameters (`replicas_identical`, `replica_max_abs_diff`).

The trainer's state is read and written by functions apart from the step loop: engine/run_state.py (what last.pt
holds, resume), engine/epoch_end.py (an epoch's end: counts over ranks, --time, validation, records),
engine/run_summary.py (the summary).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ContextManager

import numpy as np
import torch
from torch import nn

from perception.config import ModelConfig
from perception.engine.checkpoint import load_checkpoint, save_checkpoint
from perception.engine.epoch_end import end_epoch
from perception.engine.distributed import (
    DistContext,
    ResumableSampler,
    all_reduce_mean,
    check_sync_bn,
    broadcast_buffers,
    cleanup_distributed,
    convert_sync_bn,
    setup_distributed,
    wrap_model,
)
from perception.bench.machine import training_machine
from perception.engine.ema import ModelEMA, unwrap
from perception.engine.hardware import resolve_amp
from perception.engine.step_stats import StepStats
from perception.engine import run_summary
from perception.engine.run_logger import RunLogger
from perception.engine.run_state import restore_run_state, run_state
from perception.engine.run_folder import claim_run_dir
from perception.engine.schedule import build_scheduler
from perception.multitask.backward import TaskBackward
from perception.engine.train_config import TrainConfig, save_train_config
from perception.engine.train_data import build_train_loaders, move_batch
from perception.engine.validate import validate
from perception.errors import InputError, MissingFileError
from perception.losses import MultiTaskLoss

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# fp16 steps in a row whose loss or gradients were inf/nan before training stops: GradScaler skips a few
# overflows while it lowers its scale (each halves it), a long run of them is divergence.
MAX_NONFINITE_RUN = 10


def _untimed(part: str) -> ContextManager:
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def param_groups(modules: list[nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norm scales and the balancer's log-variances (all 0-/1-D tensors)."""
    decay, no_decay = [], []
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        model_config: ModelConfig | None = None,
        resume: bool = False,
        progress: bool = True,
        train_loader=None,
        val_loader=None,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """model_config: overrides `config.model`; loaders: pre-built ones (tests, notebooks), else from config.data;
        checkpoint: last.pt already read by the caller (resume_config), so a resumed run reads it once."""
        self.config = config
        self.resume = resume
        self._checkpoint = checkpoint
        self.progress = progress
        self._model_config = model_config
        self._loaders = (train_loader, val_loader)
        self.claim = None
        # What a run may or may not have, set here so that every reader finds the attribute: the transfer report
        # (--weights), where a resumed run started, and the samples each source gave this epoch.
        self.transfer: dict[str, Any] | None = None
        self.resumed_from: dict[str, Any] | None = None
        self.epoch_sources: dict[str, int] = {}
        self._set_out_dir(config.out)

    def _set_out_dir(self, out: str | Path) -> None:
        self.out_dir = Path(out)
        self.weights_dir = self.out_dir / "weights"
        self.last_path = self.weights_dir / "last.pt"
        self.best_path = self.weights_dir / "best.pt"

    # ---- setup -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Resolve the model config once and build model, loss, loaders, optimizer and EMA once; on resume the
        checkpoint (read once) defines the model and fills their states."""
        cfg = self.config
        self.ctx: DistContext = setup_distributed(cfg.device)
        self.machine = training_machine(self.ctx.device, self.ctx.world_size)  # recorded in every checkpoint
        # never over another run: the default folder moves on to runs/train2, a named one is refused (out_dir)
        out, self.claim = claim_run_dir(cfg, self.ctx, self.resume)
        self.config = cfg = cfg.replace(out=str(out))
        self._set_out_dir(out)
        check_sync_bn(cfg.sync_bn, self.ctx)
        seed_everything(cfg.seed + self.ctx.rank)
        ckpt = self._resume_checkpoint() if self.resume else None
        self.model_config = self._resolve_model_config(ckpt)
        self._build_model()
        self._build_loaders()
        self._build_optimization()
        self.epoch, self.epoch_step, self.step = 0, 0, 0
        self.train_seconds = 0.0  # wall time of the epochs done, summed over resumes (for the time budget)
        self.skipped_steps = 0
        # label problems skipped while indexing (this process) and while loading the last epoch (any worker)
        policy = getattr(getattr(self.train_loader, "dataset", None), "policy", None)
        self.label_skips = {"indexing": policy.total if policy else 0, "last_epoch": 0, "first_paths": []}
        self.best_fitness = -math.inf
        self.history_metrics: dict[str, Any] = {}
        self.task_backward = TaskBackward(self.model, self.loss, self.ctx, cfg.grad_monitor_period, self.steps_per_epoch)
        if ckpt is not None:
            restore_run_state(self, ckpt)
        self.step_log: dict[str, float] = {}
        self.stats = StepStats(self.ctx)
        self.train_model = self.model if self.task_backward.reduces_by_hand else wrap_model(self.model, self.ctx)
        if cfg.compile:
            self.train_model = self._compile(self.train_model)
        self.logger = RunLogger(self.out_dir, resume=self.resume) if self.ctx.is_main else None
        if self.ctx.is_main and not self.resume:
            self.best_path.unlink(missing_ok=True)  # --exist-ok: an earlier run's best.pt is not this run's
        if self.ctx.is_main:
            save_train_config(cfg, self.out_dir / "train.yaml", self.model_config.to_dict())

    def _compile(self, model: nn.Module) -> nn.Module:
        if self.task_backward.mode is not None or self.task_backward.monitor is not None:
            # GradNorm, PCGrad and the gradient monitor take per-task gradients with retain_graph=True, which a
            # compiled backward refuses while AOTAutograd donates its saved buffers (torch/_functorch/config.py).
            import torch._functorch.config as functorch_config

            if hasattr(functorch_config, "donated_buffer"):
                functorch_config.donated_buffer = False
        return torch.compile(model)

    def _resume_checkpoint(self) -> dict[str, Any]:
        if self._checkpoint is not None:
            return self._checkpoint
        if not self.last_path.is_file():
            raise MissingFileError(f"{self.last_path}: nothing to resume (no last.pt in --out {self.out_dir})")
        # On the CPU whatever the device: the RNG states must be host tensors, and load_state_dict copies the
        # weights to the model's device anyway.
        return load_checkpoint(self.last_path, map_location="cpu")

    def _resolve_model_config(self, ckpt: dict[str, Any] | None) -> ModelConfig:
        """The checkpoint's model on resume (whatever --model says now), else the given one or `config.model` at
        `config.imgsz`."""
        from perception.models import model_config_from_arg
        from perception.models.factory import saved_model_config

        if ckpt is not None:
            return saved_model_config(ckpt["config"], source=str(self.last_path))
        cfg = self.config
        model_config = self._model_config or model_config_from_arg(cfg.model, imgsz=list(cfg.imgsz),
                                                                   backbone_weights=cfg.backbone_weights)
        if tuple(model_config.imgsz) != tuple(cfg.imgsz):
            model_config = model_config.replace(imgsz=tuple(cfg.imgsz))
        return model_config

    def _build_model(self) -> None:
        from perception.models import build_model

        cfg, device = self.config, self.ctx.device
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        model = build_model(self.model_config).to(device)
        # NHWC pays on GPUs (tensor cores) and on CPUs too (oneDNN's blocked kernels: docs/benchmarks.md).
        self.channels_last = cfg.channels_last
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if cfg.sync_bn and self.ctx.distributed:
            # Before --freeze: the conversion makes new modules, which would not carry the freeze hooks.
            model = convert_sync_bn(model)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: autotuned kernels once, then reused
        self.model = model
        if cfg.weights and not self.resume:
            from perception.engine.transfer import load_pretrained

            self.transfer = load_pretrained(model, self.model_config, cfg.weights)
            if self.ctx.is_main:
                print(self.transfer["message"])
        if cfg.freeze != "none":
            from perception.engine.transfer import apply_freeze

            apply_freeze(model, cfg.freeze)
        self.loss = MultiTaskLoss(
            self.model_config, cfg.balancing, cfg.loss_weights, cfg.cls_loss, cfg.box_loss, cfg.lane_binary,
            balancing_options=cfg.balancing_options(),
        ).to(device)

    def _build_loaders(self) -> None:
        cfg = self.config
        train_loader, val_loader = self._loaders
        if train_loader is None:
            train_loader, built_val = build_train_loaders(cfg, self.model_config, self.ctx)
            val_loader = val_loader if val_loader is not None else built_val
        self.train_loader, self.val_loader = train_loader, val_loader
        self.sampler = getattr(train_loader, "sampler", None)
        self.steps_per_epoch = len(train_loader)
        if self.steps_per_epoch == 0:
            raise InputError(f"{cfg.data}: the training split is empty (0 batches of {cfg.batch})")
        # with a time budget, re-set after every epoch (epoch_end.fit_epochs_to_time)
        self.set_length(self.steps_for(cfg.epochs))
        warmup = max(cfg.warmup_steps_min, round(cfg.warmup_epochs * self.steps_per_epoch))
        self.warmup_steps = min(warmup, max(1, self.total_steps // 3))

    def _build_optimization(self) -> None:
        cfg = self.config
        # fused: one kernel for all parameters on CUDA, and it unscales fp16 gradients without a host sync
        self.optimizer = torch.optim.AdamW(param_groups([self.model, self.loss], cfg.weight_decay), lr=cfg.lr,
                                           betas=(0.9, 0.999), fused=self.ctx.device.type == "cuda" or None)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, self.warmup_steps, cfg.min_lr_ratio)
        self.amp = resolve_amp(cfg.amp, self.ctx.device)
        self.amp_dtype = AMP_DTYPES.get(self.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        self.ema = ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau) if cfg.ema else None

    def steps_for(self, epochs: int) -> int:
        total = epochs * self.steps_per_epoch
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def set_length(self, total_steps: int) -> None:
        """The run's length in steps, and the epochs it takes: fewer than config.epochs where max_steps ends it
        first (compare-tasks passes epochs=max_steps as a bound), the last one partial where it ends mid-epoch."""
        self.total_steps = total_steps
        self.epochs = math.ceil(total_steps / self.steps_per_epoch)

    # ---- checkpoints ---------------------------------------------------------------------------------
    def save_last(self, metrics: dict[str, Any] | None = None) -> None:
        if self.ctx.is_main:
            save_checkpoint(run_state(self, metrics), self.last_path)

    # ---- loop --------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any], timer: Callable[[str], ContextManager] | None = None) -> dict | None:
        """One optimizer step on one (per-rank) batch. The losses stay on the device (StepStats); every
        `log_period` steps they are read back in one copy, checked (a non-finite loss on any rank stops every
        rank) and returned (StepStats.read); None on the other steps.

        timer: `timer(part)` is entered around each part of the step - to_device, forward, loss, backward,
        optimizer, ema - (the training benchmark's per-part times); none by default."""
        part = timer or _untimed
        with part("to_device"):
            batch = move_batch(batch, self.ctx.device, self.channels_last, mean=self.model_config.mean,
                               std=self.model_config.std)
        with part("forward"), torch.autocast(self.ctx.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            outputs = self.train_model(batch["images"])
        with part("loss"):
            total, report = self.loss({k: v.float() for k, v in outputs.items()}, batch)
        with part("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            # Under fp32/bf16 a non-finite loss is divergence; it is found when the stats are read (below), on
            # every rank at the same step, so no rank is left waiting in a collective. The backward runs on
            # every rank regardless (DDP must all-reduce); under fp16 GradScaler then skips the step.
            self.step_log = self.task_backward.backward(total, self.step, self.scaler) or self.step_log
            if self.ctx.distributed:
                # The balancer's parameters live outside DDP: average their gradients by hand.
                for p in self.loss.parameters():
                    if p.grad is not None:
                        p.grad.copy_(all_reduce_mean(p.grad, self.ctx))
        with part("optimizer"):
            skipped = self._optimizer_step()
        with part("ema"):
            if self.ema is not None:
                self.ema.update(self.model)
        self.stats.add(report, skipped)
        self.step += 1
        self.epoch_step += 1
        if self.step % self.config.log_period == 0:
            return self._read_stats()
        return None

    def _optimizer_step(self) -> torch.Tensor | None:
        """Unscale, clip, step, schedule; returns (fp16) whether GradScaler skipped the step, as a device bool."""
        cfg = self.config
        self.scaler.unscale_(self.optimizer)
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(list(self.model.parameters()) + list(self.loss.parameters()), cfg.clip_grad)
        # GradScaler lowers its scale exactly when it found inf/nan gradients and skipped the step. Its scale
        # tensor is compared on the device (get_scale() would wait for the device at every step).
        before = self.scaler._scale.clone() if self.scaler.is_enabled() else None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.task_backward.reduces_by_hand:
            broadcast_buffers(self.model, self.ctx)  # what DDP does for the wrapped model: rank 0's BN statistics
        return self.scaler._scale < before if before is not None else None

    def _read_stats(self) -> dict:
        """Read the step statistics back (one copy) and stop on divergence, the same way on every rank."""
        stats = self.stats.read()
        self.skipped_steps = stats["skipped_steps"]
        if stats["nonfinite_ranks"] and not self.scaler.is_enabled():
            raise FloatingPointError(
                f"step {self.step}: the loss became inf/nan (rank(s) {stats['nonfinite_ranks']}, within the last "
                f"{self.config.log_period} steps; last values {stats['last']}): training diverged in "
                f"{self.amp if self.amp != 'off' else 'fp32'} - lower --lr or --clip-grad")
        if stats["longest_skip_run"] >= MAX_NONFINITE_RUN:
            raise FloatingPointError(f"step {self.step}: {MAX_NONFINITE_RUN} fp16 steps in a row had inf/nan loss or "
                                     "gradients (all skipped); lower --lr or train with --amp bf16")
        if self.ctx.is_main:
            self.step_log |= self.task_backward.weights_row()
        return stats

    def run_validation(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self.val_loader is not None:  # every rank scores its shard; rank 0 gets the merged metrics
            model = self.ema.module if self.ema is not None else unwrap(self.model)
            metrics = validate(model, self.val_loader, self.model_config, self.ctx.device, self.config.max_val_batches,
                               progress=self.progress and self.ctx.is_main, amp_dtype=self.amp_dtype, ctx=self.ctx)
        return metrics

    def fit(self) -> dict[str, Any]:
        """Train until `epochs` or `max_steps`, validating every `val_period` epochs; returns the run summary."""
        try:
            self._setup()
            self.start_time = time.time()
            self._images_seen = 0
            last_losses: dict[str, float] = {}
            metrics: dict[str, Any] = dict(self.history_metrics)
            self.epoch_clock = self.start_time  # from one epoch's end to the next: its validation is part of the cost
            while self.epoch < self.epochs and self.step < self.total_steps:
                last_losses, skipped = self._train_epoch()
                metrics = end_epoch(self, last_losses, skipped, metrics)
        finally:
            if getattr(self, "logger", None) is not None:
                self.logger.close()
            if self.claim is not None:
                self.claim.release()
        summary = run_summary.summarize(self, last_losses, metrics)
        cleanup_distributed()
        return summary

    def _train_epoch(self) -> tuple[dict[str, float], int]:
        """The rest of the current epoch (all of it unless resumed mid-epoch): (mean losses, label items skipped)."""
        from tqdm import tqdm

        cfg = self.config
        if isinstance(self.sampler, ResumableSampler):
            self.sampler.set_epoch(self.epoch, start=self.epoch_step * self.train_loader.batch_size)
        elif self.epoch_step:
            raise InputError("resuming mid-epoch needs the trainer's ResumableSampler in the train loader")
        if getattr(self.train_loader, "generator", None) is not None:
            self.train_loader.generator.manual_seed(cfg.seed + self.epoch)
        epoch_skips = 0
        self.stats.reset()
        self.epoch_sources: dict[str, int] = {}  # samples each source contributed this epoch (this rank)
        bar = tqdm(self.train_loader, total=self.steps_per_epoch, initial=self.epoch_step,
                   desc=f"epoch {self.epoch + 1}/{self.epochs}", disable=not (self.progress and self.ctx.is_main))
        tick, window_images = time.time(), 0
        for batch in bar:
            skipped = [path for meta in batch.get("meta", ()) for path in meta.get("skipped", ())]
            epoch_skips += len(skipped)
            for meta in batch.get("meta", ()):
                self.epoch_sources[meta["source"]] = self.epoch_sources.get(meta["source"], 0) + 1
            self.label_skips["first_paths"] = list(dict.fromkeys(self.label_skips["first_paths"] + skipped))[:5]
            stats = self.train_step(batch)
            n = int(batch["images"].shape[0]) * self.ctx.world_size
            self._images_seen += n
            window_images += n
            if cfg.save_period and self.step % cfg.save_period == 0:
                stats = stats or self._read_stats()  # never save weights a diverged step produced
                self.save_last()
            if stats is not None:
                now = time.time()
                self._log_step(bar, stats["last"], window_images / max(now - tick, 1e-9))
                tick, window_images = now, 0
            if self.step >= self.total_steps:
                break
        bar.close()
        return self._read_stats()["means"], epoch_skips

    def _log_step(self, bar, losses: dict[str, float], rate: float) -> None:
        """Progress bar and TensorBoard, once per logging period (the values of its last step)."""
        if not self.ctx.is_main:
            return
        tasks = self.model_config.enabled_tasks
        lr = self.scheduler.get_last_lr()[0]
        bar.set_postfix({t: f"{losses[t]:.3f}" for t in tasks if t in losses} | {"img/s": f"{rate:.1f}", "lr": f"{lr:.2e}"})
        self.logger.log_step(self.step, {k: losses[k] for k in ["total", *tasks] if k in losses} | {"lr": lr} | self.step_log)
