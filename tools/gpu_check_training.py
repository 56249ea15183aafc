"""tools/gpu_check.py's training steps: preflight, data, loss parity, the trainer under each precision and
layout, compile, resume, torchrun. One function per step, registered in the order they run."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import platform
import shutil

from gpu_check_core import (
    FAULT_ENV,
    REPO,
    CheckFailed,
    StepContext,
    check,
    cli,
    finite,
    load_on_cpu,
    max_weight_diff,
    peak_memory_gib,
    step,
    torchrun,
)

PARITY_RTOL = 1e-4  # loss terms, CPU vs device, fp32 with TF32 off
PARITY_COSINE = 0.9999  # whole-gradient cosine, CPU vs device
MAX_NORMAL_FP16_SKIPS = 5  # GradScaler's first steps may overflow while it finds its scale


@step("versions, GPU, bf16, cores, /dev/shm, ONNX Runtime providers, the train extra's modules", seconds=5)
def preflight(ctx: StepContext) -> dict:
    import onnxruntime as ort
    import torch

    from perception.extras import MODULE_EXTRAS

    figures = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
               "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(), "cores": os.cpu_count(),
               "tensorrt": _version("tensorrt")}
    if os.path.isdir("/dev/shm"):
        figures["dev_shm_gib"] = round(shutil.disk_usage("/dev/shm").total / 2**30, 2)
    if ctx.device == "cuda":
        check(torch.cuda.is_available(), "torch.cuda.is_available() is False: no usable GPU (driver, CUDA build?)")
        props = torch.cuda.get_device_properties(0)
        figures |= {"gpu": props.name, "capability": f"{props.major}.{props.minor}", "gpus": torch.cuda.device_count(),
                    "gpu_memory_gib": round(props.total_memory / 2**30, 1), "bf16": torch.cuda.is_bf16_supported()}
    missing = sorted(m for m, extra in MODULE_EXTRAS.items() if extra == "train" and importlib.util.find_spec(m) is None)
    figures["missing_train_modules"] = missing
    check(not missing, f"missing {', '.join(missing)} (perception[train]); on a bare GPU machine: bash tools/gpu_setup.sh")
    return figures


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # noqa: BLE001 - absent or broken: not installed for this check
        return None


@step("perception synth: the training and val images and a clip at the check's size", seconds=10)
def data(ctx: StepContext) -> dict:
    s = ctx.sizes
    summary = cli(["synth", "--out", str(ctx.data_dir), "--num", str(s.synth_num), "--imgsz", *map(str, s.imgsz),
                   "--val-fraction", f"{s.val_fraction:.6f}", "--video", str(s.clip_seconds), "--fps", "10",
                   "--no-progress"], ctx.work / "synth.json")
    images = summary["images"]
    check(images["train"] + images["val"] == s.synth_num and images["val"] >= 1,
          f"synth wrote {images} for --num {s.synth_num}")
    check(summary["video"]["frames"] == round(s.clip_seconds * 10), f"clip has {summary['video']['frames']} frames")
    return {"train": images["train"], "val": images["val"], "clip_frames": summary["video"]["frames"],
            "images_per_second": summary["images_per_second"]}


@step("loss and gradients, CPU vs device, every balancer (fp32, TF32 off), GradScaler on and off", seconds=15)
def loss_parity(ctx: StepContext) -> dict:
    import torch

    from perception.config import BALANCING_MODES
    from perception.engine.distributed import DistContext
    from perception.engine.train_data import build_train_loaders
    from perception.models import build_model, model_config_from_arg

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    # the small size: the CPU side of the comparison runs every balancer, some with a backward per task
    cfg = ctx.train_config("parity", imgsz=ctx.sizes.small_imgsz, batch=ctx.sizes.parity_batch, workers=0, augment=False)
    model_config = model_config_from_arg(cfg.model, imgsz=list(cfg.imgsz))
    batch = next(iter(build_train_loaders(cfg, model_config, DistContext())[0]))
    torch.manual_seed(0)
    reference = build_model(model_config).train()
    figures: dict = {"balancers": list(BALANCING_MODES)}
    for balancing in BALANCING_MODES:
        cpu = _loss_and_grads(reference, model_config, balancing, batch, "cpu")
        dev = _loss_and_grads(reference, model_config, balancing, batch, ctx.device, fault=os.environ.get(FAULT_ENV) == "parity")
        worst = max(abs(cpu["report"][k] - dev["report"][k]) / max(abs(cpu["report"][k]), 1e-6) for k in cpu["report"])
        cosine = float(torch.nn.functional.cosine_similarity(cpu["grads"], dev["grads"], dim=0))
        check(worst <= PARITY_RTOL, f"{balancing}: a loss term differs from the CPU's by {worst:.3g} relative > {PARITY_RTOL}")
        check(cosine >= PARITY_COSINE, f"{balancing}: gradient cosine vs the CPU {cosine:.6f} < {PARITY_COSINE}")
        scaled = _loss_and_grads(reference, model_config, balancing, batch, ctx.device, scaler=True)
        scaled_diff = float((scaled["grads"] - dev["grads"]).abs().max() / dev["grads"].abs().max().clamp_min(1e-12))
        check(scaled_diff <= 1e-3, f"{balancing}: GradScaler-unscaled gradients differ by {scaled_diff:.3g} relative")
        figures[balancing] = {"loss_rel_diff": worst, "grad_cosine": cosine, "scaler_rel_diff": scaled_diff,
                              "syncs_per_loss": dev["syncs"]}
    return figures


def _loss_and_grads(reference, model_config, balancing: str, batch: dict, device: str, scaler: bool = False,
                    fault: bool = False) -> dict:
    """One training step's loss terms and flattened gradients (model + balancer) of a copy of `reference` on
    `device`, through the trainer's own pieces: move_batch, MultiTaskLoss, TaskBackward, GradScaler."""
    import warnings

    import torch

    from perception.engine.distributed import DistContext
    from perception.multitask.backward import TaskBackward
    from perception.engine.train_data import move_batch
    from perception.losses import MultiTaskLoss

    dev = torch.device(device)
    model = copy.deepcopy(reference).to(dev)
    if fault:  # test-only (GPU_CHECK_FAULT=parity): a real parity failure
        with torch.no_grad():
            next(model.parameters()).add_(0.05)
    loss = MultiTaskLoss(model_config, balancing).to(dev)
    moved = move_batch(batch, dev, mean=model_config.mean, std=model_config.std)
    outputs = model(moved["images"])
    syncs = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if dev.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")  # one warning per host-device synchronisation
        total, report = loss({k: v.float() for k, v in outputs.items()}, moved)
        if dev.type == "cuda":
            torch.cuda.set_sync_debug_mode(0)
            syncs = sum("synchroniz" in str(w.message) for w in caught)
    grad_scaler = torch.amp.GradScaler(dev.type, init_scale=2.0**10, enabled=scaler)
    TaskBackward(model, loss, DistContext(device=dev)).backward(total, 0, grad_scaler)
    params = list(model.parameters()) + list(loss.parameters())
    grad_scaler.unscale_(torch.optim.SGD(params, lr=0.0))
    grads = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).double().cpu() for p in params])
    return {"report": {k: float(v) for k, v in report.items()}, "grads": grads, "syncs": syncs}


