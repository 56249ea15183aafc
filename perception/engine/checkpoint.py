"""Checkpoints: atomic save (temp file + rename), weights_only loading, RNG state as plain tensors.

Everything stored is a tensor, a number, a string or a list/dict of them, so `torch.load(...,
weights_only=True)` reads it without executing pickled code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perception.atomic import atomic_path
from perception.errors import InputError
from perception.models.factory import read_checkpoint


def save_checkpoint(data: dict[str, Any], path: str | Path) -> Path:
    """torch.save to a temp file in the same folder, fsync, then rename over `path`: a reader (or a run
    killed mid-save) sees either the old complete file or the new complete file, never half of one."""
    path = Path(path)
    # Through an unbuffered Python file, not a path: torch's own writer reports a full disk as a RuntimeError
    # without an errno, while a Python write raises the OSError (ENOSPC) that atomic_path turns into one line.
    with atomic_path(path, fsync=True) as tmp, open(tmp, "wb", buffering=0) as handle:
        torch.save(data, handle)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    data = read_checkpoint(path, map_location)
    if not isinstance(data, dict) or "model" not in data:
        raise InputError(f"{path}: not a perception checkpoint (no 'model' entry)")
    return data


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, each as tensors."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": torch.tensor(mt_state, dtype=torch.int64),
        "python_version": int(version),
        "python_gauss": torch.tensor([float("nan") if gauss is None else gauss], dtype=torch.float64),
        "numpy": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_pos": torch.tensor([np_pos, np_has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([np_gauss], dtype=torch.float64),
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
    }
    assert np_name == "MT19937"
    return state


def restore_rng(state: dict[str, Any]) -> None:
    # Host tensors whatever map_location the checkpoint was read with (NumPy's state must be a host array).
    state = {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in state.items()}
    gauss = float(state["python_gauss"][0])
    random.setstate(
        (int(state["python_version"]), tuple(int(v) for v in state["python"].tolist()), None if np.isnan(gauss) else gauss)
    )
    pos, has_gauss = (int(v) for v in state["numpy_pos"].tolist())
    np.random.set_state(
        ("MT19937", state["numpy"].numpy().astype(np.uint32), pos, has_gauss, float(state["numpy_gauss"][0]))
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
