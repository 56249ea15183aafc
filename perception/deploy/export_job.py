"""The whole `perception export` job as one call: export, parity, FP16, INT8, latency; returns the summary."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from perception.deploy.export_config import ExportConfig

from perception.deploy.export import export_onnx, load_export_model
from perception.deploy.parity import FP32_TOLERANCE, check_parity
from perception.imageio import read_images
from perception.errors import InputError


def _sibling(out: Path, tag: str) -> Path:
    return out.with_name(f"{out.stem}.{tag}{out.suffix}")


def export_model(out: str | Path, **options) -> dict:
    """Export to `out` as `ExportConfig(out=out, **options)` says, verify it, optionally write the FP16 and INT8
    siblings. Raises ParityError when the FP32 file differs from PyTorch beyond 1e-3 of an output's magnitude.

    Returns the JSON summary: files and sizes (bytes), parity figures per output, INT8 vs FP32 CPU latency
    (median ms at `threads` threads) and the ONNX Runtime providers available.
    """
    job = ExportConfig(out=str(out), **options)
    if Path(job.out).is_dir():
        raise InputError(f"--out {job.out}: is a folder; name the .onnx file to write")
    if job.int8:
        read_images(job.calib, 1)  # an empty or missing calibration folder fails before anything is written
    if job.model is None:
        raise InputError("export: give --model CHECKPOINT.pt, or a scale n|s|m or model YAML for a fresh model")
    net = load_export_model(job.checkpoint, None if job.checkpoint else job.model, job.imgsz)
    files = [Path(job.out), _sibling(Path(job.out), "fp16"), _sibling(Path(job.out), "int8")]
    before = {path: _identity(path) for path in files}
    try:
        with tqdm(total=2 + int(job.half) + int(job.int8), desc="export", unit="step") as progress:
            return _export_steps(net, job, progress)
    except BaseException:
        # all or nothing: a failed job (a later step, Ctrl-C, a full disk) leaves none of the files it wrote
        for path in files:
            if _identity(path) != before[path]:
                path.unlink(missing_ok=True)
        raise


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of a file, None when missing: tells a file this job wrote from one that was there before."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _export_steps(net, job: ExportConfig, progress) -> dict:
    import onnxruntime as ort

    out, nms, threads = Path(job.out), job.nms_thresholds(), job.threads
    config = net.config
    if nms is not None:
        nms = {key: getattr(config, key) if value is None else value for key, value in nms.items()}
    export_onnx(net, out, batch=job.batch, dynamic=job.dynamic, opset=job.opset, simplify=job.simplify, nms=nms)
    progress.update()
    summary: dict = {
        "source": job.checkpoint or f"fresh model '{job.model}'",
        "imgsz": list(config.imgsz),
        "batch": job.batch if job.batch is not None else "dynamic",
        "dynamic_hw": job.dynamic,
        "opset": job.opset,
        "nms": nms,
        "files": {"fp32": {"path": str(out), "bytes": out.stat().st_size}},
        "providers_available": ort.get_available_providers(),
    }
    # Frames from a folder the user named (--calib) when there is one; otherwise the summary's "source" names
    # the folder the reference frames came from, and the CLI prints it.
    images = read_images(job.calib, 4)[0] if job.calib else None
    summary["parity"] = {"fp32": check_parity(out, net, images, tolerance=FP32_TOLERANCE, threads=threads)}
    if images is not None:
        summary["parity"]["fp32"]["source"] = str(job.calib)
    progress.update()
    if job.half:
        from perception.deploy.half import convert_to_fp16

        fp16 = convert_to_fp16(out, _sibling(out, "fp16"))
        summary["files"]["fp16"] = {"path": str(fp16), "bytes": fp16.stat().st_size}
        summary["parity"]["fp16"] = check_parity(fp16, net, images, tolerance=None, threads=threads)
        progress.update()
    if job.int8:
        from perception.deploy.latency import measure_latency
        from perception.deploy.quantize import quantize_int8

        int8_path = _sibling(out, "int8")
        calibration = quantize_int8(out, int8_path, job.calib, count=job.calib_count)
        summary["files"]["int8"] = {"path": str(int8_path), "bytes": int8_path.stat().st_size}
        summary["int8"] = {k: v for k, v in calibration.items() if k != "path"}
        summary["parity"]["int8"] = check_parity(int8_path, net, images, tolerance=None, threads=threads)
        from perception.deploy.agreement import judge_copy, verdict_frames

        frames, where = verdict_frames(job.calib, calibration["calibration_images"])
        summary["int8"]["verdict"] = judge_copy(out, int8_path, frames, where, threads=threads)
        summary["latency_cpu"] = {
            "fp32": measure_latency(out, config.imgsz, threads=threads, runs=job.latency_runs),
            "int8": measure_latency(int8_path, config.imgsz, threads=threads, runs=job.latency_runs),
        }
        summary["latency_cpu"]["int8_speedup"] = (
            summary["latency_cpu"]["fp32"]["median_ms"] / summary["latency_cpu"]["int8"]["median_ms"]
        )
        summary["int8"]["size_ratio"] = summary["files"]["int8"]["bytes"] / summary["files"]["fp32"]["bytes"]
        progress.update()
    for parity in summary["parity"].values():
        parity["source"] = str(job.calib) if images is not None else parity["source"]
    return summary
