"""Multi-task learning in one home: how the task losses are balanced (`balancers`), PCGrad's gradient
surgery (`gradient_surgery`), the per-task backward pass the training step runs for them (`backward`), the
gradient monitor that watches for negative transfer (`monitor`), and the shared-vs-separate comparison
(`compare`, judged by `verdict`, tabulated by `report`; `perception compare-tasks`).

Names are imported on first use (PEP 562): the losses import `balancers` and the trainer imports `backward`,
and neither should pull in the comparison tool, which itself drives the trainer.
"""

from importlib import import_module

_HOMES = {"CompareConfig": "compare", "compare_tasks": "compare", "merge_comparisons": "compare",
          "render_markdown": "report", "write_chart": "report", "write_curves": "report"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'perception.multitask' has no attribute {name!r}")
    return getattr(import_module(f"perception.multitask.{_HOMES[name]}"), name)