def _fit(ctx: StepContext, name: str, **overrides) -> tuple[dict, object]:
    from perception.engine import Trainer

    trainer = Trainer(ctx.train_config(name, **overrides), progress=False)
    summary = trainer.fit()
    check(summary["device"].startswith(ctx.device), f"trained on {summary['device']}, not {ctx.device}")
    check(finite(summary["train_losses"]), f"non-finite training losses {summary['train_losses']}")
    return summary, trainer


@step("Trainer, bf16 autocast, EMA, mid-run checkpoint, validation; last.pt loads on a CPU (weights_only)", seconds=20)
def train_bf16(ctx: StepContext) -> dict:
    steps = ctx.sizes.steps
    summary, trainer = _fit(ctx, "train_bf16", amp="bf16", ema=True, save_period=steps // 2)
    check(summary["steps"] == steps, f"{summary['steps']} steps, expected {steps}")
    metrics = summary["val_metrics"]
    check("fitness" in metrics and finite(metrics), f"validation metrics missing or non-finite: {metrics}")
    state = load_on_cpu(trainer.last_path)
    check(state["step"] == steps and state["ema"] is not None, f"last.pt holds step {state['step']}, ema {state['ema'] is not None}")
    from perception.models import load_model

    load_model(trainer.last_path)  # the CPU-only reader: EMA weights into a fresh model
    return {"amp": str(trainer.amp_dtype) if trainer.amp_dtype else "off (a CPU trains fp32)",
            "images_per_second": summary["images_per_second"], "seconds": summary["seconds"],
            "peak_memory_gib": peak_memory_gib(ctx.device), "fitness": metrics["fitness"]}


@step("Trainer in fp32 (--amp off)", seconds=10)
def train_fp32(ctx: StepContext) -> dict:
    summary, _ = _fit(ctx, "train_fp32", amp="off", max_steps=ctx.sizes.short_steps, save_period=0)
    return {"images_per_second": summary["images_per_second"], "seconds": summary["seconds"]}


@step("fp16: one forced overflow step is skipped, the scale halves, the weights stay", seconds=12,
      cuda_only="fp16 autocast and GradScaler run on CUDA only (a CPU trains fp32): tests/engine/test_amp_guards.py")
def fp16_overflow(ctx: StepContext) -> dict:
    import torch

    from perception.engine import Trainer

    # log_period 1: skips and the scale are read back after every step (StepStats)
    trainer = Trainer(ctx.train_config("fp16", amp="fp16", max_steps=ctx.sizes.short_steps + 1, log_period=1),
                      progress=False)
    trainer._setup()  # no public set-up without fit(); tests/engine/test_amp_guards.py drives steps the same way
    batches = iter(trainer.train_loader)
    for _ in range(ctx.sizes.short_steps):
        trainer.train_step(next(batches))
    normal_skips, scale = trainer.skipped_steps, trainer.scaler.get_scale()
    batch = next(batches)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(dict(batch, images=torch.full(batch["images"].shape, float("inf"))))
    check(trainer.skipped_steps == normal_skips + 1, f"skipped_steps {trainer.skipped_steps}, expected {normal_skips + 1}")
    check(trainer.scaler.get_scale() == scale / 2, f"scale {trainer.scaler.get_scale()} after {scale}: not halved")
    check(all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters())), "weights changed on a skipped step")
    check(normal_skips <= MAX_NORMAL_FP16_SKIPS, f"{normal_skips} of {ctx.sizes.short_steps} normal steps skipped")
    return {"normal_skips": normal_skips, "scale": scale}


