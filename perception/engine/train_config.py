"""Training configuration as data: one dataclass, validated, saved with every run and checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from perception.atomic import write_text_atomic
from perception.config import (BALANCING_MODES, BOX_LOSSES, CLS_LOSSES, DEFAULT_IMGSZ, FREEZE_MODES, LANE_BINARY_LOSSES,
                               TASKS, ConfigBase, ConfigError, check_choices, option)

AMP_MODES = ("auto", "bf16", "fp16", "off")
DEFAULT_LOSS_WEIGHTS = {"objects": 1.0, "pedestrians": 1.0, "lanes": 1.0, "drivable": 1.0}


@dataclass
class TrainConfig(ConfigBase):
    SECTION: ClassVar[str] = "train"

    # Every field with help text is also a `perception train` flag (--field-name unless `flag` says otherwise).
    data: str = option("datasets/synthetic.yaml", "dataset YAML or directory")
    model: str = option("s", "scale n|s|m or a model YAML")
    imgsz: tuple[int, int] = option(DEFAULT_IMGSZ, "input size H W")
    epochs: int = option(30, "epochs to train")
    time: float = option(0.0, "train for this many hours instead of --epochs: the epochs that fit are re-estimated "
                         "after each one and the LR schedule ends with the budget", metavar="HOURS")
    batch: int = option(16, "global batch size (split across processes)")
    lr: float = option(2e-3, "peak AdamW learning rate, reached after warm-up")
    min_lr_ratio: float = option(0.05, "cosine floor as a fraction of lr")
    weight_decay: float = option(0.05, "AdamW weight decay")
    warmup_epochs: float = option(1.0, "linear warm-up length in epochs")
    warmup_steps_min: int = option(20, "short runs still warm up over at least this many steps")
    # YAML only (--cfg): task -> weight, task -> share of train images keeping its labels
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    label_fraction: dict[str, float] = field(default_factory=dict)
    label_subset: bool = False  # with label_fraction: train on the images that kept their labels only
    # with label_fraction: task -> share of the draws given to the images that kept its labels (e.g. 0.5: half of
    # every epoch's images carry the scarce task's labels; the rest still train the other tasks)
    label_share: dict[str, float] = field(default_factory=dict)
    balancing: str = option("fixed", "task loss weighting: fixed, uncertainty, dwa, gradnorm or pcgrad (docs/multitask.md)",
                            choices=BALANCING_MODES)
    dwa_temperature: float = option(2.0, "DWA softmax temperature (the paper's T = 2)")
    gradnorm_alpha: float = option(1.5, "GradNorm asymmetry: higher pulls lagging tasks harder")
    gradnorm_lr: float = option(0.025, "GradNorm step on the task weights per optimizer step")
    grad_monitor_period: int = option(0, "every N steps measure task-gradient cosines on the encoder "
                                      "(task_gradients.png); 0 = off", flag="--grad-monitor", metavar="N")
    weights: str | None = option(None, "start from this checkpoint's weights (new optimizer/schedule; heads and classes "
                                 "may differ)", metavar="CKPT")
    backbone_weights: str | None = option(None, "local state-dict file of the model's torchvision backbone (instead of "
                                          "the YAML's download; also PERCEPTION_BACKBONE_WEIGHTS)", metavar="PATH")
    freeze: str = option("none", "train only what is not frozen", choices=FREEZE_MODES)
    cls_loss: str = option("bce", "classification loss", choices=CLS_LOSSES)
    box_loss: str = option("ciou", "box regression loss", choices=BOX_LOSSES)
    lane_binary: str = option("focal", "lane-vs-background loss", choices=LANE_BINARY_LOSSES)
    amp: str = option("auto", "mixed precision: auto = bf16 on GPUs (fp16 on GPUs without bf16), float32 on CPUs "
                      "(bf16 there is faster but measured less accurate: --amp bf16 to choose it); fp16 on CUDA only",
                      choices=AMP_MODES)
    ema: bool = option(True, "keep an exponential moving average of the weights (validated and saved)")
    ema_decay: float = option(0.9998, "EMA decay")
    ema_tau: float = option(2000.0, "EMA warm-up in steps: decay * (1 - exp(-updates / tau))")
    clip_grad: float = option(10.0, "max gradient norm; 0 disables")
    channels_last: bool = option(True, "NHWC memory layout (faster on GPUs and on oneDNN CPUs)")
    compile: bool = option(False, "torch.compile the model")
    sync_bn: bool = option(False, "SyncBatchNorm under DDP")
    save_period: int = option(500, "steps between mid-epoch last.pt saves; 0 disables")
    val_period: int = option(1, "epochs between validations (the last epoch is always validated)")
    # 8: one worker prepares ~50-80 items/s at 384x640 (JPEG decode 2.4 ms, two PNG masks 3.6 ms each,
    # augmentation 3 ms, targets: ~12-20 ms per item, docs/reviews/2026-11-gpu-readiness.md item 16), so 8 feed
    # 400-600 img/s, what one GPU trains scale s at; train_data.loader_workers caps it at the process's share
    # of the cores (a 2-core CPU run gets 2, as before).
    workers: int = option(8, "data loader workers per process (at most the cores per process)")
    seed: int = option(0, "random seed")
    log_period: int = option(10, "steps between progress/TensorBoard updates and divergence checks (each reads the "
                             "losses back from the device once)")
    out: str = option("runs/train", "run directory; when the default one holds a run, the next free name (runs/train2)")
    exist_ok: bool = option(False, "write into --out even when it holds another run (a named --out holding a run is "
                            "refused otherwise; --resume continues one)")
    device: str = option("auto", "auto|cpu|cuda|cuda:N")
    max_steps: int = option(0, "stop after this many optimizer steps in total; 0 = no limit")
    max_val_batches: int = option(0, "validate on this many batches of the val split; 0 = all of it")
    allow_missing_labels: bool = option(False, "train even when a task of the model (or listed in the data's tasks:) "
                                        "has no label file: a warning on every epoch line instead of an error")
    augment: bool = option(True, "training augmentation (--no-augment trains on the letterboxed images)")

    def validate(self) -> None:
        self.imgsz = tuple(int(v) for v in self.imgsz)
        self.loss_weights = {str(k): float(v) for k, v in dict(self.loss_weights).items()}

        def fail(name: str, message: str) -> None:
            raise ConfigError(f"train.{name}: {getattr(self, name)!r} {message}")

        if len(self.imgsz) != 2 or any(v <= 0 or v % 32 for v in self.imgsz):
            fail("imgsz", "must be two positive multiples of 32 (H W)")
        for name in ("epochs", "batch", "log_period"):
            if int(getattr(self, name)) < 1:
                fail(name, "must be >= 1")
        for name in ("save_period", "max_steps", "workers", "warmup_steps_min", "max_val_batches", "grad_monitor_period"):
            if int(getattr(self, name)) < 0:
                fail(name, "must be >= 0")
        if self.val_period < 1:
            fail("val_period", "must be >= 1")
        for name in ("lr", "ema_tau", "dwa_temperature", "gradnorm_lr"):
            if not float(getattr(self, name)) > 0:
                fail(name, "must be > 0")
        for name in ("time", "weight_decay", "warmup_epochs", "clip_grad", "gradnorm_alpha"):
            if float(getattr(self, name)) < 0:
                fail(name, "must be >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            fail("min_lr_ratio", "must be in [0, 1]")
        if not 0 < self.ema_decay < 1:
            fail("ema_decay", "must be in (0, 1)")
        check_choices(self)
        unknown = set(self.loss_weights) - set(TASKS)
        if unknown:
            raise ConfigError(f"train.loss_weights: unknown task(s) {sorted(unknown)}; tasks are {list(TASKS)}")
        self.label_fraction = {str(k): float(v) for k, v in dict(self.label_fraction).items()}
        if set(self.label_fraction) - set(TASKS) or any(not 0 <= v <= 1 for v in self.label_fraction.values()):
            fail("label_fraction", f"must map tasks of {list(TASKS)} to fractions in [0, 1]")
        self.label_share = {str(k): float(v) for k, v in dict(self.label_share).items()}
        if set(self.label_share) - set(self.label_fraction) or any(not 0 < v < 1 for v in self.label_share.values()):
            fail("label_share", "must map tasks thinned by label_fraction to shares in (0, 1)")
        if any(v < 0 for v in self.loss_weights.values()):
            fail("loss_weights", "must be >= 0")
        if self.balancing == "uncertainty" and any(self.loss_weights.get(t, 1.0) != 1.0 for t in TASKS):
            # the balancer learns each task's weight: fixed ones given beside it would be silently ignored
            fail("loss_weights", "is ignored by balancing 'uncertainty', which learns the task weights; "
                 "remove loss_weights or use balancing 'fixed'")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            fail("device", "must be auto, cpu, cuda or cuda:N")

    def balancing_options(self) -> dict[str, float]:
        """The balancer's hyper-parameters, as `perception.losses.build_balancer` takes them."""
        return {"dwa_temperature": self.dwa_temperature, "gradnorm_alpha": self.gradnorm_alpha, "gradnorm_lr": self.gradnorm_lr}


