"""`perception bench --train`: how fast the trainer trains on this machine, and where a step's time goes.

Measured with the trainer itself (model, loss, optimizer, EMA, loader of `perception train`), on the chosen
device, after warm-up:
- loader: images/s of the training DataLoader alone (decode, augment, targets, collate in its workers);
- step: images/s of `Trainer.train_step` on a batch already prepared on the host (no data wait), timed as a
  whole with one device synchronisation at the end;
- parts: the same steps again with the device synchronised around each part (to_device, forward, loss,
  backward, optimizer, ema): median ms and share of each (the synchronisations cost a little on a GPU, which
  is why the step's images/s comes from the unsynchronised pass);
- end to end: steps drawn from the loader, as in training: images/s and the share spent waiting for data;
- validation: images/s of the per-epoch validation (the validator of `perception eval`).
Nothing here asserts a speed; the figures go to the JSON and a markdown table.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from perception.config import ConfigBase, check_at_least, check_choices, option
from perception.engine.train_config import AMP_MODES
from perception.errors import InputError
from perception.timing import Timings

PARTS = ("to_device", "forward", "loss", "backward", "optimizer", "ema")


@dataclass
class TrainBenchConfig(ConfigBase):
    """data: dataset YAML/dir (None: render a synthetic one into out_dir/data); the rest as `perception train`."""

    SECTION: ClassVar[str] = "bench_train"

    # Fields with help text are `perception bench --train`'s own flags; model, imgsz, batch, warmup and out_dir
    # come from bench's flags of the same name (cli/bench.py).
    data: str | None = option(None, "dataset YAML or directory (default: render a synthetic one)")
    model: str = "n"
    imgsz: tuple[int, int] = (192, 320)
    batch: int = 8
    amp: str = option("auto", "as `perception train --amp`", choices=AMP_MODES)
    channels_last: bool = option(True, "train in channels_last (--no-channels-last: NCHW)")
    device: str = option("auto", "auto|cpu|cuda|cuda:N")
    workers: int = option(2, "loader workers")
    steps: int = option(20, "timed training steps per pass")
    warmup: int = 5
    val_batches: int = option(4, "validation batches timed", metavar="N")
    out_dir: str = "runs/bench_train"
    verbose: bool = True

    def validate(self) -> None:
        if len(self.imgsz) != 2 or any(v <= 0 or v % 32 for v in self.imgsz):
            raise InputError(f"--imgsz {list(self.imgsz)}: must be two positive multiples of 32 (H W)")
        check_at_least(self, 1, "batch", "steps")
        check_at_least(self, 0, "warmup", "workers", "val_batches")
        check_choices(self)


class PartTimer:
    """`with timer(part):` times a part of the step, the device synchronised on both sides (CUDA runs
    asynchronously: without it a part's time would land on whichever later part waits)."""

    def __init__(self, device) -> None:
        import torch

        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.timings = {part: Timings() for part in PARTS}

    @contextlib.contextmanager
    def __call__(self, part: str):
        self.sync()
        with self.timings[part].measure():
            yield
            self.sync()


def _log(config: TrainBenchConfig, message: str) -> None:
    if config.verbose:
        print(f"perception bench --train: {message}", flush=True)


def _dataset(config: TrainBenchConfig, out_dir: Path) -> str:
    """config.data, or a synthetic set rendered once into out_dir/data, large enough for every timed pass."""
    if config.data:
        return config.data
    from perception.data.synthetic import generate_dataset

    root = out_dir / "data"
    needed = config.batch * (config.warmup + config.steps + 1)
    val = config.batch * max(config.val_batches, 1)
    if not (root / "images" / "train").is_dir() or len(list((root / "images" / "train").iterdir())) < needed:
        _log(config, f"rendering {needed + val} synthetic images into {root}")
        # In this process: the renderer's pool forks, and a fork of a process whose torch (OpenMP) threads are
        # running can deadlock in the child; a few hundred images take seconds. Big sets: `perception synth`.
        generate_dataset(root, needed + val, seed=3, imgsz=tuple(config.imgsz), val_fraction=val / (needed + val),
                         workers=1, progress=config.verbose)
    return str(root)


def _trainer(config: TrainBenchConfig, data: str, out_dir: Path):
    from perception.engine import TrainConfig, Trainer

    train_config = TrainConfig(data=data, model=config.model, imgsz=tuple(config.imgsz), batch=config.batch,
                               amp=config.amp, channels_last=config.channels_last, device=config.device,
                               workers=config.workers, epochs=1000, out=str(out_dir / "train"), exist_ok=True, save_period=0,
                               log_period=10**9)  # the loss statistics are read once per pass, as in training
    trainer = Trainer(train_config, progress=False)
    trainer._setup()
    return trainer


def _batches(loader, count: int):
    """`count` batches from the loader, restarting it when an epoch ends."""
    while True:
        for batch in loader:
            yield batch
            count -= 1
            if count <= 0:
                return


def _rate(images: int, seconds: float) -> float:
    return round(images / max(seconds, 1e-9), 2)


def _measure_loader(trainer, config: TrainBenchConfig) -> dict[str, float]:
    batches = _batches(trainer.train_loader, config.warmup + config.steps)
    for _ in range(config.warmup):
        next(batches)
    start = time.perf_counter()
    images = sum(int(b["images"].shape[0]) for b in batches)
    return {"loader_images_per_second": _rate(images, time.perf_counter() - start)}


def _measure_step(trainer, config: TrainBenchConfig, batch, sync) -> dict[str, Any]:
    for _ in range(config.warmup):
        trainer.train_step(batch)
    sync()
    start = time.perf_counter()
    for _ in range(config.steps):
        trainer.train_step(batch)
    trainer._read_stats()  # the losses' one read-back, and the divergence check
    sync()
    seconds = time.perf_counter() - start
    timer = PartTimer(trainer.ctx.device)
    steps = []
    for _ in range(config.steps):
        tick = time.perf_counter()
        trainer.train_step(batch, timer=timer)
        steps.append((time.perf_counter() - tick) * 1000)
    parts = {part: round(t.median(), 2) for part, t in timer.timings.items()}
    return {"step_images_per_second": _rate(config.batch * config.steps, seconds),
            "step_ms": round(seconds * 1000 / config.steps, 2), "profiled_step_ms": round(statistics.median(steps), 2),
            "parts_ms": parts}


def _measure_end_to_end(trainer, config: TrainBenchConfig, sync) -> dict[str, Any]:
    batches = _batches(trainer.train_loader, config.warmup + config.steps)
    for _ in range(config.warmup):
        trainer.train_step(next(batches))
    sync()
    wait = 0.0
    images = 0
    start = time.perf_counter()
    while True:
        tick = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            break
        wait += time.perf_counter() - tick
        trainer.train_step(batch)
        images += int(batch["images"].shape[0])
    trainer._read_stats()
    sync()
    seconds = time.perf_counter() - start
    return {"images_per_second": _rate(images, seconds), "data_wait_ms": round(wait * 1000 / config.steps, 2),
            "data_wait_share": round(wait / max(seconds, 1e-9), 3)}


def _measure_validation(trainer, config: TrainBenchConfig) -> dict[str, Any]:
    from perception.engine.validate import validate

    if trainer.val_loader is None or not config.val_batches:
        return {"val_images_per_second": None}
    model = trainer.ema.module if trainer.ema is not None else trainer.model
    images = min(len(trainer.val_loader.dataset), config.val_batches * (trainer.val_loader.batch_size or 1))
    start = time.perf_counter()
    validate(model, trainer.val_loader, trainer.model_config, trainer.ctx.device, config.val_batches,
             amp_dtype=trainer.amp_dtype, ctx=trainer.ctx)  # as the trainer validates
    return {"val_images_per_second": _rate(images, time.perf_counter() - start), "val_images": images}


def run_train_benchmark(config: TrainBenchConfig) -> dict[str, Any]:
    """Measure the trainer (see the module docstring); returns the JSON summary."""
    import torch

    from perception.bench.machine import machine_info

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info(torch.get_num_threads(), [])
    data = _dataset(config, out_dir)
    trainer = _trainer(config, data, out_dir)
    device = trainer.ctx.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _log(config, f"{config.model} at {config.imgsz[0]}x{config.imgsz[1]}, batch {config.batch}, {trainer.amp}, "
                 f"{'channels_last' if trainer.channels_last else 'NCHW'} on {device}")
    result: dict[str, Any] = {"config": config.to_dict() | {"data": data}, "device": str(device), "amp": trainer.amp,
                              "channels_last": trainer.channels_last, "machine": machine}
    result |= _measure_loader(trainer, config)
    prepared = next(iter(trainer.train_loader))
    result |= _measure_step(trainer, config, prepared, sync)
    result |= _measure_end_to_end(trainer, config, sync)
    result |= _measure_validation(trainer, config)
    step = sum(result["parts_ms"].values())
    result["parts_share"] = {part: round(ms / max(step, 1e-9), 3) for part, ms in result["parts_ms"].items()}
    if device.type == "cuda":
        result["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return result


def render_train_markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    lines = [
        "# Training benchmark", "",
        f"`{command}`", "",
        f"Machine: {m['cpu']} ({m['cores']} cores; flags {' '.join(m.get('cpu_flags') or []) or 'unknown'}), "
        f"device {result['device']}{' (' + m['cuda_device'] + ')' if m.get('cuda_device') else ''}, torch {m['torch']}, "
        f"load average at start {m.get('load_average_at_start')}, {m['date']}.", "",
        f"Model {result['config']['model']} at {result['config']['imgsz'][0]}x{result['config']['imgsz'][1]}, batch "
        f"{result['config']['batch']}, {result['amp']}, {'channels_last' if result['channels_last'] else 'NCHW'}, "
        f"{result['config']['workers']} loader workers.", "",
        "| figure | value |", "| --- | ---: |",
        f"| training, end to end | {result['images_per_second']} img/s |",
        f"| waiting for data | {result['data_wait_ms']} ms per step ({result['data_wait_share']:.0%}) |",
        f"| step alone (batch prepared) | {result['step_images_per_second']} img/s ({result['step_ms']} ms) |",
        f"| loader alone | {result['loader_images_per_second']} img/s |",
        f"| validation | {result['val_images_per_second']} img/s |", "",
        "| part of the step | median ms | share |", "| --- | ---: | ---: |",
    ]
    lines += [f"| {p} | {result['parts_ms'][p]} | {result['parts_share'][p]:.0%} |" for p in PARTS]
    return "\n".join(lines) + "\n"
