"""One home per idea, kept: what moved into its home cannot grow back elsewhere (AST scans of perception/)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "perception"


def _trees():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text(), str(path))


def _classes(tree: ast.AST):
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _defines(cls: ast.ClassDef, name: str) -> bool:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def test_multitask_learning_lives_in_perception_multitask():
    """A task balancer (a class with `current_weights` or a `gradient_mode`), gradient surgery, the per-task
    backward and the gradient monitor are defined in perception/multitask/ only."""
    outside = []
    for path, tree in _trees():
        if path.startswith("perception/multitask/"):
            continue
        for cls in _classes(tree):
            if _defines(cls, "current_weights") or _defines(cls, "gradient_mode") or cls.name in {"TaskBackward", "GradientMonitor"}:
                outside.append(f"{path}: class {cls.name}")
        outside += [f"{path}: def {node.name}" for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and node.name in {"project_conflicting", "build_balancer"}]
    assert not outside, f"multi-task learning belongs in perception/multitask/: {outside}"
    for gone in ("losses/balancing.py", "losses/gradient_surgery.py", "engine/task_backward.py", "engine/gradient_monitor.py"):
        assert not (PACKAGE / gone).exists(), f"perception/{gone} came back; its home is perception/multitask/"
