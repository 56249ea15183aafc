"""The comparison as Markdown (verdict, cost, gradient monitor), a bar chart and learning curves: what
`perception compare-tasks` writes."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

from perception.atomic import atomic_path
from perception.multitask.verdict import verdict


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def _budget(result: dict[str, Any]) -> str:
    cfg = result["config"]
    seeds = cfg.get("seeds", [cfg.get("seed", 0)])
    text = (f"scale {cfg['model']}, {cfg['imgsz'][0]}x{cfg['imgsz'][1]}, batch {cfg['batch']}, {cfg['max_steps']} steps per "
            f"model (equal images per model), lr {cfg['lr']}, seeds {','.join(map(str, seeds))}, device {cfg['device']}")
    if cfg.get("fraction") is not None:
        from perception.multitask.compare import separate_low_data

        text += (f"; low-data: {cfg['fraction']:.0%} of {cfg['fraction_task']} labels kept, other tasks whole; the "
                 f"separate {cfg['fraction_task']} model trained on {separate_low_data(cfg, result.get('separate_low_data'))}")
        for name, share in dict.fromkeys((r["name"], r["label_share"]) for r in result["runs"] if r.get("label_share")):
            text += f"; {name} drew the images that kept them at {share:.0%} of every epoch (label_share)"
    return text


def render_markdown(result: dict[str, Any], command: str | None = None, machine: str | None = None) -> str:
    judged = result.get("verdict") or verdict(result, learning_curves(result))  # compare-tasks judged it already
    lines = [f"Command: `{command}`", ""] if command else []
    lines += [f"Budget: {_budget(result)}. Wall time {result['wall_seconds'] / 60:.1f} min"
              + (f" on {machine}." if machine else "."), ""]
    lines += _verdict_table(result, judged) + [""] + _cost_table(result, judged) + _equal_compute_table(result, judged)
    lines += _monitor_table(result, judged)
    return "\n".join(lines) + "\n"


def _verdict_table(result: dict[str, Any], judged: dict[str, Any]) -> list[str]:
    lines = ["Shared minus separate per task, mean over seeds; noise band: the largest seed-to-seed range of the task's "
             "metric among the models trained with several seeds; a difference is called only outside it, every seed "
             "agreeing.", "",
             "| task | metric | shared run | shared | separate | shared - separate | per seed | noise band | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in judged["rows"]:
        lines.append(f"| {row['task']} | {result['headline'][row['task']]} | {row['shared_run']} | {_fmt(row['shared'])} | "
                     f"{_fmt(row['separate'])} | **{_signed(row['diff'])}** | {', '.join(_signed(d) for d in row['diffs'])} | "
                     f"{'±' + _fmt(row['band']) if row['band'] is not None else '-'} | {row['verdict']} |")
    return lines


def _cost_table(result: dict[str, Any], judged: dict[str, Any]) -> list[str]:
    cost = judged["cost"]
    lines = ["| model | params (M) | GFLOPs | latency ms (batch 1, mean over seeds) | train wall s (mean over seeds) |",
             "|---|---|---|---|---|"]
    names = list(dict.fromkeys(r["name"] for r in result["runs"]))
    for name in names:
        runs = [r for r in result["runs"] if r["name"] == name]
        latency = statistics.fmean(r["latency_ms"] for r in runs)  # each comparison measured its own
        lines.append(f"| {name} | {runs[0]['params'] / 1e6:.3f} | {runs[0]['gflops']:.3f} | {latency:.1f} | "
                     f"{statistics.fmean(r['train_seconds'] for r in runs):.0f} |")
    if not cost["separate_models"] or not cost["shared"]:  # one part of a comparison (--no-separate, --only): its
        return lines  # models alone, nothing to add up against until --merge puts the parts together
    t = cost["separate_together"]
    # a low-data comparison trains the scarce task's separate model alone: its sum is not "four models"
    heads = {task for r in result["runs"] if r["kind"] == "shared" for task in r["tasks"]}
    every_task = len(cost["separate_models"]) >= len(heads)
    label = "separate, all together" if every_task else f"separate trained ({', '.join(cost['separate_models'])})"
    ratio_label = "separate together" if every_task else "separate trained"
    lines.append(f"| {label} | {t['params'] / 1e6:.3f} | {t['gflops']:.3f} | {t['latency_ms']:.1f} | "
                 f"{t['train_seconds']:.0f} |")
    for name, ratio in cost["separate_over_shared"].items():
        lines.append(f"| {ratio_label} / {name} | {ratio.get('params', 0):.2f}x | {ratio.get('gflops', 0):.2f}x | "
                     f"{ratio.get('latency_ms', 0):.2f}x | {ratio.get('train_seconds', 0):.2f}x |")
    if not every_task:
        lines += ["", "Only the scarce task's separate model was trained, so these ratios are not the cost of one "
                  "model per task: a full comparison (without --fraction) measures that."]
    return lines


def _equal_compute_table(result: dict[str, Any], judged: dict[str, Any]) -> list[str]:
    rows = judged.get("equal_compute") or []
    if not rows:
        return []
    equal_images = {(r["shared_run"], r["task"]): r["diff"] for r in judged["rows"]}
    lines = ["", "At equal compute (the other split of the budget): the separate models of a seed together get the "
             "shared run's training time, k steps each, each read off its learning curve at its last validation by "
             "step k (mid-schedule: its learning rate not yet annealed). Training times are as measured: a run that "
             "shared the cores with other work, or ran on another machine, shifts k.", "",
             "| task | metric | shared run | shared | separate at k steps | shared - separate | per seed | k (step read) | "
             "at equal images |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        images = equal_images.get((row["shared_run"], row["task"]))
        story = "-" if images is None else f"{_signed(images)}, " + (
            "the same sign" if (images > 0) == (row["diff"] > 0) else "the other sign")
        steps = ", ".join(f"{k} ({at})" for k, at in zip(row["steps"], row["read_at"]))
        lines.append(f"| {row['task']} | {result['headline'][row['task']]} | {row['shared_run']} | {_fmt(row['shared'])} | "
                     f"{_fmt(row['separate'])} | **{_signed(row['diff'])}** | {', '.join(_signed(d) for d in row['diffs'])} | "
                     f"{steps} | {story} |")
    return lines


def _monitor_table(result: dict[str, Any], judged: dict[str, Any]) -> list[str]:
    shared = [r for r in result["runs"] if r["kind"] == "shared" and (r.get("final_weights") or r.get("gradient_monitor"))]
    lines = []
    if shared:
        lines += ["", "| shared run | seed | final task weights | task pairs with negative gradient cosine (last epochs) | "
                  "monitor cost |", "|---|---|---|---|---|"]
        for r in shared:
            weights = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("final_weights") or {}).items())
            monitor = r.get("gradient_monitor") or {}
            cost = (f"{monitor['ms_per_measurement']:.0f} ms each, {monitor['fraction_of_training']:.1%} of training"
                    if monitor else "off")
            pairs = ", ".join(monitor.get("negative_pairs") or []) or ("none" if monitor else "-")
            lines.append(f"| {r['name']} | {r.get('seed', 0)} | {weights} | {pairs} | {cost} |")
    for item in judged["balancing"]:
        lines += ["", f"Sharing with fixed weights cost {item['task']} {item['fixed_diff']:+.3f}; {item['balanced_run']} "
                  f"{'removed that loss' if item['removed'] else 'did not remove it'} ({item['balanced_diff']:+.3f})."]
    return lines


def write_chart(result: dict[str, Any], path: str | Path) -> Path:
    """A grouped bar chart: per task, each shared run's metric next to the separate model's (means over seeds,
    the bar's whisker spanning the seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = result["tasks"]
    names = [n for n in dict.fromkeys(r["name"] for r in result["runs"] if r["kind"] == "shared")] + ["separate"]

    def values(name: str, task: str) -> list[float]:
        run_name = f"separate-{task}" if name == "separate" else name
        return [r["metrics"][task] or 0.0 for r in result["runs"] if r["name"] == run_name and task in r["metrics"]] or [0.0]

    x = np.arange(len(tasks))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(tasks), 3.2))
    for i, name in enumerate(names):
        per_task = [values(name, t) for t in tasks]
        means = [statistics.fmean(v) for v in per_task]
        spans = np.array([[m - min(v) for m, v in zip(means, per_task)], [max(v) - m for m, v in zip(means, per_task)]])
        ax.bar(x + (i - (len(names) - 1) / 2) * width, means, width, yerr=spans, capsize=2, label=name)
    ax.set_xticks(x, [f"{t}\n{result['headline'][t]}" for t in tasks], fontsize=8)
    ax.set_ylabel("validation metric", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def learning_curves(result: dict[str, Any]) -> dict[str, list[tuple[int, str, list[tuple[int, float]]]]]:
    """Per task: (seed, run name, [(step, metric), ...]) read from each run's results.csv, for the runs
    whose folder is still there."""
    from perception.multitask.compare import HEADLINE

    curves: dict[str, list] = {t: [] for t in result["tasks"]}
    for run in result["runs"]:
        path = Path(run["out"]) / "results.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for task in run["tasks"]:
            column = f"val/{HEADLINE[task][0]}"
            points = [(int(float(r["step"])), float(r[column])) for r in rows if r.get(column) not in (None, "")]
            if task in curves and points:
                curves[task].append((run.get("seed", 0), run["name"], points))
    return curves


def write_curves(result: dict[str, Any], path: str | Path) -> Path | None:
    """Each task's validation metric against optimizer steps, one colour per model, one line style per seed."""
    curves = learning_curves(result)
    if not any(curves.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in result["tasks"] if curves[t]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 2.8), squeeze=False)
    colours: dict[str, Any] = {}
    styles = ["-", "--", ":", "-."]
    seeds = sorted({seed for lines in curves.values() for seed, _, _ in lines})
    for ax, task in zip(axes[0], tasks):
        for seed, name, points in curves[task]:
            label = "separate" if name.startswith("separate-") else name
            colour = colours.setdefault(label, f"C{len(colours)}")
            steps, metric = zip(*points)
            ax.plot(steps, metric, styles[seeds.index(seed) % len(styles)], color=colour, marker=".",
                    label=f"{label}, seed {seed}")
        ax.set_title(f"{task} {result['headline'][task]}", fontsize=8)
        ax.set_xlabel("optimizer step", fontsize=7)
        ax.tick_params(labelsize=7)
    # one legend for every line of every panel (a separate model draws in its own task's panel only)
    legend = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())}
    axes[0][0].legend(legend.values(), legend.keys(), fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
