"""What the figures were measured on: CPU model, cores, threads, library versions, providers, date."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets that decide training and inference speed on a CPU (oneDNN's kernels, bf16, int8).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    """Which of SPEED_FLAGS this CPU has (from /proc/cpuinfo; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in SPEED_FLAGS if f in have]
    except OSError:
        pass
    return []


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def training_machine(device: Any, processes: int) -> dict[str, Any]:
    """What a training run ran on, as its checkpoints record it (plain strings and numbers): the device (and the
    GPU's name), the processes, the CPU, its speed flags and cores, torch's version."""
    import torch

    gpu = torch.cuda.get_device_name(device) if getattr(device, "type", "") == "cuda" else None
    return {"device": str(device), "gpu": gpu, "processes": processes, "cpu": cpu_model(), "cpu_flags": cpu_flags(),
            "cores": os.cpu_count(), "torch": str(torch.__version__)}  # str: TorchVersion would not load weights_only


def machine_info(threads: int, providers: list[str]) -> dict[str, Any]:
    """providers: the ONNX Runtime providers that actually started a session in this run."""
    import onnxruntime as ort
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "providers": providers,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_at_start": load_average(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    return info
