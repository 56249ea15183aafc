"""DataLoader worker processes: what the parent does before forking them, and what each runs first."""

from __future__ import annotations

import cv2
import torch


def prepare_fork() -> None:
    """Call in the parent when it builds a loader with workers: OpenCV single-threaded (as ultralytics does),
    which the forked workers inherit.

    OpenCV otherwise runs a thread pool as wide as the machine in every worker (resize, decode, warpAffine), so
    8 workers on 16 cores ran 8 x 16 threads that preempted each other and the training process. Setting it in
    the worker instead is not safe: a forked child that calls cv2.setNumThreads after the parent's pool has run
    waits forever on a lock copied in its locked state (the end-of-training validation of best.pt hung so;
    tests/engine/test_train_data.py reproduces it)."""
    cv2.setNumThreads(0)


def init_worker(worker_id: int) -> None:
    """One torch thread per worker: the parallelism is the workers themselves (OpenCV's is set by prepare_fork)."""
    torch.set_num_threads(1)
