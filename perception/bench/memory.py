"""Peak memory: process resident set size (Linux /proc, or getrusage) and CUDA's allocator peak."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next `peak_rss_mb` covers only what runs after.

    Writing "5" to clear_refs does this on Linux >= 4.0; elsewhere the peak stays process-wide (returns False).
    """
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB since start (or since the last successful reset)."""
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def current_rss_mb() -> float | None:
    rss = _status_kb("VmRSS")
    return None if rss is None else rss / 1024.0


def reset_cuda_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def cuda_peak_mb() -> float | None:
    """torch.cuda.max_memory_allocated in MiB, None without CUDA (ONNX Runtime's CUDA arena is not seen)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / (1024.0 * 1024.0)
