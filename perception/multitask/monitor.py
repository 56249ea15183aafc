"""Negative transfer, watched: how each task's gradient on the shared encoder relates to the others'.

Every `period` steps the training step hands over one (weighted) gradient per task, flattened over the
encoder's parameters; this records pairwise cosine similarity (below 0: the tasks pull the shared weights
in opposing directions) and norm ratios (far from 1: one loss drowns the other). Per-step values go to
TensorBoard, per-epoch means to results.csv, the curves to `task_gradients.png`, and the summary names the
pairs whose mean cosine stayed negative over the last epochs.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import torch

from perception.atomic import atomic_path

NEGATIVE_EPOCHS = 3  # a pair is reported when its epoch-mean cosine was < 0 in each of the last this many


def pair_name(a: str, b: str) -> str:
    return f"{a}~{b}"


def gradient_statistics(grads: torch.Tensor, tasks: list[str]) -> dict[str, float]:
    """grads: (K, P) one gradient per task -> {gradcos/a~b, gradratio/a~b (|g_a|/|g_b|), gradnorm/a}."""
    grads = grads.double()
    norms = grads.norm(dim=1)
    unit = grads / norms.clamp_min(1e-30)[:, None]
    cos = unit @ unit.T
    stats = {f"gradnorm/{t}": float(n) for t, n in zip(tasks, norms)}
    for i, j in combinations(range(len(tasks)), 2):
        name = pair_name(tasks[i], tasks[j])
        stats[f"gradcos/{name}"] = float(cos[i, j])
        stats[f"gradratio/{name}"] = float(norms[i] / norms[j].clamp_min(1e-30))
    return stats


class GradientMonitor:
    def __init__(self, period: int) -> None:
        self.period = int(period)
        self.records: list[tuple[int, dict[str, float]]] = []  # (step, stats)
        self.epochs: list[dict[str, float]] = []  # per-epoch means of the cosines
        self._epoch_start = 0
        self.seconds = 0.0  # wall time spent measuring: the stated cost
        self.measurements = 0

    def due(self, step: int) -> bool:
        return self.period > 0 and step % self.period == 0

    # A resumed run keeps what was measured before the interruption (its curve, summary and cost), so the monitor's
    # state travels in last.pt; plain lists, dicts and numbers, which torch.load(weights_only=True) reads.
    def state_dict(self) -> dict[str, Any]:
        return {"records": [[step, dict(stats)] for step, stats in self.records],
                "epochs": [dict(e) for e in self.epochs], "epoch_start": self._epoch_start, "seconds": self.seconds, "measurements": self.measurements}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records = [(int(step), dict(stats)) for step, stats in state["records"]]
        self.epochs = [dict(e) for e in state["epochs"]]
        self._epoch_start = int(state["epoch_start"])
        self.seconds = float(state["seconds"])
        self.measurements = int(state["measurements"])

    def record(self, step: int, grads: torch.Tensor, tasks: list[str], seconds: float) -> dict[str, float]:
        stats = gradient_statistics(grads, tasks)
        self.records.append((step, stats))
        self.seconds += seconds
        self.measurements += 1
        return stats

    def epoch_row(self) -> dict[str, float]:
        """Means of every statistic measured since the previous call (one results.csv row)."""
        recent = [s for _, s in self.records[self._epoch_start :]]
        self._epoch_start = len(self.records)
        if not recent:
            return {}
        names = {k for s in recent for k in s}
        row = {k: sum(s[k] for s in recent if k in s) / sum(1 for s in recent if k in s) for k in sorted(names)}
        self.epochs.append({k: v for k, v in row.items() if k.startswith("gradcos/")})
        return row

    def negative_pairs(self, last: int = NEGATIVE_EPOCHS) -> list[str]:
        """Pairs whose epoch-mean cosine was negative in each of the last `last` measured epochs."""
        recent = self.epochs[-last:]
        if not recent:
            return []
        pairs = set.intersection(*(set(e) for e in recent))
        return sorted(k.split("/", 1)[1] for k in pairs if all(e[k] < 0 for e in recent))

    def summary(self, train_seconds: float) -> dict[str, Any]:
        return {
            "period": self.period,
            "measurements": self.measurements,
            "seconds": round(self.seconds, 3),
            "ms_per_measurement": round(1000 * self.seconds / max(self.measurements, 1), 2),
            "fraction_of_training": round(self.seconds / max(train_seconds, 1e-9), 4),
            "negative_pairs": self.negative_pairs(),
            "final_epoch_cosines": self.epochs[-1] if self.epochs else {},
        }

    def plot(self, path: str | Path) -> None:
        """task_gradients.png: cosine per task pair and norm ratio per pair against the step."""
        if not self.records:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [s for s, _ in self.records]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        for prefix, ax, title in (("gradcos/", axes[0], "cosine of task gradients on the encoder"),
                                  ("gradratio/", axes[1], "gradient norm ratio |g_a| / |g_b|")):
            names = sorted({k for _, s in self.records for k in s if k.startswith(prefix)})
            for name in names:
                ax.plot(steps, [s.get(name, float("nan")) for _, s in self.records], label=name[len(prefix):], lw=1)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0].axhline(0.0, color="k", lw=0.6)
        axes[1].set_yscale("log")
        axes[0].legend(fontsize=6, ncol=2)
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
