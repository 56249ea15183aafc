"""The torch twin of `perception.preprocess.normalize`: uint8 images normalised where they already are.

The loaders send uint8 images (a quarter of float32's bytes through shared memory, pinning and the
host-to-device copy); the trainer's `move_batch` and the TorchPredictor's prepared-batch path normalise them
on the device. The constants and the two rounding steps are numpy's (multiply by 1 / (255 std), then add
-mean / std, both float32), so a CPU gives the runtime's inputs to the last bit.
"""

from __future__ import annotations

import numpy as np
import torch

_CONSTANTS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _constants(mean, std, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (tuple(float(m) for m in mean), tuple(float(s) for s in std), str(device))
    if key not in _CONSTANTS:  # built once per device: no host-to-device copy per step
        std32 = np.asarray(std, np.float32)
        scale = (1.0 / (255.0 * std32)).reshape(-1, 1, 1)
        shift = (-np.asarray(mean, np.float32) / std32).reshape(-1, 1, 1)
        _CONSTANTS[key] = (torch.from_numpy(scale).to(device), torch.from_numpy(shift).to(device))
    return _CONSTANTS[key]


def normalize_uint8(images: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, 3, H, W) or (3, H, W) uint8 RGB -> float32 (x/255 - mean) / std on the images' device."""
    if images.dtype != torch.uint8:
        raise TypeError(f"normalize_uint8 takes uint8 images, got {images.dtype}")
    scale, shift = _constants(mean, std, images.device)
    return images.float().mul_(scale).add_(shift)
