"""tools/gpu_check.py's steps after training: eval on the device vs the CPU, export from a model on the device,
TensorRT, infer, the Ray fleet, training throughput. One function per step, registered in the order they run."""

from __future__ import annotations

import time

from gpu_check_core import NCCL_TIMEOUT_S, EVAL_TOLERANCE, Skip, StepContext, check, cli, step

FULL_VAL_IMAGES = 10_000  # BDD100K's val split: what a rank-0 validation must get through under NCCL's timeout
ORT_TOLERANCE = 1e-3  # ONNX Runtime on the GPU vs on the CPU, fp32


@step("`eval --device cuda` vs `--device cpu` on the same val images: headline metrics within 0.01", seconds=15)
def eval_parity(ctx: StepContext) -> dict:
    weights, limit = ctx.checkpoint(), ctx.sizes.eval_images
    runs = {}
    for device in dict.fromkeys(("cpu", ctx.device)):
        runs[device] = cli(["eval", "--model", str(weights), "--data", str(ctx.data_dir), "--out",
                            str(ctx.work / f"eval_{device}"), "--limit", str(limit), "--batch", str(ctx.sizes.eval_batch), "--device", device,
                            "--worst", "0"],
                           ctx.work / f"eval_{device}.json")
    cpu, dev = runs["cpu"]["metrics"], runs[ctx.device]["metrics"]
    check(cpu["num_images"] == dev["num_images"] > 0, f"images: cpu {cpu['num_images']}, {ctx.device} {dev['num_images']}")
    diffs = {k: abs(cpu[k] - dev[k]) for k in cpu if isinstance(cpu[k], float) and isinstance(dev.get(k), float)}
    worst = max(diffs, key=diffs.get)
    check(diffs[worst] <= EVAL_TOLERANCE, f"{worst}: cpu {cpu[worst]:.4f} vs {ctx.device} {dev[worst]:.4f}")
    ms = runs[ctx.device]["latency"].get("median_ms_per_image")
    projected = ms * FULL_VAL_IMAGES / 1000 if ms else None
    return {"images": dev["num_images"], "max_metric_diff": diffs[worst], "worst_metric": worst, "ms_per_image": ms,
            "projected_full_val_s": projected, "nccl_timeout_s": NCCL_TIMEOUT_S}


@step("export_onnx, check_parity and model_summary of a model already on the device; ORT's GPU provider", seconds=15)
def export_on_device(ctx: StepContext) -> dict:
    import numpy as np
    import onnxruntime as ort

    from perception.deploy.export import export_onnx, load_export_model
    from perception.deploy.parity import FP32_TOLERANCE, check_parity
    from perception.models.summary import model_summary

    net = load_export_model(weights=ctx.checkpoint()).to(ctx.device)
    path = export_onnx(net, ctx.work / "export" / "model.onnx", batch=1)
    parity = check_parity(path, net, tolerance=FP32_TOLERANCE)
    summary = model_summary(net, tuple(net.config.imgsz))
    check(next(net.parameters()).device.type == ctx.device, "the model left the device")
    figures = {"parity_max_abs_diff": max(parity["max_abs_diff"].values()),
               "parity_max_rel_diff": max(parity["max_rel_diff"].values()), "gflops": summary["total"]["gflops"],
               "ort_providers": ort.get_available_providers()}
    if ctx.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        from perception.runtime.session import create_session

        session = create_session(path, providers="cuda")
        check(session.get_providers()[0] == "CUDAExecutionProvider", f"ORT runs on {session.get_providers()}")
        cpu = create_session(path, providers="cpu")
        x = np.random.default_rng(0).standard_normal((1, 3, *net.config.imgsz)).astype(np.float32)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(session.run(None, {"images": x}), cpu.run(None, {"images": x})))
        check(diff <= ORT_TOLERANCE, f"ORT CUDA vs CPU: max abs diff {diff:.3g} > {ORT_TOLERANCE}")
        figures["ort_cuda_vs_cpu"] = diff
    elif ctx.device == "cuda":
        figures["ort_cuda"] = "not checked: this onnxruntime has no CUDA provider"
    return figures


@step("TensorRT through ONNX Runtime: engine cache and fp16; the second start reads the cache", seconds=45,
      timeout=300, optional=True, cuda_only="TensorRT needs a GPU")
