"""`run_benchmark`: the whole `perception bench` measurement, from a model name to the JSON summary.

Model (fused) and the lraspp baseline, at one input size, for each batch: PyTorch eager (CUDA when present,
else CPU; the model also under bf16/fp16 autocast with --torch-amp), ONNX Runtime fp32 on every provider that
actually starts, INT8 (QDQ, static calibration) and FP16 (GPU providers only); model-only and end-to-end
latency, memory; then the video tool's FPS on a clip, the ratios to the baseline and the pass/miss targets.
Nothing here asserts speed: it measures and reports.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from perception.bench import ratios
from perception.config import DEFAULT_IMGSZ, ConfigBase, check_at_least, option
from perception.bench.images import benchmark_frames, calibration_folder, write_test_clip
from perception.bench.machine import load_average, machine_info
from perception.bench.measure import PROVIDER_SHORT, measure_row
from perception.errors import InputError, MissingFileError

SHARED_DATA = Path(os.environ.get("PERCEPTION_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "data"
DEFAULT_VIDEO = SHARED_DATA / "video" / "solidWhiteRight.mp4"
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# --torch-amp: the autocast dtype of each PyTorch eager precision and its name in the rows (fp32 = no autocast)
TORCH_AMP = {"off": ("fp32", None), "bf16": ("bf16", "bfloat16"), "fp16": ("fp16", "float16")}


@dataclass
class BenchConfig(ConfigBase):
    """model: scale n|s|m, model YAML or .pt checkpoint. onnx: time this fp32 file instead of exporting one.
    imgsz: (H, W) network input. batches: batch sizes. threads: CPU threads for torch and ONNX Runtime (None:
    all cores). providers: ONNX Runtime providers to try (a provider counts only if a session starts on it).
    video: clip for the video tool (None: the shared clip when present, else a generated one); no_video skips.
    frames: folder of real frames for end-to-end timing and INT8 calibration (generated ones when absent)."""

    model: str = option("s", "scale n|s|m, a model YAML, or a .pt checkpoint")
    onnx: str | None = option(None, "time this exported fp32 model instead of exporting --model", metavar="FILE")
    imgsz: tuple[int, int] = option(DEFAULT_IMGSZ, "input size")
    batches: tuple[int, ...] = option((1, 4), "batch sizes", flag="--batch", metavar="B")
    threads: int | None = option(None, "CPU threads for torch and ONNX Runtime (default: all cores)")
    runs: int = option(20, "timed runs per figure")
    warmup: int = option(5, "untimed warm-up runs per figure")
    int8: bool = option(False, "also measure INT8 (QDQ static quantization, calibrated)")
    calibration_images: int = option(8, "INT8 calibration images", flag="--calib-images", metavar="N")
    torch_amp: tuple[str, ...] = option(("off",), "PyTorch eager precisions to time: off (fp32) bf16 fp16 (autocast; fp16 "
                                        "on CUDA only)", metavar="P")
    providers: tuple[str, ...] = option(("cuda", "cpu"), "ONNX Runtime providers to try: tensorrt cuda cpu (one counts "
                                        "only if a session starts on it)", metavar="P")
    # TensorRT engine cache (perception.runtime.session)
    trt_cache_dir: str | None = option(None, "TensorRT engine and timing cache folder: the first start builds the "
                                       "engine (minutes), later ones read it (seconds)", flag="--trt-cache",
                                       metavar="DIR")
    trt_fp16: bool = option(False, "TensorRT: build fp16 engines")
    video: str | None = option(None, "clip for the video tool's FPS (default ../shared/data/video/solidWhiteRight.mp4, "
                               "else a generated clip)", metavar="FILE")
    no_video: bool = option(False, "skip the video tool measurement")
    video_frames: int | None = option(None, "stop the video run after N frames", metavar="N")
    frames: str | None = option(None, "real frames for end-to-end timing and calibration (default "
                                "../shared/data/bdd100k_frames, else generated)", metavar="DIR")
    out_dir: str = option("runs/bench", "output folder (with --train: runs/bench_train)", flag="--out", metavar="DIR")
    verbose: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    SECTION: ClassVar[str] = "bench"

    def validate(self) -> None:
        if len(self.imgsz) != 2 or any(v <= 0 or v % 32 for v in self.imgsz):
            raise InputError(f"--imgsz {list(self.imgsz)}: must be two positive multiples of 32 (H W)")
        check_at_least(self, 1, "batches", "runs", "threads", "calibration_images", "video_frames")
        check_at_least(self, 0, "warmup")
        unknown = sorted(set(self.torch_amp) - set(TORCH_AMP))
        if unknown or not self.torch_amp:
            raise InputError(f"--torch-amp {list(self.torch_amp)}: each must be one of {list(TORCH_AMP)}")
        if self.onnx is not None and not Path(self.onnx).is_file():
            raise MissingFileError(f"{self.onnx}: ONNX model not found")
        if self.video is not None and not self.no_video and not Path(self.video).is_file():
            raise MissingFileError(f"{self.video}: video file not found")


def _log(config: BenchConfig, message: str) -> None:
    if config.verbose:
        print(f"perception bench: {message}", file=sys.stderr, flush=True)


def started_providers(onnx_path: Path, requested: tuple[str, ...], threads: int | None, **trt_options) -> list[str]:
    """The requested providers a session really runs on (a GPU provider that cannot start falls back to CPU,
    which is therefore not counted as that provider), in preference order."""
    from perception.runtime.session import create_session, resolve_providers

    started = []
    for name in resolve_providers(list(requested)):
        session = create_session(onnx_path, [name], threads, verbose=False, **trt_options)
        if session.get_providers()[0] == name:
            started.append(name)
    return started


def _trt_options(config: BenchConfig) -> dict:
    """TensorRT's engine cache, fp16 and dynamic-batch profile for every session the bench starts."""
    return {"trt_cache_dir": config.trt_cache_dir, "trt_fp16": config.trt_fp16, "trt_max_batch": max(config.batches)}