@step("channels_last vs contiguous: the trainer uses NHWC on CUDA and both layouts train alike", seconds=15,
      cuda_only="the trainer uses channels_last on CUDA only (a CPU gains nothing from NHWC)")
def channels_last(ctx: StepContext) -> dict:
    import torch

    losses = {}
    for layout in (True, False):
        summary, trainer = _fit(ctx, f"channels_last_{layout}", amp="off", ema=False, channels_last=layout,
                                max_steps=ctx.sizes.short_steps)
        losses[layout] = summary["train_losses"]["total"]
        conv = next(p for p in trainer.model.parameters() if p.ndim == 4)
        check(conv.is_contiguous(memory_format=torch.channels_last) == layout, f"channels_last={layout}: weights' layout")
    rel = abs(losses[True] - losses[False]) / max(abs(losses[False]), 1e-9)
    check(rel < 0.05, f"final loss NHWC {losses[True]:.5f} vs NCHW {losses[False]:.5f}: {rel:.3g} relative")
    return {"loss_nhwc": losses[True], "loss_nchw": losses[False], "rel_diff": rel}


def _compile_backend(ctx: StepContext) -> str:
    """On a CPU, --quick compiles with dynamo's eager backend: inductor's C++ build of model n takes ~6 min on
    two cores. The GPU (and a CPU without --quick) compiles with the default, inductor."""
    if ctx.device == "cpu" and ctx.quick:
        import functools

        import torch

        torch.compile = functools.partial(torch.compile, backend="eager")
        return "eager (CPU --quick)"
    return "inductor"


@step("--compile: model n at a small size, a few steps", seconds=45, timeout=300)
def compile_model(ctx: StepContext) -> dict:
    backend = _compile_backend(ctx)
    summary, _ = _fit(ctx, "compile", model="n", imgsz=ctx.sizes.small_imgsz, compile=True, ema=False,
                      max_steps=ctx.sizes.short_steps)
    return {"backend": backend, "seconds": summary["seconds"], "images_per_second": summary["images_per_second"]}


@step("--compile with --grad-monitor (retain_graph through a compiled backward)", seconds=40, timeout=300, optional=True)
def compile_grad_monitor(ctx: StepContext) -> dict:
    backend = _compile_backend(ctx)
    summary, _ = _fit(ctx, "compile_monitor", model="n", imgsz=ctx.sizes.small_imgsz, compile=True, ema=False,
                      grad_monitor_period=1, max_steps=ctx.sizes.short_steps)
    monitor = summary["multitask"].get("gradient_monitor") or {}
    check(monitor.get("measurements", 0) >= 1, f"the gradient monitor measured nothing: {monitor}")
    return {"backend": backend, "seconds": summary["seconds"], "measurements": monitor["measurements"]}


