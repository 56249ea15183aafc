"""Sizes shared by the engine tests (not in conftest.py: `from conftest import` is ambiguous across folders)."""

TINY_IMGSZ = (64, 128)