def _model_and_onnx(config: BenchConfig, out_dir: Path):
    """(fused model, its summary, fp32 ONNX path) for config.model at config.imgsz."""
    from perception.deploy.export import export_onnx, load_export_model
    from perception.models.summary import model_summary
    from perception.runtime.metadata import read_metadata

    is_weights = str(config.model).endswith((".pt", ".pth"))
    model = load_export_model(
        weights=config.model if is_weights else None, model=None if is_weights else config.model, imgsz=config.imgsz
    )
    summary = model_summary(model, tuple(config.imgsz))
    if config.onnx is not None:
        meta = read_metadata(config.onnx)
        if tuple(meta.config.imgsz) != tuple(config.imgsz) and not meta.dynamic_hw:
            raise InputError(f"{config.onnx}: exported at {tuple(meta.config.imgsz)}, not --imgsz {tuple(config.imgsz)}")
        return model, summary, Path(config.onnx)
    return model, summary, export_onnx(model, out_dir / "model_fp32.onnx", batch=None)


def _onnx_variants(config: BenchConfig, fp32_path: Path, providers: list[str], out_dir: Path,
                   skipped: list[dict[str, str]]) -> tuple[dict[str, Path], dict | None]:
    """{precision: ONNX file} to time (fp32; int8 when asked; fp16 where a GPU provider started) and the INT8
    calibration it used."""
    from perception.deploy.half import convert_to_fp16
    from perception.deploy.quantize import quantize_int8

    variants = {"fp32": fp32_path}
    calibration = None
    if config.int8:
        folder, described = calibration_folder(config.frames, config.calibration_images, out_dir)
        int8 = quantize_int8(fp32_path, out_dir / "model_int8.onnx", folder, count=config.calibration_images)
        variants["int8"] = Path(int8["path"])
        calibration = {"images": int8["calibration_images"], "source": described, "format": "QDQ, MinMax, per-channel"}
        _log(config, f"INT8: calibrated on {int8['calibration_images']} images from {described}")
    else:
        skipped.append({"what": "onnxruntime int8", "why": "not requested (--int8)"})
    if any(p in GPU_PROVIDERS for p in providers):
        variants["fp16"] = convert_to_fp16(fp32_path, out_dir / "model_fp16.onnx")
    else:
        skipped.append({"what": "onnxruntime fp16", "why": "no GPU provider started (FP16 is measured on GPU providers only)"})
    if config.int8 and "CUDAExecutionProvider" in providers:
        skipped.append({"what": "onnxruntime int8 on CUDAExecutionProvider", "why": "no int8 kernels on the CUDA provider"})
    return variants, calibration


