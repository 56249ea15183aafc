"""What a run leaves behind besides checkpoints: results.csv (one row per epoch), TensorBoard event
files, and PNG plots of the losses and metrics. Only rank 0 creates one.

A resumed run continues the rows and event files of the run it resumes; a new run written into an old run's
folder (--exist-ok) starts both afresh, so its curves never join the old run's."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from perception.atomic import atomic_path


class RunLogger:
    def __init__(self, out_dir: str | Path, tensorboard: bool = True, resume: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out_dir / "results.csv"
        self.rows: list[dict[str, Any]] = self._read_rows() if resume else []
        if not resume:
            self.csv_path.unlink(missing_ok=True)
            for old in (self.out_dir / "tensorboard").glob("events.out.tfevents.*"):
                old.unlink()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))

    def _read_rows(self) -> list[dict[str, Any]]:
        """A resumed run appends to the rows of the run it continues."""
        if not self.csv_path.is_file():
            return []
        with self.csv_path.open(newline="") as handle:
            # an empty cell is a quantity not measured that epoch (e.g. no validation): absent, as in a fresh row
            return [{k: _number(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]

    def log_step(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def log_epoch(self, row: dict[str, Any], plot: bool = True) -> None:
        """row: epoch, step, train/<loss>..., val/<metric>..., lr. Rewrites results.csv atomically; redraws
        results.png when `plot` (the trainer asks at validations: drawing costs more than a tiny epoch)."""
        self.rows = [r for r in self.rows if int(r.get("epoch", -1)) != int(row["epoch"])] + [row]
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        with atomic_path(self.csv_path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        if self.writer is not None:
            for name, value in row.items():
                if name not in ("epoch", "step") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"epoch/{name}", value, int(row["epoch"]))
            self.writer.flush()
        if plot:
            self.plot()

    def plot(self) -> None:
        """results.png: one panel per logged quantity against epoch."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        # Loss sub-terms (train/lanes/dice ...) stay in results.csv and TensorBoard: a panel each made the
        # figure slow to draw at every epoch and too crowded to read.
        names = [k for k in self.rows[-1] if k not in ("epoch", "step", "val/images") and isinstance(self.rows[-1][k], (int, float))
                 and not (k.startswith("train/") and k.count("/") > 1)]
        if not names:
            return
        cols = min(4, len(names))
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
        epochs = [r["epoch"] for r in self.rows]
        for ax, name in zip(axes.flat, names):
            ax.plot(epochs, [r.get(name, float("nan")) for r in self.rows], marker="o", markersize=3)
            ax.set_title(name, fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.tight_layout()
        with atomic_path(self.out_dir / "results.png", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# (metric key, label, format) of the one line printed after each validation, in reading order.
EPOCH_LINE = (
    ("objects/map50", "objects mAP50", "{:.3f}"),
    ("objects/recall50", "R50", "{:.3f}"),
    ("pedestrians/map50", "| pedestrians AP50", "{:.3f}"),
    ("pedestrians/recall50", "R50", "{:.3f}"),
    ("pedestrians/mr2", "MR^-2", "{:.3f}"),
    ("lanes/f1", "| lanes pixel F1", "{:.3f}"),
    ("lanes/iou", "IoU", "{:.3f}"),
    ("drivable/miou", "| drivable mIoU", "{:.3f}"),
)


def epoch_line(epoch: float, epochs: int, step: int, metrics: dict[str, Any], seconds: float) -> str:
    """One line with an epoch's headline validation metrics and the wall time so far, e.g.
    `epoch 3/10 (step 120): objects mAP50 0.123 R50 0.340 | ... | drivable mIoU 0.712 | 4m05s`."""
    parts = [f"{label} {fmt.format(metrics[key])}" for key, label, fmt in EPOCH_LINE if key in metrics]
    minutes, secs = divmod(int(round(seconds)), 60)
    shown = f"{epoch:g}" if float(epoch).is_integer() else f"{epoch:.2f}"
    return f"epoch {shown}/{epochs} (step {step}): {' '.join(parts)} | {minutes}m{secs:02d}s"


def _number(text: str) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else value
