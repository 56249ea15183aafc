"""tools/gpu_check.py's converge suite (`--suite converge`): the synthetic-world model trained for what the
budget leaves, evaluated on held-out data, exported, released and timed. One function per step, in order.

    python tools/gpu_check.py --suite converge --out DIR                       # on the GPU, --budget 585 s
    python tools/gpu_check.py --suite converge --device cpu --quick --out DIR  # its CPU dry run (tests/tools)

The two timing steps come first and are optional: the orchestrator runs them only when the required steps
after them still fit in --budget. Training then takes every second the steps after it do not need (their
`seconds` and a margin for the trainer's own last validation), so one budget sizes the whole call. The held-out split is rendered with
a seed the training set never used, so `perception eval` on it measures the synthetic world, not the images
that were seen. DIR/work/converge is the run (results.csv, results.png, weights/); DIR/work/synthetic_SCALE.pt is
the checkpoint reduced to float16 weights with its card beside it (`perception release --half --card --eval`):
what weights/ commits.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from gpu_check_core import STEPS, Skip, StepContext, check, cli, seconds_left, step

TRAIN_SEED, HELDOUT_SEED = 11, 777  # docs/benchmarks.md's convention: training never sees seed 777
# What `train --time` does not count: its set-up (indexing the labels: 2,700 files took 2.8 s on one CPU thread,
# so ~20 s for 20,000), and after the budget best.pt's revalidation and results.png
TRAIN_MARGIN_S = 60


@dataclass(frozen=True)
class ConvergeSizes:
    model: str
    imgsz: tuple[int, int]
    batch: int
    lr: float
    workers: int
    train_images: int
    train_val_fraction: float  # the trainer's own per-epoch validation split
    heldout_images: int  # rendered with HELDOUT_SEED; half of them form its val split, which eval reads
    min_train_s: float
    max_train_s: float  # inf: all the budget leaves (the dry run caps it)
    eval_batch: int
    bench_batches: tuple[int, ...]  # training throughput (the check's throughput step has the largest)
    bench_steps: int
    infer_batches: tuple[int, ...]


FULL = ConvergeSizes(model="s", imgsz=(384, 640), batch=64, lr=0.006, workers=14, train_images=20_000,
                     train_val_fraction=0.02, heldout_images=1_000, min_train_s=300, max_train_s=math.inf, eval_batch=32, bench_batches=(32, 64),
                     bench_steps=30, infer_batches=(1, 32))
QUICK = ConvergeSizes(model="n", imgsz=(64, 128), batch=2, lr=0.006, workers=0, train_images=16, train_val_fraction=0.25,
                      heldout_images=8, min_train_s=4, max_train_s=8, eval_batch=2, bench_batches=(2,), bench_steps=3, infer_batches=(1, 2))


def sizes(ctx: StepContext) -> ConvergeSizes:
    return QUICK if ctx.quick else FULL


def trained(ctx: StepContext) -> dict:
    """paths(ctx), once converge_train has left a best.pt (else the step skips: its failure is reported once)."""
    p = paths(ctx)
    if not p["best"].is_file():
        raise Skip(f"no trained model ({p['best']}): converge_train failed or did not run")
    return p


def paths(ctx: StepContext) -> dict:
    work = ctx.work
    return {"train": work / "converge_data", "heldout": work / "heldout", "run": work / "converge",
            "best": work / "converge" / "weights" / "best.pt", "release": work / f"synthetic_{sizes(ctx).model}.pt",
            "onnx": work / "model.onnx"}


def converge_step(what: str, seconds: float, **kwargs):
    return step(what, seconds, suite="converge", **kwargs)


@converge_step("perception synth: the training set (seed 11) and a held-out set (seed 777) on every core", seconds=45,
               timeout=600)
def converge_data(ctx: StepContext) -> dict:
    s, p = sizes(ctx), paths(ctx)
    cores = str(os.cpu_count() or 1)
    train = cli(["synth", "--out", str(p["train"]), "--num", str(s.train_images), "--seed", str(TRAIN_SEED), "--imgsz",
                 *map(str, s.imgsz), "--val-fraction", str(s.train_val_fraction), "--workers", cores, "--no-progress"],
                ctx.work / "synth_train.json")
    heldout = cli(["synth", "--out", str(p["heldout"]), "--num", str(s.heldout_images), "--seed", str(HELDOUT_SEED),
                   "--imgsz", *map(str, s.imgsz), "--val-fraction", "0.5", "--workers", cores, "--no-progress"],
                  ctx.work / "synth_heldout.json")
    return {"train_images": train["images"], "heldout_images": heldout["images"],
            "images_per_second": train["images_per_second"]}


@converge_step("training throughput at each bench batch (`perception bench --train`, bf16, on the converge data)",
               seconds=60, timeout=600, optional=True)
def converge_throughput(ctx: StepContext) -> dict:
    s, p = sizes(ctx), paths(ctx)
    figures = {}
    for batch in s.bench_batches:
        result = cli(["bench", "--train", "--model", s.model, "--imgsz", *map(str, s.imgsz), "--batch", str(batch), "--amp",
                      "bf16", "--device", ctx.device, "--workers", str(ctx.workers(s.workers)), "--steps", str(s.bench_steps),
                      "--data", str(p["train"]), "--out", str(ctx.work / f"bench_train_b{batch}")],
                     ctx.work / f"bench_train_b{batch}.json")
        figures[f"b{batch}"] = {"images_per_second": result["images_per_second"],
                                "step_alone_images_per_second": result["step_images_per_second"],
                                "loader_images_per_second": result["loader_images_per_second"],
                                "data_wait_share": result["data_wait_share"], "peak_memory_mb": result.get("peak_memory_mb")}
    return figures


@converge_step("inference images/s of the architecture: PyTorch fp32 and bf16 at batch 1 and 32 (`perception bench`)",
               seconds=60, timeout=600, optional=True)
def converge_inference(ctx: StepContext) -> dict:
    s = sizes(ctx)
    # the untrained model of the same scale: speed depends on the architecture, and timing it before training
    # lets the budget drop this step rather than cut the training
    result = cli(["bench", "--model", s.model, "--imgsz", *map(str, s.imgsz), "--batch", *map(str, s.infer_batches),
                  "--torch-amp", "off", "bf16", "--providers", "cpu", "--no-video", "--runs", "10", "--warmup", "3",
                  "--out", str(ctx.work / "bench_infer")], ctx.work / "bench_infer.json")
    rows = [r for r in result["rows"] if r["runtime"] == "torch" and r["model"] != result["baseline"]["name"]]
    check(rows, "no PyTorch rows in the bench")
    return {f"{r['precision']}_b{r['batch']}": r["model_only"]["throughput_img_s"] for r in rows}


@converge_step("perception train for what the budget leaves (bf16, the trainer's --time), validating every epoch",
               seconds=360, timeout=86_400)  # seconds: FULL's minimum training and TRAIN_MARGIN_S
def converge_train(ctx: StepContext) -> dict:
    s, p = sizes(ctx), paths(ctx)
    names = [n for n, st in STEPS.items() if st.suite == "converge"]
    after = sum(STEPS[n].seconds for n in names[names.index("converge_train") + 1:])
    budget = min(seconds_left(reserve=after + (TRAIN_MARGIN_S if not ctx.quick else 0)), s.max_train_s)
    if math.isinf(budget):  # run alone (--run-step) outside the orchestrator: no budget to fill
        budget = s.min_train_s
    check(budget >= s.min_train_s, f"{budget:.0f} s left for training, under the {s.min_train_s:.0f} s minimum: "
          f"raise --budget (the steps after it need ~{after:.0f} s)")
    result = cli(["train", "--data", str(p["train"]), "--model", s.model, "--imgsz", *map(str, s.imgsz), "--batch",
                  str(s.batch), "--lr", str(s.lr), "--amp", "bf16", "--device", ctx.device, "--workers",
                  str(ctx.workers(s.workers)), "--time", f"{budget / 3600:.6f}", "--val-period", "1", "--out",
                  str(p["run"]), "--quiet"], ctx.work / "train.json")
    check(p["best"].is_file(), f"{p['best']}: the run wrote no best.pt")
    return {"time_budget_s": round(budget, 1), "steps": result.get("steps"), "epochs": result.get("epochs"),
            "images_per_second": result.get("images_per_second"), "wall_s": result.get("seconds"),
            "val_metrics": result.get("val_metrics"), "best_epoch": (result.get("best_model") or {}).get("epoch")}


@converge_step("perception eval of best.pt on the held-out split (seed 777, never trained on)", seconds=30, timeout=600)
def converge_eval(ctx: StepContext) -> dict:
    s, p = sizes(ctx), trained(ctx)
    result = cli(["eval", "--model", str(p["best"]), "--data", str(p["heldout"]), "--split", "val", "--device", ctx.device,
                  "--batch", str(s.eval_batch), "--out", str(ctx.work / "eval")], ctx.work / "eval.json")
    keep = ("num_images", "map50", "map50_95", "recall50", "mr2_reasonable", "ped_ap50_reasonable", "culane_f1", "lane_iou",
            "drivable_miou")
    return {k: result["metrics"].get(k) for k in keep}


@converge_step("export best.pt to ONNX (parity against PyTorch) and release it (weights only, what weights/ commits)",
               seconds=30, timeout=600)
def converge_export(ctx: StepContext) -> dict:
    p = trained(ctx)
    export = cli(["export", "--model", str(p["best"]), "--out", str(p["onnx"]), "--threads", str(os.cpu_count() or 1)],
                 ctx.work / "export.json")
    evaluation = ctx.work / "eval.json"  # converge_eval's summary, which the model card quotes
    release = cli(["release", "--model", str(p["best"]), "--out", str(p["release"]), "--half", "--card",
                   *(["--eval", str(evaluation)] if evaluation.is_file() else [])], ctx.work / "release.json")
    parity = export["parity"].items()
    return {"onnx_mb": round(p["onnx"].stat().st_size / 2**20, 2),
            "parity_max_abs_diff": {tag: max(v["max_abs_diff"].values(), default=0.0) for tag, v in parity},
            "parity_max_rel_diff": {tag: max(v["max_rel_diff"].values(), default=0.0) for tag, v in parity},
            "release_mb": release["out_mb"], "checkpoint_mb": release["source_mb"], "card": release.get("card")}