def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    """Measure everything `perception bench` reports; returns the JSON summary (see docs/benchmarks.md)."""
    import torch
    from tqdm import tqdm

    from perception.bench import baseline
    from perception.bench.memory import peak_rss_mb

    out_dir = Path(config.out_dir)  # config was validated when built (ConfigBase)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = config.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    imgsz = tuple(config.imgsz)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = machine_info(threads, []) | {"torch_device": device}  # before the run: the load it started under
    skipped = _torch_amp_skips(config, device)
    _log(config, f"building {config.model} at {imgsz[0]}x{imgsz[1]} and exporting ONNX")
    model, summary, fp32_path = _model_and_onnx(config, out_dir)
    model_name = f"perception-{model.config.scale}" if not str(config.model).endswith((".pt", ".pth")) else Path(config.model).stem
    providers = started_providers(fp32_path, config.providers, threads, **_trt_options(config))
    frames, frames_source = benchmark_frames(config.frames, max(config.batches))

    variants, calibration = _onnx_variants(config, fp32_path, providers, out_dir, skipped)

    _log(config, f"baseline {baseline.BASELINE_NAME} (untrained) at {imgsz[0]}x{imgsz[1]}")
    base_model = baseline.build_baseline()
    base_summary = baseline.baseline_summary(base_model, imgsz)
    base_onnx = baseline.export_baseline_onnx(base_model, out_dir / f"{baseline.BASELINE_NAME}.onnx", imgsz)

    plan = _plan(config, model, model_name, summary, variants, base_model, base_summary, base_onnx, providers, frames, threads, device)
    setup_peak_mb = peak_rss_mb()  # export, quantization and baseline build, before rows reset the mark
    rows = [measure_row(setup, **kwargs) for setup, kwargs in tqdm(plan, desc="bench", unit="row", disable=not config.verbose)]
    model_rows = [r for r in rows if r["model"] == model_name]
    base_rows = [r for r in rows if r["model"] == baseline.BASELINE_NAME]
    ratios.add_baseline_ratios(rows, base_rows)

    video = [] if config.no_video else _video_rows(config, fp32_path, providers[0], threads, model_rows, out_dir)
    reference_batch = 1 if 1 in config.batches else min(config.batches)
    ratio_provider = "CPUExecutionProvider" if "CPUExecutionProvider" in providers else providers[0]
    headline = ratios.baseline_ratio(model_rows, base_rows, ratio_provider, reference_batch)
    speedups = ratios.int8_speedups(model_rows)
    machine |= {"providers": providers, "load_average_at_end": load_average()}
    return {
        "config": {k: v for k, v in asdict(config).items() if k not in ("verbose", "extra")} | config.extra,
        "machine": machine,
        "frames_source": frames_source,
        "model": {"name": model_name, "onnx": {k: str(v) for k, v in variants.items()},
                  "params": summary["total"]["params"], "gflops_per_image": summary["total"]["gflops"],
                  "parts": summary["parts"], "int8_calibration": calibration},
        "baseline": {"name": baseline.BASELINE_NAME, "weights": None, "onnx": str(base_onnx),
                     "params": base_summary["params"], "gflops_per_image": base_summary["gflops"]},
        "rows": rows,
        "video": video,
        "baseline_ratio": headline["value"] if headline else None,
        "baseline_ratio_detail": headline,
        "int8_speedup": speedups,
        "targets": ratios.targets(headline, speedups, video),
        "skipped": skipped,
        "peak_rss_mb_process": round(max([setup_peak_mb, peak_rss_mb()] + [r["peak_rss_mb"] for r in rows + video]), 1),
    }


