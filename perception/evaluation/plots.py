"""Report figures with matplotlib's Agg backend (no display needed): PR, miss rate/FPPI, confusion."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from perception.atomic import atomic_path


def _save(fig, path: Path) -> Path:
    """Save atomically (temp + rename) so a reader never sees half a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_pr_curves(per_class: dict, path: Path, title: str = "Precision-recall at IoU 0.5") -> Path:
    """One interpolated (101-point) PR curve per class; legend shows AP50."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, item in per_class.items():
        curve = item["pr_curve"]
        ax.plot(curve["recall"], curve["precision"], label=f"{name} {item['ap50']:.3f}")
    mean = np.mean([v["ap50"] for v in per_class.values()]) if per_class else 0.0
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title=f"{title} (mAP50 {mean:.3f})")
    ax.grid(alpha=0.3)
    if per_class:
        ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def plot_miss_rate(pedestrians: dict, path: Path) -> Path:
    """Miss rate against FPPI (log-log) for each CityPersons setup, legend shows MR^-2."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, item in pedestrians.items():
        if not isinstance(item, dict) or "curve" not in item:
            continue
        fppi = np.maximum(np.asarray(item["curve"]["fppi"]), 1e-4)
        ax.step(fppi, item["curve"]["miss_rate"], where="post", label=f"{name} MR-2 {100 * item['mr2']:.2f}%")
    ax.axvspan(1e-2, 1.0, color="grey", alpha=0.08)
    ax.set(xscale="log", yscale="log", xlabel="false positives per image", ylabel="miss rate",
           xlim=(1e-3, 1e1), ylim=(0.01, 1.0), title="Pedestrians: miss rate vs FPPI")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion(names: list[str], matrix: list[list[int]], path: Path) -> Path:
    """Row-normalised confusion matrix (rows true class, columns predicted), counts in the cells."""
    counts = np.asarray(matrix, np.float64)
    norm = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(names), 0.8 + 0.6 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="Detections matched at IoU 0.5")
    for i in range(len(names)):
        for j in range(len(names)):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    return _save(fig, path)

