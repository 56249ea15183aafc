"""One validation metric against optimizer steps for several runs, from their results.csv, as one PNG.

For runs that no single report joins, e.g. `perception compare-tasks` runs beside a `perception train` run of
a variant (docs/multitask.md, the low-data remedy):

    python tools/measurements/curves.py --metric val/objects/map50 --out curves.png \
        "shared, seed 0=runs/cmp/shared-fixed-seed0/results.csv" "label_share 0.5=runs/share/results.csv"
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_curve(path: Path, metric: str, every: int = 0) -> tuple[list[float], list[float]]:
    """(steps, values) of the rows that hold the metric (validated epochs only). every: keep only steps that are
    multiples of it, and the last row (results.csv written before session 8 repeated the last validation's values
    on every epoch between validations)."""
    steps, values = [], []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
        for i, row in enumerate(rows):
            if every and float(row["step"]) % every and i != len(rows) - 1:
                continue
            if row.get(metric) not in (None, ""):
                steps.append(float(row["step"]))
                values.append(float(row[metric]))
    if not steps:
        raise SystemExit(f"{path}: no column {metric!r} with values")
    return steps, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=PATH/results.csv")
    parser.add_argument("--metric", required=True, help="a results.csv column, e.g. val/objects/map50")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default=None)
    parser.add_argument("--every", type=int, default=0, help="keep only steps that are multiples of this (old files)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for spec in args.runs:
        label, _, path = spec.partition("=")
        steps, values = read_curve(Path(path), args.metric, args.every)
        ax.plot(steps, values, marker=".", label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(args.metric)
    ax.set_title(args.title or args.metric, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(args.out)


if __name__ == "__main__":
    main()
