"""What every DataLoader worker process of the project runs first (`worker_init_fn`)."""

from __future__ import annotations

import cv2
import torch


def init_worker(worker_id: int) -> None:
    """One OpenCV and one torch thread per worker: the parallelism is the workers themselves.

    OpenCV otherwise starts a thread pool as wide as the machine in every worker (resize, decode, warpAffine),
    so 8 workers on 16 cores ran 8 x 16 threads that preempted each other and the training process."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
