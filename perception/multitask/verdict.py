"""Does sharing pay? Shared minus separate per task, told apart from seed-to-seed noise.

A comparison (`compare.compare_tasks`) trains every model once per seed. For each task and each shared run
(one per balancer) the difference to the separate model is taken seed by seed. The noise band of a task is
the largest seed-to-seed range of its metric over the models trained with two or more seeds: what retraining
the same model with another seed moved it by. A difference is called only when its mean is outside that band
and every seed it was measured with agrees on its sign; a run trained with one seed (an expensive balancer,
say) is judged against the band the other models measured; without any model trained twice, nothing is
called. Torch-free: it reads the comparison's data.
"""

from __future__ import annotations

import statistics
from typing import Any

HELPS, HURTS, NOISE, ONE_SEED = "shared better", "shared worse", "within noise", "no band: one seed"


def _by_seed(runs: list[dict[str, Any]], name: str, task: str) -> dict[int, float]:
    return {r.get("seed", 0): r["metrics"][task] for r in runs
            if r["name"] == name and r["metrics"].get(task) is not None}


def _spread(values: dict[int, float]) -> float | None:
    return max(values.values()) - min(values.values()) if len(values) > 1 else None


def noise_band(runs: list[dict[str, Any]], task: str) -> float | None:
    """The largest seed-to-seed range of `task`'s metric over the models trained with several seeds."""
    spreads = [_spread(_by_seed(runs, name, task)) for name in dict.fromkeys(r["name"] for r in runs)]
    spreads = [x for x in spreads if x is not None]
    return max(spreads) if spreads else None


def task_verdict(runs: list[dict[str, Any]], shared_name: str, task: str) -> dict[str, Any] | None:
    """One row: the shared run `shared_name` against the separate model of `task`, over the seeds both have."""
    shared, separate = _by_seed(runs, shared_name, task), _by_seed(runs, f"separate-{task}", task)
    seeds = sorted(set(shared) & set(separate))
    if not seeds:
        return None
    shared, separate = {s: shared[s] for s in seeds}, {s: separate[s] for s in seeds}
    diffs = [shared[s] - separate[s] for s in seeds]
    band = noise_band(runs, task)
    mean = statistics.fmean(diffs)
    if band is None:
        call = ONE_SEED
    elif abs(mean) > band and (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        call = HELPS if mean > 0 else HURTS
    else:
        call = NOISE
    return {"task": task, "shared_run": shared_name, "seeds": seeds, "shared": statistics.fmean(shared.values()),
            "separate": statistics.fmean(separate.values()), "diff": mean, "diffs": diffs, "band": band, "verdict": call}


def verdict(result: dict[str, Any], curves: dict[str, list] | None = None) -> dict[str, Any]:
    """Every shared run against every separate model, the cost side, and what balancing did to a task that
    sharing hurt with fixed weights: {"rows": [...], "cost": {...}, "balancing": [...], "equal_compute": [...]}
    (the last from the runs' learning curves, `report.learning_curves`, when given)."""
    runs = result["runs"]
    shared_names = list(dict.fromkeys(r["name"] for r in runs if r["kind"] == "shared"))
    rows = [row for name in shared_names for task in result["tasks"] if (row := task_verdict(runs, name, task))]
    reference = next((n for n in shared_names if n == "shared-fixed"), shared_names[0] if shared_names else None)
    balancing = []
    for row in rows:
        if row["shared_run"] != reference or row["verdict"] != HURTS:
            continue
        for other in rows:
            if other["task"] == row["task"] and other["shared_run"] != reference:
                closed = other["verdict"] in (HELPS, NOISE)
                balancing.append({"task": row["task"], "balanced_run": other["shared_run"], "fixed_diff": row["diff"],
                                  "balanced_diff": other["diff"], "removed": closed})
    return {"reference": reference, "rows": rows, "cost": cost(result), "balancing": balancing,
            "equal_compute": equal_compute(result, curves) if curves else []}


def equal_compute(result: dict[str, Any], curves: dict[str, list]) -> list[dict[str, Any]]:
    """The other split of the budget: the separate models of a seed together get a shared run's training time,
    k steps each (k = the shared run's seconds over the sum of the separate models' seconds per step), and each
    separate model is read off its learning curve at its last validation by step k. Mid-schedule, so its learning
    rate was not yet annealed there: a run scheduled to end at k would do somewhat better. One row per shared run
    and task, each seed's k and the step read beside it; `curves` as `report.learning_curves` gives them."""
    runs = result["runs"]
    by_key = {(r["name"], r.get("seed", 0)): r for r in runs}
    points = {(task, seed, name): line for task, lines in curves.items() for seed, name, line in lines}
    rows = []
    for shared_name in dict.fromkeys(r["name"] for r in runs if r["kind"] == "shared"):
        for task in result["tasks"]:
            cells = []  # (seed, k, step read, shared metric, separate metric)
            for seed in sorted({r.get("seed", 0) for r in runs}):
                shared, separate = by_key.get((shared_name, seed)), by_key.get((f"separate-{task}", seed))
                together = [by_key.get((f"separate-{t}", seed)) for t in result["tasks"]]
                if not shared or not separate or shared["metrics"].get(task) is None or not all(together):
                    continue  # a seed without every separate model has no "together" to give the time to
                seconds_per_step = sum(r["train_seconds"] / r["steps"] for r in together)
                if not seconds_per_step:
                    continue  # a run too short for its clock to tick has no time to split
                k = shared["train_seconds"] / seconds_per_step
                if k >= separate["steps"]:
                    read = (separate["steps"], separate["metrics"][task])
                else:
                    read = next((p for p in reversed(points.get((task, seed, separate["name"]), [])) if p[0] <= k),
                                None)
                if read is not None and read[1] is not None:
                    cells.append((seed, round(k), read[0], shared["metrics"][task], read[1]))
            if cells:
                diffs = [sh - sep for _, _, _, sh, sep in cells]
                rows.append({"task": task, "shared_run": shared_name, "seeds": [c[0] for c in cells],
                             "steps": [c[1] for c in cells], "read_at": [c[2] for c in cells],
                             "shared": statistics.fmean(c[3] for c in cells),
                             "separate": statistics.fmean(c[4] for c in cells),
                             "diff": statistics.fmean(diffs), "diffs": diffs})
    return rows


def cost(result: dict[str, Any]) -> dict[str, Any]:
    """Parameters, GFLOPs, batch-1 latency and training time: each shared run against the separate models
    together (means over seeds), and separate / shared as a ratio."""
    runs = result["runs"]
    keys = ("params", "gflops", "latency_ms", "train_seconds")

    def mean_of(selected: list[dict[str, Any]]) -> dict[str, float]:
        return {k: statistics.fmean(r[k] for r in selected) for k in keys}

    seeds = sorted({r.get("seed", 0) for r in runs})
    separate_names = list(dict.fromkeys(r["name"] for r in runs if r["kind"] == "separate"))
    together = {k: statistics.fmean(sum(r[k] for r in runs if r["name"] in separate_names and r.get("seed", 0) == s)
                                    for s in seeds) for k in keys}
    shared = {name: mean_of([r for r in runs if r["name"] == name])
              for name in dict.fromkeys(r["name"] for r in runs if r["kind"] == "shared")}
    ratios = {name: {k: together[k] / v[k] for k in keys if v[k]} for name, v in shared.items()}
    return {"separate_models": separate_names, "separate_together": together, "shared": shared,
            "separate_over_shared": ratios}