def _torch_amp_skips(config: BenchConfig, device: str) -> list[dict[str, str]]:
    return [{"what": "torch fp16", "why": "fp16 autocast is timed on CUDA only"}] if (
        "fp16" in config.torch_amp and device != "cuda") else []


def _eager(provider: str, precision: str = "fp32") -> dict:
    return {"runtime": "torch", "precision": precision, "provider": provider, "uses_cuda": provider == "cuda"}


def _ort(precision: str, provider: str) -> dict:
    return {"runtime": "onnxruntime", "precision": precision, "provider": provider, "uses_cuda": provider in GPU_PROVIDERS}


def _plan(config, model, model_name, summary, variants, base_model, base_summary, base_onnx, providers, frames, threads, device):
    """[(setup, measure_row kwargs)]: per batch, eager model + baseline, then per provider every ONNX precision
    of the model and the baseline's fp32. Setups are callables so each runner is built inside its own row."""
    import torch

    from perception.bench import baseline
    from perception.models.torch_predictor import TorchPredictor
    from perception.preprocess import prepare_batch
    from perception.runtime import OnnxPredictor
    from perception.runtime.session import create_session

    imgsz = tuple(config.imgsz)
    plan = []
    for batch in config.batches:
        images = frames[:batch]
        batch_input, _ = prepare_batch(images, imgsz, model.config.mean, model.config.std)
        common = {"batch_input": batch_input, "images": images, "runs": config.runs, "warmup": config.warmup}
        ours = common | {"model": model_name, "params": summary["total"]["params"], "gflops": summary["total"]["gflops"]}
        base = common | {"model": baseline.BASELINE_NAME, "params": base_summary["params"], "gflops": base_summary["gflops"]}
        for amp in config.torch_amp:
            precision, dtype = TORCH_AMP[amp]
            if amp == "fp16" and device != "cuda":
                continue  # said once in `skipped` (run_benchmark)
            autocast = None if dtype is None else getattr(torch, dtype)
            plan.append((partial(TorchPredictor, model, device=device, imgsz=imgsz, autocast_dtype=autocast),
                         ours | _eager(device, precision)))
        plan.append((lambda: baseline.torch_baseline_runner(base_model, imgsz, device), base | _eager(device)))
        for provider in providers:
            for precision, path in variants.items():
                if precision == "fp16" and provider not in GPU_PROVIDERS:
                    continue
                if precision == "int8" and provider == "CUDAExecutionProvider":
                    continue  # no int8 convolutions there: QDQ would time a dequantized fp32 graph
                setup = partial(OnnxPredictor, path, providers=provider, threads=threads, verbose=False, imgsz=imgsz,
                                **_trt_options(config))
                plan.append((setup, ours | _ort(precision, provider)))
            session = partial(create_session, base_onnx, [provider], threads, verbose=False, **_trt_options(config))
            plan.append((lambda session=session: baseline.onnx_baseline_runner(session(), imgsz), base | _ort("fp32", provider)))
    return plan


def _video_rows(config, fp32_path, provider, threads, model_rows, out_dir) -> list[dict]:
    from tqdm import tqdm

    from perception.bench.memory import peak_rss_mb, reset_peak_rss
    from perception.bench.video_fps import video_fps

    clip = config.video
    if clip is None:
        clip = DEFAULT_VIDEO if DEFAULT_VIDEO.is_file() else write_test_clip(out_dir / "generated_clip.mp4")
    out = []
    for batch in tqdm(config.batches, desc="video", unit="run", disable=not config.verbose):
        reset_peak_rss()
        result = video_fps(fp32_path, clip, out_dir / f"video_b{batch}", batch, provider, threads, config.video_frames,
                           imgsz=tuple(config.imgsz))
        reference = ratios.find_row(model_rows, "onnxruntime", "fp32", provider, batch)
        result["model_only_fps"] = reference["model_only"]["throughput_img_s"] if reference else None
        result["ratio"] = result["fps"] / result["model_only_fps"] if reference else None
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        out.append(result)
    short = PROVIDER_SHORT.get(provider, provider)
    _log(config, f"video tool measured on {clip} with onnxruntime fp32 ({short})")
    return out