@step("resume on the device: Trainer(cfg, resume=True) and `train --resume` continue a run", seconds=20)
def resume(ctx: StepContext) -> dict:
    from perception.engine import Trainer

    half = max(1, ctx.sizes.short_steps // 2)
    first, _ = _fit(ctx, "resume_api", amp="off", max_steps=half)
    check(first["steps"] == half, f"first leg ran {first['steps']} steps")
    shutil.copytree(ctx.work / "resume_api", ctx.work / "resume_cli")
    summary = Trainer(ctx.train_config("resume_api", amp="off", max_steps=2 * half), resume=True, progress=False).fit()
    check(summary["steps"] == 2 * half, f"the API resume ran to step {summary['steps']}, expected {2 * half}")
    resumed = cli(ctx.train_flags("resume_cli", "--resume", "--max-steps", str(2 * half)), ctx.work / "resume_cli.json")
    check(resumed["steps"] == 2 * half, f"`train --resume` ran to step {resumed['steps']}, expected {2 * half}")
    api, via_cli = ctx.work / "resume_api" / "weights" / "last.pt", ctx.work / "resume_cli" / "weights" / "last.pt"
    # Same checkpoint, same steps: only where the checkpoint was loaded differs (the API reads it onto the device).
    return {"api_vs_cli_max_abs_diff": max_weight_diff(api, via_cli), "steps": 2 * half}


@step("torchrun, one process, through an epoch end and a checkpoint", seconds=20)
def torchrun_one(ctx: StepContext) -> dict:
    summary_path = ctx.work / "torchrun_one.json"
    torchrun(1, ["-m", "perception.cli.main", *ctx.train_flags("torchrun_one", "--epochs", "1", "--max-steps", "0",
                                                              "--json", str(summary_path))])
    summary = _json(summary_path)
    check(summary["epochs"] == 1, f"ran {summary['epochs']} epochs, expected 1 (through the epoch end)")
    state = load_on_cpu(ctx.work / "torchrun_one" / "weights" / "last.pt")
    return {"steps": summary["steps"], "checkpoint_step": state["step"], "images_per_second": summary["images_per_second"]}


@step("DDP, two processes, through an epoch end: NCCL on two GPUs, else a shim that checks every collective's device",
      seconds=30, timeout=240)
def ddp_two(ctx: StepContext) -> dict:
    return _ddp(ctx, "ddp_uncertainty", "uncertainty")


@step("DDP as above with --balancing pcgrad (gradients averaged by hand)", seconds=25, timeout=240, optional=True)
def ddp_pcgrad(ctx: StepContext) -> dict:
    return _ddp(ctx, "ddp_pcgrad", "pcgrad")


def _ddp(ctx: StepContext, name: str, balancing: str) -> dict:
    import torch

    gpus = torch.cuda.device_count() if ctx.device == "cuda" else 0
    summary_path = ctx.work / f"{name}.json"
    flags = ctx.train_flags(name, "--epochs", "1", "--max-steps", "0", "--balancing", balancing, "--json", str(summary_path))
    if gpus >= 2:
        mode = "NCCL on 2 GPUs, --sync-bn"
        torchrun(2, ["-m", "perception.cli.main", *flags, *(["--sync-bn"] if balancing != "pcgrad" else [])])
    else:
        where = "cuda:0" if ctx.device == "cuda" else "the CPU"
        mode = f"gloo, both ranks on {where}, collectives checked (tools/ddp_device_shim.py)"
        torchrun(2, [str(REPO / "tools" / "ddp_device_shim.py"), *flags])
    summary = _json(summary_path)
    check(summary["world_size"] == 2, f"world_size {summary['world_size']}")
    check(summary["epochs"] == 1, f"ran {summary['epochs']} epochs, expected 1 (through the epoch end)")
    check(summary["replicas_identical"], f"replicas differ by {summary['replica_max_abs_diff']}")
    check(finite(summary["val_metrics"]) and summary["val_metrics"], f"val metrics {summary['val_metrics']}")
    load_on_cpu(ctx.work / name / "weights" / "last.pt")
    return {"mode": mode, "steps": summary["steps"], "images_per_second": summary["images_per_second"]}


def _json(path) -> dict:
    if not os.path.isfile(path):
        raise CheckFailed(f"{path}: the run wrote no summary")
    with open(path) as f:
        return json.load(f)

