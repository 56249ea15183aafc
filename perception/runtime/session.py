"""ONNX Runtime sessions with an honest provider fallback: TensorRT -> CUDA -> CPU.

`onnxruntime.get_available_providers()` lists every provider the wheel was *built* with (onnxruntime-gpu lists
TensorRT and CUDA on a machine without a GPU), and a session created with a provider that cannot start silently
runs on the next one. So the only reliable test is to create the session and read `session.get_providers()`;
`create_session` does that and prints one line per provider that was asked for but is not running.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from perception.errors import InputError, MissingFileError

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
ALIASES = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "gpu": CUDA, "cpu": CPU}
OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# The default level; `PERCEPTION_ORT_OPTIMIZATION=disable` runs every session with other kernels (no fusions, no
# NCHWc layout), which the test suite uses to check that its parity tolerances do not depend on one kernel choice.
OPTIMIZATION_ENV = "PERCEPTION_ORT_OPTIMIZATION"
# A dynamic-batch model's TensorRT engine is built once for batches 1..TRT_MAX_BATCH (eval's default --batch is
# 8): without a profile TensorRT builds for the first batch it sees and rebuilds at every other one (minutes).
TRT_MAX_BATCH = 8


def resolve_providers(providers: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """None/'auto' -> TensorRT, CUDA, CPU; 'cuda' -> CUDA, CPU; 'tensorrt' -> TensorRT, CUDA, CPU; names or
    short aliases otherwise.

    CPU is always appended last so a session can always be created, and CUDA follows TensorRT: TensorRT hands
    the nodes it cannot run (and a start it cannot make) to the next provider, which should be the GPU.
    """
    if providers is None or providers == "auto":
        names = list(PREFERENCE)
    else:
        items = providers.split(",") if isinstance(providers, str) else list(providers)
        names = []
        for item in items:
            name = ALIASES.get(item.strip().lower(), item.strip())
            if name not in ort.get_all_providers():
                raise InputError(f"providers: unknown ONNX Runtime provider {item!r}; use tensorrt, cuda or cpu")
            names.append(name)
    if TENSORRT in names and CUDA not in names:
        names.insert(names.index(TENSORRT) + 1, CUDA)
    if CPU not in names:
        names.append(CPU)
    return list(dict.fromkeys(names))


def trt_profile_shapes(path: str | Path, max_batch: int = TRT_MAX_BATCH, imgsz: tuple[int, int] | None = None) -> dict[str, str]:
    """TensorRT optimisation-profile options for a model with a dynamic batch (or H, W given by `imgsz`): one
    engine for batches 1..max_batch. {} for a fixed-shape model, or dynamic H, W without `imgsz`."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    inp = ort.InferenceSession(str(path), options, providers=[CPU]).get_inputs()[0]  # reads the input's shape only
    batch, *rest = inp.shape
    if not all(isinstance(d, int) for d in rest):
        if imgsz is None or len(rest) != 3:
            return {}
        rest = [rest[0] if isinstance(rest[0], int) else 3, *imgsz]
    if isinstance(batch, int) and rest == inp.shape[1:]:
        return {}
    low, high = (batch, batch) if isinstance(batch, int) else (1, max(1, int(max_batch)))

    def shape(b: int) -> str:
        return f"{inp.name}:{b}x" + "x".join(str(d) for d in rest)

    return {"trt_profile_min_shapes": shape(low), "trt_profile_opt_shapes": shape(high), "trt_profile_max_shapes": shape(high)}


def provider_entries(names: list[str], trt_cache_dir: str | Path | None = None, trt_fp16: bool = False,
                     trt_profile: dict[str, str] | None = None) -> list:
    """InferenceSession's `providers`: names, TensorRT with its options (fp16, engine cache, profile shapes)."""
    entries = []
    for name in names:
        if name == TENSORRT:
            options = {"trt_fp16_enable": bool(trt_fp16)} | dict(trt_profile or {})
            if trt_cache_dir:
                # Building an engine takes minutes; the cache makes every later start take seconds.
                Path(trt_cache_dir).mkdir(parents=True, exist_ok=True)
                options |= {
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(trt_cache_dir),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(trt_cache_dir),
                }
            entries.append((name, options))
        else:
            entries.append(name)
    return entries


