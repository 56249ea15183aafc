"""Shared vs separate models, measured: `compare_tasks` trains both under one budget; `report` tabulates."""

from perception.multitask.compare import CompareConfig, compare_tasks
from perception.multitask.report import render_markdown, write_chart

__all__ = ["CompareConfig", "compare_tasks", "render_markdown", "write_chart"]
