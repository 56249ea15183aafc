"""The comparison as a Markdown table and a bar chart (what `perception compare-tasks` writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perception.atomic import atomic_path


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_markdown(result: dict[str, Any], command: str | None = None, machine: str | None = None) -> str:
    cfg = result["config"]
    shared = [r for r in result["runs"] if r["kind"] == "shared"]
    separate = {r["tasks"][0]: r for r in result["runs"] if r["kind"] == "separate"}
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    budget = (f"scale {cfg['model']}, {cfg['imgsz'][0]}x{cfg['imgsz'][1]}, batch {cfg['batch']}, {cfg['max_steps']} steps per model, "
              f"lr {cfg['lr']}, seed {cfg['seed']}, device {cfg['device']}")
    if cfg.get("fraction") is not None:
        budget += f"; low-data: {cfg['fraction']:.0%} of {cfg['fraction_task']} labels kept, other tasks whole"
    lines += [f"Budget: {budget}. Wall time {result['wall_seconds'] / 60:.1f} min" + (f" on {machine}." if machine else "."), ""]
    header = ["task", "metric"] + [r["name"] for r in shared] + ["separate", "shared - separate"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in result["tasks"]:
        values = [r["metrics"].get(task) for r in shared]
        single = separate.get(task, {}).get("metrics", {}).get(task)
        delta = None if single is None or values[0] is None else values[0] - single
        lines.append("| " + " | ".join([task, result["headline"][task]] + [_fmt(v) for v in values] + [_fmt(single), _fmt(delta)]) + " |")
    lines += ["", "| model | params (M) | GFLOPs | latency ms (batch 1) | train wall s |", "|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['name']} | {r['params'] / 1e6:.3f} | {r['gflops']:.3f} | {r['latency_ms']:.1f} | {r['train_seconds']:.0f} |")
    t = result["separate_total"]
    lines.append(f"| separate, all together | {t['params'] / 1e6:.3f} | {t['gflops']:.3f} | {t['latency_ms']:.1f} | {t['train_seconds']:.0f} |")
    extra = [r for r in shared if r.get("final_weights") or r.get("gradient_monitor")]
    if extra:
        lines += ["", "| shared run | final task weights | task pairs with negative gradient cosine (last epochs) | monitor cost |",
                  "|---|---|---|---|"]
        for r in extra:
            weights = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("final_weights") or {}).items())
            monitor = r.get("gradient_monitor") or {}
            cost = (f"{monitor['ms_per_measurement']:.0f} ms each, {monitor['fraction_of_training']:.1%} of training"
                    if monitor else "off")
            pairs = ", ".join(monitor.get("negative_pairs") or []) or ("none" if monitor else "-")
            lines.append(f"| {r['name']} | {weights} | {pairs} | {cost} |")
    return "\n".join(lines) + "\n"


def write_chart(result: dict[str, Any], path: str | Path) -> Path:
    """A grouped bar chart: per task, each shared run's metric next to the separate model's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = result["tasks"]
    shared = [r for r in result["runs"] if r["kind"] == "shared"]
    separate = {r["tasks"][0]: r for r in result["runs"] if r["kind"] == "separate"}
    series = [(r["name"], [r["metrics"].get(t) or 0.0 for t in tasks]) for r in shared]
    series.append(("separate", [separate[t]["metrics"].get(t) or 0.0 if t in separate else 0.0 for t in tasks]))
    x = np.arange(len(tasks))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(tasks), 3.2))
    for i, (name, values) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [f"{t}\n{result['headline'][t]}" for t in tasks], fontsize=8)
    ax.set_ylabel("validation metric", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
