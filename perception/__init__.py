"""Multi-task driving perception: objects, pedestrians, lanes and drivable area from one encoder."""

__version__ = "0.1.0"
