"""PCGrad gradient surgery (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020).

When two tasks' gradients on the shared parameters point against each other (negative dot product), each
is projected onto the normal plane of the other before they are summed, so no task's update undoes
another's. Pure tensor math: the training step (perception.multitask.backward) gathers the gradients.
"""

from __future__ import annotations

import torch


def project_conflicting(grads: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """grads: (K, P) one flattened gradient per task -> (K, P) projected gradients (their sum is the update).

    For each task i, the other tasks j are visited in a random order (the paper's; `generator` makes it
    reproducible and identical on every rank) and, when g_i . g_j < 0, g_i -= (g_i . g_j / |g_j|^2) g_j.
    Dot products are taken against the original g_j, as in the paper's Algorithm 1.
    """
    k = grads.shape[0]
    projected = grads.clone()
    squared = (grads * grads).sum(dim=1)
    for i in range(k):
        # The visiting order is drawn on the host (a CPU generator, identical on every rank); the conflict test
        # is a tensor select, not a Python `if` on a device value, so nothing waits for the device.
        order = torch.randperm(k, generator=generator, device="cpu").tolist()
        for j in order:
            if j == i:
                continue
            dot = torch.dot(projected[i], grads[j])
            conflict = (dot < 0) & (squared[j] > 0)
            coef = torch.where(conflict, dot / squared[j].clamp(min=torch.finfo(grads.dtype).tiny), torch.zeros_like(dot))
            projected[i] -= coef * grads[j]
    return projected
