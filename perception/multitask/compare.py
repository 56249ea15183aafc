"""Does one shared encoder serve the tasks better than one model per task? Train both and measure.

Every model of a comparison gets the same data, scale, input size, seed, batch, learning rate and step
budget, and is scored by the trainer's own validator (`perception.engine.validate`) on the same split.
The shared model may be trained once per balancer; the separate models are the same network with one head
enabled. Low-data setting: `fraction` of one task's training labels kept (the others whole), where
sharing is supposed to help most; then only that task's separate model is trained, on the images that kept
its labels (the shared models see every image, with that task's labels masked on the others).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from perception.config import BALANCING_MODES, TASKS, ConfigBase, ConfigError, ModelConfig, check_at_least, option

if TYPE_CHECKING:
    import torch

# Task -> (validator metric, its name in the table). Each is the head's term in the trainer's `fitness`.
HEADLINE = {
    "objects": ("objects/map50", "mAP50"),
    "pedestrians": ("pedestrians/map50", "mAP50"),
    "lanes": ("lanes/iou", "lane IoU"),
    "drivable": ("drivable/miou", "mIoU"),
}


@dataclass
class CompareConfig(ConfigBase):
    """One comparison: every model gets these data, scale, input size, seed, batch, learning rate and step budget.
    Fields with help text are `perception compare-tasks`'s flags (cli/common.add_config_flags)."""

    data: str = option("datasets/synthetic.yaml", "dataset YAML or directory")
    model: str = option("n", "scale n|s|m or a model YAML")
    imgsz: tuple[int, int] = option((128, 224), "input size")
    max_steps: int = option(300, "optimizer steps per model")
    batch: int = option(8, "images per step")
    lr: float = option(2e-3, "learning rate")
    seeds: list[int] = option(default_factory=lambda: [0], help="random seeds: every model is trained once per seed "
                              "(two or more give each shared-minus-separate difference a noise band)")
    tasks: list[str] = option(default_factory=lambda: list(TASKS), help="comma-separated heads to compare")
    balancers: list[str] = option(default_factory=lambda: ["fixed"], flag="--balancing",
                                  help=f"comma-separated balancers for the shared model, side by side "
                                  f"({', '.join(BALANCING_MODES)})")
    fraction: float | None = option(None, "low-data setting: keep this share of --fraction-task's training labels "
                                    "(others whole)")
    fraction_task: str = option("lanes", "the task whose labels --fraction thins")
    # The low-data remedy measured in docs/multitask.md; its shared runs are named apart (shared-fixed-share50), so a
    # comparison with it merges with one without it: the plain shared runs need not be trained again.
    label_share: float | None = option(None, "low-data remedy: the shared runs draw the images that kept "
                                       "--fraction-task's labels at this share of every epoch (needs --fraction)")
    grad_monitor: int = option(0, "measure task-gradient cosines every N steps in the shared runs (0 = off)",
                               metavar="N")
    separate: bool = option(True, "train the single-task models (--no-separate: the shared runs only, e.g. another "
                            "seed of an expensive balancer, to --merge with a comparison that has them)")
    # A comparison too long for one machine or session is split by model: each part trains some of the plan with
    # the same settings, and --merge puts the parts together (it refuses a model trained twice with one seed).
    only: list[str] = option(default_factory=list, help="train only these models of the plan, by their report names "
                             "(e.g. separate-lanes,separate-drivable): one part of a comparison split over machines or "
                             "sessions, to --merge with the others (default: every model)", metavar="NAME,NAME")
    # A learning curve per model costs a validation per epoch; the verdict needs only the last one.
    val_period: int = option(0, "epochs between validations, for each run's learning curve (0 = at the end only)",
                             metavar="N")
    out: str = option("runs/compare", "folder for the runs and the report")
    device: str = option("cpu", "cpu|cuda|cuda:N")
    workers: int = option(2, "data loader workers per run")
    latency_runs: int = 30

    SECTION: ClassVar[str] = "compare"

    def validate(self) -> None:
        def fail(name: str, message: str) -> None:
            raise ConfigError(f"compare.{name}: {getattr(self, name)!r} {message}")

        if len(set(self.tasks)) < 2 or any(t not in TASKS for t in self.tasks):
            fail("tasks", f"must be two or more of {list(TASKS)} (a shared model shares an encoder between heads)")
        if not self.balancers or any(b not in BALANCING_MODES for b in self.balancers):
            fail("balancers", f"must each be one of {list(BALANCING_MODES)}")
        if self.fraction is not None:
            if not 0 < self.fraction <= 1:
                fail("fraction", "must be in (0, 1]")
            if self.fraction_task not in self.tasks:
                fail("fraction_task", f"is not one of the compared tasks {self.tasks}")
        if self.label_share is not None and (self.fraction is None or not 0 < self.label_share < 1):
            fail("label_share", "needs --fraction and must be in (0, 1)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            fail("seeds", "must be one or more different seeds")
        check_at_least(self, 1, "max_steps", "batch", "latency_runs")
        check_at_least(self, 0, "grad_monitor", "workers", "val_period")
        unknown = [name for name in self.only if name not in [m[0] for m in self.models()]]
        if unknown:
            fail("only", f"names {', '.join(unknown)}, not one of this comparison's models "
                 f"({', '.join(m[0] for m in self.models())})")

    def single_tasks(self) -> list[str]:
        """The tasks that get a separate model: each one, or only the scarce one in the low-data setting."""
        return [self.fraction_task] if self.fraction is not None else list(self.tasks)

    def models(self) -> list[tuple[str, list[str], str]]:
        """The models of one seed, in training order: (report name, heads, balancer)."""
        shared = [(shared_name(b, self.label_share), list(self.tasks), b) for b in self.balancers]
        return shared + [(f"separate-{t}", [t], "fixed") for t in self.single_tasks() if self.separate]


def latencies_ms(models: dict[str, torch.nn.Module], imgsz: tuple[int, int], runs: int, device: str = "cpu") -> dict[str, float]:
    """Median forward time of one image (batch 1, eval, no grad) per model, in milliseconds.

    The models take turns, one forward each per round, so a load change on a shared machine hits all of
    them alike instead of whichever happened to be measured at the time."""
    import torch

    x = torch.zeros(1, 3, *imgsz, device=device)
    models = {name: m.eval().to(device) for name, m in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for i in range(runs + 3):
            for name, model in models.items():
                tick = time.perf_counter()
                model(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                if i >= 3:  # the first calls allocate and warm caches
                    times[name].append(1000 * (time.perf_counter() - tick))
    return {name: statistics.median(t) for name, t in times.items()}


# The TrainConfig fields run_train_config derives from the comparison: a resumed model must have been trained with them.
_RUN_SETTINGS = ("data", "model", "imgsz", "batch", "lr", "seed", "balancing", "val_period", "warmup_epochs",
                 "grad_monitor_period", "label_fraction", "label_share", "label_subset")


def run_train_config(name: str, heads: list[str], balancing: str, seed: int, cfg: CompareConfig):
    """The TrainConfig of one model of the comparison."""
    from perception.engine.train_config import TrainConfig

    shared = len(heads) > 1
    # The separate model of a scarce task trains on its labelled images alone (below), so its epochs are 1/fraction
    # as long as the shared model's: the settings counted in epochs stretch by as much, to fall on the same steps
    # (the same warm-up, validations at the same steps: else 0.1 validates ten times as often and warms up a tenth).
    stretch = 1.0 / cfg.fraction if cfg.fraction and not shared else 1.0
    return TrainConfig(
        data=cfg.data, model=cfg.model, imgsz=cfg.imgsz, epochs=cfg.max_steps, max_steps=cfg.max_steps, batch=cfg.batch,
        lr=cfg.lr, seed=seed, balancing=balancing, out=str(Path(cfg.out) / run_folder(name, seed, cfg.seeds)), exist_ok=True,
        device=cfg.device, workers=cfg.workers, save_period=0,
        val_period=max(1, round(cfg.val_period * stretch)) if cfg.val_period else 10**6,  # 0: once, at the end
        warmup_epochs=TrainConfig.warmup_epochs * stretch,
        grad_monitor_period=cfg.grad_monitor if shared else 0,
        label_fraction={cfg.fraction_task: cfg.fraction} if cfg.fraction is not None else {},
        label_share={cfg.fraction_task: cfg.label_share} if cfg.label_share is not None and shared else {},
        # a separate model of the scarce task trains on its labelled images alone: masked ones would only waste
        # its steps, while the shared model still learns the other tasks from them
        label_subset=not shared,
    )


# Files of a comparison that make it resumable: its settings (OUT/), and each finished model's row (OUT/<run>/).
CONFIG_FILE, RUN_FILE = "compare_config.json", "compare_run.json"


def _train_one(name: str, heads: list[str], balancing: str, seed: int, cfg: CompareConfig, progress: bool,
               resume: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """One model of the comparison, trained (or, with `resume`, taken from its finished row, or continued from its
    last.pt) and described by one row; the row is kept in its run folder."""
    from perception.engine.resume import resume_config
    from perception.engine.trainer import Trainer
    from perception.jsonio import read_json, write_json_atomic
    from perception.models import build_model, model_config_from_arg
    from perception.models.summary import model_summary

    run_dir = Path(cfg.out) / run_folder(name, seed, cfg.seeds)
    if resume and (run_dir / RUN_FILE).is_file():
        log(f"    finished before: {run_dir / RUN_FILE}")
        return read_json(run_dir / RUN_FILE, "delete it to train that model again")
    model_config = model_config_from_arg(cfg.model, imgsz=list(cfg.imgsz), heads={t: t in heads for t in TASKS})
    shared = len(heads) > 1
    train_config = run_train_config(name, heads, balancing, seed, cfg)
    if resume and (run_dir / "weights" / "last.pt").is_file():
        # the saved run's settings, those this comparison sets checked against it (a differing one is refused)
        wanted = train_config.to_dict()
        train_config, _, checkpoint = resume_config(run_dir, **{k: wanted[k] for k in _RUN_SETTINGS})
        log(f"    continuing from {run_dir / 'weights' / 'last.pt'} (step {checkpoint['step']} of {cfg.max_steps})")
        summary = Trainer(train_config, resume=True, progress=progress, checkpoint=checkpoint).fit()
    else:
        summary = Trainer(train_config, model_config=model_config, progress=progress).fit()
    sizes = model_summary(build_model(model_config), cfg.imgsz)["total"]
    metrics = summary["val_metrics"]
    multitask = summary.get("multitask") or {}
    row = {
        "name": name,
        "seed": seed,
        "kind": "shared" if shared else "separate",
        "balancing": balancing,
        "label_share": cfg.label_share if shared else None,
        "tasks": heads,
        "metrics": {t: metrics.get(HEADLINE[t][0]) for t in heads},
        "val_metrics": metrics,
        "params": sizes["params"],
        "gflops": sizes["gflops"],
        "model_config": model_config.to_dict(),
        "train_seconds": summary["train_seconds"],  # over every resume of the run
        "steps": summary["steps"],
        "final_weights": multitask.get("final_weights"),
        "gradient_monitor": multitask.get("gradient_monitor"),
        "out": summary["out"],
    }
    write_json_atomic(run_dir / RUN_FILE, row)
    return row


def compare_tasks(cfg: CompareConfig, progress: bool = True, log: Callable[[str], None] = print,
                  resume: bool = False) -> dict[str, Any]:
    """Train the shared model (once per balancer) and the separate ones, once per seed; returns the comparison
    as data: {"config", "runs": [...], "tasks", "headline", "wall_seconds"} (see docs/multitask.md).

    resume: continue an interrupted comparison in cfg.out: a model whose row was kept is not trained again, one
    with a last.pt continues from it (exactly: perception.engine.resume), the rest train."""
    from perception.jsonio import write_json_atomic

    started = time.time()
    write_json_atomic(Path(cfg.out) / CONFIG_FILE, cfg.to_dict())
    plan = [(name, heads, balancing, seed) for seed in cfg.seeds for name, heads, balancing in cfg.models()
            if not cfg.only or name in cfg.only]
    runs = []
    for index, (name, heads, balancing, seed) in enumerate(plan):
        log(f"[{index + 1}/{len(plan)}] {name}, seed {seed}: heads {','.join(heads)}, balancing {balancing}, "
            f"{cfg.max_steps} steps")
        runs.append(_train_one(name, heads, balancing, seed, cfg, progress, resume, log))
    from perception.models import build_model

    models = {r["name"]: r["model_config"] for r in runs}  # the seed changes the weights, not the latency
    log(f"latency: {len(models)} models, batch 1, {cfg.latency_runs} interleaved rounds")
    latency = latencies_ms({name: build_model(ModelConfig.from_dict(c)) for name, c in models.items()}, cfg.imgsz,
                           cfg.latency_runs, cfg.device)
    for r in runs:
        r["latency_ms"] = latency[r["name"]]
    return {
        "config": cfg.to_dict(),
        "tasks": cfg.single_tasks(),
        "headline": {t: HEADLINE[t][1] for t in cfg.tasks},
        "runs": runs,
        "separate_low_data": separate_low_data(cfg.to_dict(), LOW_DATA_SUBSET),
        # this call's wall time; a resumed comparison's models each report their own training time over resumes
        "wall_seconds": round(time.time() - started, 1),
    }


# How the separate model of a low-data comparison was fed: its labelled images only (since session 7), or every
# image with the others masked (compare.json files written before say nothing: they are that)
LOW_DATA_SUBSET, LOW_DATA_MASKED = "labelled images only", "every image, the unlabelled masked"


def separate_low_data(config: dict[str, Any], written: str | None = None) -> str | None:
    """The low-data feeding of a comparison's separate model (None without --fraction)."""
    if config.get("fraction") is None:
        return None
    return written or LOW_DATA_MASKED


def shared_name(balancing: str, label_share: float | None = None) -> str:
    """shared-<balancer>, and -share<percent> when the scarce task's labelled images were oversampled."""
    return f"shared-{balancing}" + (f"-share{100 * label_share:g}" if label_share is not None else "")


def run_folder(name: str, seed: int, seeds: list[int]) -> str:
    """OUT/<name> with one seed (as before seeds existed), OUT/<name>-seed<N> with several."""
    return name if len(seeds) == 1 else f"{name}-seed{seed}"


# Settings that make two comparisons one experiment when they differ only in their seeds (and in which balancers
# were run: an expensive balancer may have been trained with fewer seeds).
_SAME = ("data", "model", "imgsz", "max_steps", "batch", "lr", "tasks", "fraction", "fraction_task", "grad_monitor",
         "val_period")


def merge_comparisons(results: list[dict[str, Any]], sources: list[str]) -> dict[str, Any]:
    """Comparisons of one experiment run with different seeds or balancers (one after another, or on several
    machines) as one comparison. Refuses comparisons whose settings differ, or a model trained twice with a seed."""
    first = results[0]["config"]
    seeds: list[int] = []
    seen: set[tuple[str, int]] = set()
    for result, source in zip(results, sources):
        config = result["config"]
        config_seeds = config.get("seeds", [config.get("seed", 0)])
        differ = [k for k in _SAME if config.get(k) != first.get(k) and k in config and k in first]
        if separate_low_data(config, result.get("separate_low_data")) != separate_low_data(
                first, results[0].get("separate_low_data")):
            differ.append("the separate model's low-data feeding")
        if differ:
            raise ConfigError(f"{source}: not the same experiment as {sources[0]}: {', '.join(differ)} differ")
        for run in result["runs"]:
            run.setdefault("seed", config_seeds[0])
            if (run["name"], run["seed"]) in seen:
                raise ConfigError(f"{source}: {run['name']} with seed {run['seed']} is already in an earlier one")
            seen.add((run["name"], run["seed"]))
        seeds += [s for s in config_seeds if s not in seeds]
    balancers = list(dict.fromkeys(b for result in results for b in result["config"].get("balancers", [])))
    config = {**first, "seeds": seeds, "balancers": balancers}
    config.pop("seed", None)
    return {"config": config, "tasks": results[0]["tasks"], "headline": results[0]["headline"],
            "runs": [r for result in results for r in result["runs"]],
            "separate_low_data": separate_low_data(first, results[0].get("separate_low_data")),
            "wall_seconds": round(sum(r["wall_seconds"] for r in results), 1), "merged_from": sources}
