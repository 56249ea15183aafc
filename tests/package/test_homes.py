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


# Modules split or moved to a home that says what they are: none may come back under its old name.
RETIRED_MODULES = {
    "losses/balancing.py": "multitask/balancers.py",
    "losses/gradient_surgery.py": "multitask/gradient_surgery.py",
    "engine/task_backward.py": "multitask/backward.py",
    "engine/gradient_monitor.py": "multitask/monitor.py",
    "engine/run_setup.py": "engine/resume.py, engine/run_folder.py and engine/synthetic_data.py",
}


def test_retired_modules_stay_retired():
    back = [f"perception/{old} (now {new})" for old, new in RETIRED_MODULES.items() if (PACKAGE / old).exists()]
    assert not back, f"a module came back under its old name: {back}"
    assert all((PACKAGE / new.split(",")[0].split(" and ")[0]).exists() for new in RETIRED_MODULES.values())


def test_every_folder_of_the_package_is_a_regular_package():
    """A folder of modules without __init__.py is a namespace package: importable by accident, easy to miss."""
    folders = {path.parent for path in PACKAGE.rglob("*.py")}
    missing = sorted(str(f.relative_to(PACKAGE.parent)) for f in folders if not (f / "__init__.py").exists())
    assert not missing, f"package folders without __init__.py: {missing}"