def create_session(
    path: str | Path,
    providers: str | list[str] | None = None,
    threads: int | None = None,
    optimization: str | None = None,
    trt_cache_dir: str | Path | None = None,
    trt_fp16: bool = False,
    verbose: bool = True,
    spin: bool = True,
    trt_max_batch: int = TRT_MAX_BATCH,
    imgsz: tuple[int, int] | None = None,
) -> ort.InferenceSession:
    """Create an InferenceSession on the first provider that actually starts.

    providers: None/'auto' (TensorRT, CUDA, CPU), a comma list or list of names/aliases.
    threads: intra-op threads (None: ONNX Runtime's default, all cores).
    spin: let idle intra-op threads spin between ops (ONNX Runtime's default, best for the model alone);
        False when other busy threads share the cores, such as the video tool's decode and encode stages.
    optimization: disable | basic | extended | all (graph optimisation level); None: $PERCEPTION_ORT_OPTIMIZATION,
        else all.
    trt_cache_dir / trt_fp16: TensorRT's engine and timing cache folder (later starts take seconds, not minutes)
        and fp16 engines. trt_max_batch / imgsz: the profile of a dynamic batch (and H, W) for TensorRT.
    Prints one message per requested provider that is not running (stderr) when `verbose`.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: ONNX model not found")
    if optimization is None:
        optimization = os.environ.get(OPTIMIZATION_ENV) or "all"
    if optimization not in OPTIMIZATION_LEVELS:
        raise InputError(f"optimization: {optimization!r} is not one of {sorted(OPTIMIZATION_LEVELS)}")
    names = resolve_providers(providers)
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization]
    # Provider start-up failures are reported below in one line each; ONNX Runtime's own multi-line
    # warnings about missing CUDA/TensorRT libraries would only bury them.
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    profile = trt_profile_shapes(path, trt_max_batch, imgsz) if TENSORRT in names and TENSORRT in ort.get_available_providers() else {}
    try:
        with _quiet_provider_fallback():
            entries = provider_entries(names, trt_cache_dir, trt_fp16, profile)
            session = ort.InferenceSession(str(path), options, providers=entries)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise InputError(f"{path}: ONNX Runtime could not load the model ({str(exc).splitlines()[0][:200]})") from None
    active = session.get_providers()
    if verbose:
        for name in names:
            if name not in active:
                print(
                    f"perception.runtime: {name} could not be started for {path.name} "
                    f"(missing GPU/driver/libraries); falling back to {active[0]}",
                    file=sys.stderr,
                )
    return session


@contextlib.contextmanager
def _quiet_provider_fallback():
    """While a session starts, keep ONNX Runtime's own fallback chatter (multi-line C++ errors about missing
    CUDA/TensorRT libraries on the default logger, an "EP Error" banner printed to stdout) out of the output:
    create_session reports each fallback in one line instead, and stdout may carry a tool's results."""
    ort.set_default_logger_severity(4)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        ort.set_default_logger_severity(2)


def warm_up(session: ort.InferenceSession, batch: int = 1, imgsz: tuple[int, int] | None = None, runs: int = 1) -> None:
    """Run the model on zeros so first-call costs (allocations, TensorRT engine build) are paid up front."""
    feed = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else None for d in inp.shape]
        if len(shape) == 4:
            defaults = [batch, 3, *(imgsz or (640, 640))]
            shape = [d if d is not None else defaults[i] for i, d in enumerate(shape)]
        else:
            shape = [d if d is not None else 1 for d in shape]
        dtype = np.float16 if "float16" in inp.type else np.float32
        feed[inp.name] = np.zeros(shape, dtype)
    for _ in range(runs):
        session.run(None, feed)


def uses_cuda(session: ort.InferenceSession) -> bool:
    active = session.get_providers()
    return CUDA in active or TENSORRT in active


def binding_device(providers: list[str], provider_options: dict[str, dict]) -> tuple[str, int]:
    """(ONNX Runtime device name, device id) a session computes on, from its providers and their options: the
    GPU it was given (device_id), not always GPU 0."""
    for name in (TENSORRT, CUDA):
        if name in providers[:1]:
            return "cuda", int((provider_options.get(name) or {}).get("device_id", 0))
    return "cpu", 0


class DeviceBinding:
    """IO binding on the session's own device: one input buffer there per input (reallocated only when its shape
    or dtype changes, else overwritten in place), outputs allocated there by ONNX Runtime and copied back in one
    step, instead of per-run staging buffers."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.device, self.device_id = binding_device(session.get_providers(), session.get_provider_options())
        self.buffers: dict[str, tuple[tuple, ort.OrtValue]] = {}

    def _buffer(self, name: str, value: np.ndarray) -> ort.OrtValue:
        key = (value.shape, value.dtype.str)
        held = self.buffers.get(name)
        if held is not None and held[0] == key:
            held[1].update_inplace(value)
            return held[1]
        buffer = ort.OrtValue.ortvalue_from_numpy(value, self.device, self.device_id)
        self.buffers[name] = (key, buffer)
        return buffer

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        binding = self.session.io_binding()
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, self._buffer(name, np.ascontiguousarray(value)))
        for out in self.session.get_outputs():
            binding.bind_output(out.name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


def run_session(session: ort.InferenceSession, inputs: dict[str, np.ndarray], io_binding: bool = False) -> list[np.ndarray]:
    """Run and return the outputs in graph order as numpy arrays; with `io_binding`, through a DeviceBinding
    (a caller that runs many times keeps one DeviceBinding, so its input buffers are reused)."""
    if not io_binding:
        return session.run(None, inputs)
    return DeviceBinding(session).run(inputs)
