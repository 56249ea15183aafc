"""Multi-task driving perception: objects, pedestrians, lanes and drivable area from one encoder."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while they wait collapse when another process shares the cores (DataLoader workers,
# the video tool's threads, a second job): on 2 busy cores a training step measured 5x slower with spinning
# than without. Passive waiting costs little when the cores are free. Only a default: set OMP_WAIT_POLICY
# yourself to override it; it has no effect when torch was imported before perception.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