# Fields naming input files: relative values in a train YAML resolve against the YAML's own folder, so a
# recipe runs from any directory. `out` stays relative to where the run is started, as on the command line.
CONFIG_PATH_FIELDS = ("data", "model", "weights", "backbone_weights")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a train YAML (`train:` section or a flat mapping); errors name the file. Relative input paths in it
    (CONFIG_PATH_FIELDS) resolve against the YAML's folder; a model scale name (n, s, m) is no path."""
    from perception.config import SCALES

    config = TrainConfig.load(path)
    folder = Path(path).resolve().parent
    for name in CONFIG_PATH_FIELDS:
        value = getattr(config, name)
        if value and not Path(value).is_absolute() and not (name == "model" and value in SCALES):
            setattr(config, name, str(folder / value))
    return config


def save_train_config(config: TrainConfig, path: str | Path, model_config: dict[str, Any] | None = None) -> None:
    """Write `train:` (and the resolved `model:`) as YAML, atomically."""
    import yaml

    from perception.config import SCALES

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"train": config.to_dict()}
    for name in CONFIG_PATH_FIELDS:  # as absolute paths: the saved file reads the same from its own folder
        value = data["train"][name]
        if value and not Path(value).is_absolute() and not (name == "model" and value in SCALES):
            data["train"][name] = str(Path(value).resolve())
    if model_config is not None:
        data["model"] = model_config
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
