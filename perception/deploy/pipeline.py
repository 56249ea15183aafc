"""The whole `perception export` job as one call: export, parity, FP16, INT8, latency; returns the summary."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from perception.deploy.export import export_onnx, load_export_model
from perception.deploy.parity import FP32_TOLERANCE, check_parity
from perception.errors import InputError


def _sibling(out: Path, tag: str) -> Path:
    return out.with_name(f"{out.stem}.{tag}{out.suffix}")


def export_model(
    out: str | Path,
    weights: str | Path | None = None,
    model: str | None = None,
    imgsz: tuple[int, int] | None = None,
    batch: int | None = None,
    dynamic: bool = False,
    opset: int = 17,
    half: bool = False,
    int8: bool = False,
    calib: str | Path | None = None,
    calib_count: int = 32,
    nms: dict | None = None,  # {"conf_threshold", "iou_threshold", "max_detections"}; None values: the model's
    simplify: bool = True,
    latency_runs: int = 10,
    threads: int = 2,
) -> dict:
    """Export `weights` (or a fresh `model` scale) to `out`, verify it, optionally write `<out>.fp16.onnx` and
    `<out>.int8.onnx`. Raises ParityError when the FP32 file differs from PyTorch beyond 1e-3.

    Returns the JSON summary: files and sizes (bytes), parity figures per output, INT8 vs FP32 CPU latency
    (median ms at `threads` threads) and the ONNX Runtime providers available.
    """
    import onnxruntime as ort

    if int8 and calib is None:
        raise InputError("--int8 needs --calib DIR (a folder of calibration images)")
    out = Path(out)
    net = load_export_model(weights, model, imgsz)
    with tqdm(total=2 + int(half) + int(int8), desc="export", unit="step") as progress:
        return _export_steps(net, out, weights, model, batch, dynamic, opset, half, int8, calib, calib_count, nms,
                             simplify, latency_runs, threads, progress)


def _export_steps(net, out, weights, model, batch, dynamic, opset, half, int8, calib, calib_count, nms, simplify,
                  latency_runs, threads, progress) -> dict:
    import onnxruntime as ort

    config = net.config
    if nms is not None:
        nms = {key: getattr(config, key) if value is None else value for key, value in nms.items()}
    export_onnx(net, out, batch=batch, dynamic=dynamic, opset=opset, simplify=simplify, nms=nms)
    progress.update()
    summary: dict = {
        "source": str(weights) if weights else f"fresh model '{model}'",
        "imgsz": list(config.imgsz),
        "batch": batch if batch is not None else "dynamic",
        "dynamic_hw": dynamic,
        "opset": opset,
        "nms": nms,
        "files": {"fp32": {"path": str(out), "bytes": out.stat().st_size}},
        "providers_available": ort.get_available_providers(),
    }
    summary["parity"] = {"fp32": check_parity(out, net, tolerance=FP32_TOLERANCE, threads=threads)}
    progress.update()
    if half:
        from perception.deploy.half import convert_to_fp16

        fp16 = convert_to_fp16(out, _sibling(out, "fp16"))
        summary["files"]["fp16"] = {"path": str(fp16), "bytes": fp16.stat().st_size}
        summary["parity"]["fp16"] = check_parity(fp16, net, tolerance=None, threads=threads)
        progress.update()
    if int8:
        from perception.deploy.latency import measure_latency
        from perception.deploy.quantize import quantize_int8

        int8_path = _sibling(out, "int8")
        calibration = quantize_int8(out, int8_path, calib, count=calib_count)
        summary["files"]["int8"] = {"path": str(int8_path), "bytes": int8_path.stat().st_size}
        summary["int8"] = {k: v for k, v in calibration.items() if k != "path"}
        summary["parity"]["int8"] = check_parity(int8_path, net, tolerance=None, threads=threads)
        summary["latency_cpu"] = {
            "fp32": measure_latency(out, config.imgsz, threads=threads, runs=latency_runs),
            "int8": measure_latency(int8_path, config.imgsz, threads=threads, runs=latency_runs),
        }
        summary["latency_cpu"]["int8_speedup"] = (
            summary["latency_cpu"]["fp32"]["median_ms"] / summary["latency_cpu"]["int8"]["median_ms"]
        )
        summary["int8"]["size_ratio"] = summary["files"]["int8"]["bytes"] / summary["files"]["fp32"]["bytes"]
        progress.update()
    return summary
