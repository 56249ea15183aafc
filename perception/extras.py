"""Which optional extra installs which module.

`pip install perception` is the torch-free deployment install: `perception.runtime` and `perception infer`
on ONNX models. Training, export, evaluation and benchmarks need `perception[train]`; `infer --ray` needs
`perception[fleet]`. A command that reaches a missing module says, in one line, which extra to install.
"""

from __future__ import annotations

# Top-level module -> extra; kept in step with [project.optional-dependencies] in pyproject.toml.
MODULE_EXTRAS = {
    "torch": "train",
    "torchvision": "train",
    "albumentations": "train",
    "onnx": "train",
    "onnxslim": "train",
    "pycocotools": "train",
    "matplotlib": "train",
    "tensorboard": "train",
    "ray": "fleet",
}


def missing_extra_hint(exc: ModuleNotFoundError) -> str | None:
    """One line naming the missing module and the extra that installs it; None for any other missing module."""
    module = (exc.name or "").split(".")[0]
    extra = MODULE_EXTRAS.get(module)
    if extra is None:
        return None
    return f"needs {module}, which is not installed: pip install 'perception[{extra}]'"
