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


def resolve_providers(providers: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """None/'auto' -> TensorRT, CUDA, CPU; 'cuda' -> CUDA, CPU; names or short aliases otherwise.

    CPU is always appended last so a session can always be created.
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
    if CPU not in names:
        names.append(CPU)
    return list(dict.fromkeys(names))


def _provider_entries(names: list[str], trt_cache_dir: str | Path | None, trt_fp16: bool) -> list:
    entries = []
    for name in names:
        if name == TENSORRT:
            options = {"trt_fp16_enable": bool(trt_fp16)}
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
) -> ort.InferenceSession:
    """Create an InferenceSession on the first provider that actually starts.

    providers: None/'auto' (TensorRT, CUDA, CPU), a comma list or list of names/aliases.
    threads: intra-op threads (None: ONNX Runtime's default, all cores).
    spin: let idle intra-op threads spin between ops (ONNX Runtime's default, best for the model alone);
        False when other busy threads share the cores, such as the video tool's decode and encode stages.
    optimization: disable | basic | extended | all (graph optimisation level); None: $PERCEPTION_ORT_OPTIMIZATION,
        else all.
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
    try:
        with _quiet_provider_fallback():
            session = ort.InferenceSession(str(path), options, providers=_provider_entries(names, trt_cache_dir, trt_fp16))
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


def run_session(session: ort.InferenceSession, inputs: dict[str, np.ndarray], io_binding: bool = False) -> list[np.ndarray]:
    """Run and return the outputs in graph order as numpy arrays.

    With `io_binding` (CUDA/TensorRT), inputs are copied to the device once and outputs are allocated by
    ONNX Runtime on the device and copied back in one step, instead of per-run staging buffers.
    """
    if not io_binding:
        return session.run(None, inputs)
    binding = session.io_binding()
    for name, value in inputs.items():
        device_value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), "cuda", 0)
        binding.bind_ortvalue_input(name, device_value)
    for out in session.get_outputs():
        binding.bind_output(out.name, "cuda", 0)
    session.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()
