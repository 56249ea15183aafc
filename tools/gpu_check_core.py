"""What the steps of tools/gpu_check.py share: the step registry, sizes, context and helpers.

The steps themselves, one function each, live in gpu_check_training.py and gpu_check_deploy.py (registered in
STEPS in the order they run: importing those modules registers them). A step gets a StepContext (device, sizes, the shared work folder), uses the library's public API or its CLI
(`perception.cli.main.main`, or torchrun in a subprocess) and returns its figures; it raises Skip(reason)
when it cannot apply here and fails on any other exception (`check` raises CheckFailed with the reason).
Nothing here imports torch at module level: the orchestrator imports this file too.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
FAULT_ENV = "GPU_CHECK_FAULT"  # test-only: "parity" or "hang:STEP" (see tools/gpu_check.py)
DEADLINE_ENV = "GPU_CHECK_DEADLINE"  # the --budget's end (time.time()) as the orchestrator hands it to each step
SUITES = ("check", "converge")  # gpu_check_training/deploy's steps, and gpu_check_converge's
ERROR_TAIL = 2500
EVAL_TOLERANCE = 0.01  # eval --device cuda vs cpu, per headline metric
NCCL_TIMEOUT_S = 600  # torch's default process-group timeout, which a rank-0 validation must stay under


class Skip(Exception):
    """The step does not apply here (no second GPU, no TensorRT ...); the message says why."""


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ---- sizes and context ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    model: str
    imgsz: tuple[int, int]
    small_imgsz: tuple[int, int]  # compile, loss parity
    batch: int
    workers: int
    steps: int  # bf16 training
    short_steps: int  # fp32, channels_last, compile, resume legs
    synth_num: int
    val_fraction: float
    clip_seconds: float
    eval_images: int
    eval_batch: int
    parity_batch: int
    val_batches: int
    bench_model: str
    bench_imgsz: tuple[int, int]
    bench_batch: int
    bench_workers: int
    bench_steps: int


FULL = Sizes(model="s", imgsz=(384, 640), small_imgsz=(192, 320), batch=16, workers=12, steps=40, short_steps=10,
             synth_num=832, val_fraction=64 / 832, clip_seconds=6.0, eval_images=32, eval_batch=8, parity_batch=4, val_batches=2,
             bench_model="s", bench_imgsz=(384, 640), bench_batch=64, bench_workers=14, bench_steps=30)
QUICK = Sizes(model="n", imgsz=(64, 128), small_imgsz=(64, 128), batch=2, workers=0, steps=3, short_steps=2,
              synth_num=8, val_fraction=0.25, clip_seconds=1.0, eval_images=2, eval_batch=1, parity_batch=2, val_batches=1,
              bench_model="n", bench_imgsz=(64, 128), bench_batch=2, bench_workers=0, bench_steps=3)
CLIP_FPS = 10.0


@dataclass
class StepContext:
    out: Path
    device: str  # "cuda" or "cpu": the device under test
    quick: bool

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else FULL

    @property
    def work(self) -> Path:
        path = self.out / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    @property
    def clip(self) -> Path:
        return self.data_dir / "video" / "synth.mp4"

    def result_path(self, name: str) -> Path:
        return self.out / "steps" / f"{name}.json"

    def workers(self, wanted: int) -> int:
        return min(wanted, max(0, (os.cpu_count() or 1) - 2))

    def train_config(self, name: str, **overrides: Any):
        """A short run of the check's model on the synthetic data in work/NAME (TrainConfig fields); its length is
        max_steps (epochs only bounds it)."""
        from perception.engine import TrainConfig

        s = self.sizes
        fields = dict(data=str(self.data_dir), model=s.model, imgsz=s.imgsz, epochs=100, batch=s.batch,
                      workers=self.workers(s.workers), device=self.device, out=str(self.work / name), max_steps=s.steps,
                      max_val_batches=s.val_batches, save_period=0, seed=0)
        return TrainConfig(**(fields | overrides))

    def train_flags(self, name: str, *extra: str) -> list[str]:
        """`perception train` flags of the same short run (for torchrun and the CLI)."""
        s = self.sizes
        return ["train", "--data", str(self.data_dir), "--model", s.model, "--imgsz", *map(str, s.imgsz),
                "--batch", str(s.batch), "--workers", str(self.workers(s.workers)), "--device", self.device,
                "--max-val-batches", str(s.val_batches), "--out", str(self.work / name), "--quiet", *extra]

    def checkpoint(self) -> Path:
        """The trained last.pt that eval, export and infer use (bf16's, else fp32's)."""
        for name in ("train_bf16", "train_fp32"):
            path = self.work / name / "weights" / "last.pt"
            if path.is_file():
                return path
        raise Skip("no trained checkpoint: train_bf16 and train_fp32 wrote none (failed or not run)")


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[[StepContext], dict]
    what: str
    seconds: float  # expected on one H200 with 16 cores (the budget's estimate)
    timeout: float
    optional: bool = False
    cuda_only: str = ""  # why the step cannot run on a CPU (it is skipped there with this reason)
    suite: str = "check"


STEPS: dict[str, Step] = {}


def step(what: str, seconds: float, timeout: float | None = None, optional: bool = False, cuda_only: str = "",
         suite: str = "check"):
    def register(fn: Callable[[StepContext], dict]) -> Callable[[StepContext], dict]:
        STEPS[fn.__name__] = Step(fn.__name__, fn, what, seconds, timeout or max(90.0, 4 * seconds), optional, cuda_only,
                                  suite)
        return fn

    return register


def seconds_left(reserve: float = 0.0) -> float:
    """Seconds a step may still use of the whole run's --budget, keeping `reserve` for the steps after it
    (inf when run outside the orchestrator)."""
    deadline = os.environ.get(DEADLINE_ENV)
    return math.inf if deadline is None else float(deadline) - time.time() - reserve


def run_step_here(step_: Step, ctx: StepContext) -> int:
    """The child's side: run one step, write its result JSON (status, figures, reason or error)."""
    fault = os.environ.get(FAULT_ENV, "")
    result: dict[str, Any] = {"name": step_.name, "figures": {}}
    try:
        if fault == f"hang:{step_.name}":
            time.sleep(10**6)
        result |= {"status": "pass", "figures": step_.fn(ctx) or {}}
    except Skip as exc:
        result |= {"status": "skip", "reason": str(exc)}
    except Exception:  # noqa: BLE001 - any failure of the step is its result
        result |= {"status": "fail", "error": traceback.format_exc()[-ERROR_TAIL:]}
        traceback.print_exc()
    path = ctx.result_path(step_.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


# ---- shared helpers ------------------------------------------------------------------------------------------
def cli(argv: list[str], json_path: Path) -> dict:
    """`perception ARGV --json PATH` in this process; its summary."""
    from perception.cli.main import main

    print("$ perception " + " ".join(argv), flush=True)
    rc = main([*argv, "--json", str(json_path)])
    check(rc == 0, f"perception {argv[0]} exited with status {rc} (its error is in this step's log)")
    return json.loads(json_path.read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(nproc: int, entry: list[str]) -> None:
    """`torchrun --nproc_per_node N ENTRY` on this machine; fails with the ranks' output tail."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), *entry]
    print("$ " + " ".join(cmd), flush=True)
    # each rank gets its share of the cores, not all of them each
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // (2 * nproc))))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(done.stdout[-20000:], done.stderr[-20000:], sep="\n", flush=True)
    check(done.returncode == 0, f"torchrun exited with status {done.returncode}: {done.stderr.strip()[-1500:]}")


def finite(values: dict) -> bool:
    return all(math.isfinite(v) for v in values.values() if isinstance(v, float))


def peak_memory_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device == "cuda" else None


def load_on_cpu(path: Path) -> dict:
    """The checkpoint as a CPU-only machine reads it: weights_only, every tensor mapped to the CPU."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    check(isinstance(state, dict) and "model" in state, f"{path}: not a checkpoint")
    return state


def max_weight_diff(a: Path, b: Path) -> float:
    sa, sb = load_on_cpu(a)["model"], load_on_cpu(b)["model"]
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if sa[k].is_floating_point())