def tensorrt(ctx: StepContext) -> dict:
    import onnxruntime as ort

    from perception.runtime.session import TENSORRT, create_session, warm_up

    path = ctx.work / "export" / "model.onnx"
    if TENSORRT not in ort.get_available_providers() or not path.is_file():
        raise Skip("no TensorRT provider in this onnxruntime" if path.is_file() else "no exported model (export failed)")
    cache = ctx.work / "trt_cache"
    times = []
    for _ in range(2):
        tick = time.perf_counter()
        session = create_session(path, providers="tensorrt", trt_cache_dir=cache, trt_fp16=True)
        check(session.get_providers()[0] == TENSORRT, f"the session runs on {session.get_providers()}")
        warm_up(session, 1, tuple(session.get_inputs()[0].shape[2:]))
        times.append(time.perf_counter() - tick)
    check(times[1] < 15, f"reopening with the engine cache took {times[1]:.1f} s")
    return {"build_s": times[0], "reopen_s": times[1]}


@step("`perception infer` on the synthetic clip: the .pt on the device, the .onnx on its provider", seconds=10)
def infer(ctx: StepContext) -> dict:
    frames = round(ctx.sizes.clip_seconds * 10)
    runs = {"pt": ["--model", str(ctx.checkpoint()), "--device", ctx.device]}
    onnx_path = ctx.work / "export" / "model.onnx"
    if onnx_path.is_file():
        runs["onnx"] = ["--model", str(onnx_path), "--providers", "cuda" if ctx.device == "cuda" else "cpu"]
    figures = {}
    for kind, flags in runs.items():
        summary = cli(["infer", str(ctx.clip), *flags, "--out", str(ctx.work / f"infer_{kind}")], ctx.work / f"infer_{kind}.json")
        check(summary["frames"] == frames and not summary.get("errors"), f"{kind}: {summary['frames']} frames of {frames}, "
              f"errors {summary.get('errors')}")
        figures[f"{kind}_fps"] = summary["throughput_fps"]
    return figures


@step("`infer --ray`: a Ray actor gets the GPU and runs the .pt on it", seconds=30, timeout=180, optional=True,
      cuda_only="Ray actors ask for a GPU only on a GPU machine; the CPU fleet is tests/video/test_fleet.py")
def fleet_ray(ctx: StepContext) -> dict:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise Skip("ray is not installed (perception[fleet])")
    manifest = ctx.work / "fleet.txt"
    manifest.write_text(f"{ctx.clip}\n")
    summary = cli(["infer", str(manifest), "--ray", "--workers", "1", "--model", str(ctx.checkpoint()), "--device", "cuda",
                   "--no-video", "--out", str(ctx.work / "fleet")], ctx.work / "fleet.json")
    check(summary["done"] == 1 and summary["failed"] == 0, f"fleet: {summary['per_video']}")
    return {"frames": summary["frames"], "fps": summary["throughput_fps"]}


@step("training throughput of the bench size: loader alone, step alone, end to end (`perception bench --train`)",
      seconds=40, timeout=240)
def throughput(ctx: StepContext) -> dict:
    s = ctx.sizes
    result = cli(["bench", "--train", "--model", s.bench_model, "--imgsz", *map(str, s.bench_imgsz), "--batch",
                  str(s.bench_batch), "--amp", "bf16", "--device", ctx.device, "--workers", str(ctx.workers(s.bench_workers)),
                  "--steps", str(s.bench_steps), "--data", str(ctx.data_dir), "--out", str(ctx.work / "bench")],
                 ctx.work / "bench.json")
    loader = result["loader_images_per_second"]
    step_alone = result["step_images_per_second"]
    end_to_end = result["images_per_second"]
    limits = [v for v in (loader, step_alone) if v]
    return {"images_per_second": end_to_end, "loader_images_per_second": loader, "step_alone_images_per_second": step_alone,
            "val_images_per_second": result.get("val_images_per_second"), "parts_ms": result["parts_ms"],
            "data_wait_share": result["data_wait_share"], "peak_memory_mb": result.get("peak_memory_mb"),
            "poor_overlap": bool(limits) and end_to_end < 0.8 * min(limits)}
