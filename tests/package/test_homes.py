"""One home per idea, kept: what moved into its home cannot grow back elsewhere (AST scans of perception/)."""

from __future__ import annotations

import ast
import re
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
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets = [node.target] if isinstance(node, ast.AnnAssign) else targets
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
            balancer = _defines(cls, "current_weights") or _defines(cls, "gradient_mode")
            if balancer or cls.name in {"TaskBackward", "GradientMonitor"}:
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
    "models/lane_attributes.py": "models/marking_head.py",
    "lane_attributes.py": "markings.py",
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


# Public module-level names defined in more than one module of perception (cli/ aside), each with why it is
# still allowed. A name leaves this list when its duplicate goes; a new duplicate fails the test below.
KNOWN_DUPLICATES = {
    "GPU_PROVIDERS": "video/fleet.py: provider names a user may give; bench/suite.py: ONNX Runtime's own names",
    "LOG": "data/dataset.py and data/errors.py: the same logger, fetched by name",
    "PARTS": "models/summary.py: model parts; bench/train_bench.py: parts of a training step",
    "render_markdown": "bench/report.py and multitask/report.py: each report's own renderer",
}
# Names retired for another: none may be defined again anywhere in perception.
RETIRED_NAMES = {
    "Timing": "bench.runners.BatchTiming (one letter from timing.Timings)",
    "run_setup": "engine.resume / engine.run_folder / engine.synthetic_data",
    "LaneAttributeHead": "models.marking_head.LaneMarkingHead (the feature is 'markings' in the CLI and JSON)",
    "IGNORE": "classes.IGNORE_INDEX (the 255 label value) or data.sources.base.IGNORE_REGION (the class-map target)",
    "LANE_CATEGORIES": "markings.BDD_LANE_CATEGORIES",
}


def _public_definitions() -> dict[str, list[str]]:
    defined: dict[str, list[str]] = {}
    for path, tree in _trees():
        if path.startswith("perception/cli/"):
            continue
        for node in tree.body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()]
            for name in names:
                if not name.startswith("_"):
                    defined.setdefault(name, []).append(path)
    return defined


def test_one_definition_per_public_name():
    defined = _public_definitions()
    twice = {name: paths for name, paths in defined.items() if len(paths) > 1 and name not in KNOWN_DUPLICATES}
    assert not twice, f"one name, one thing: {twice}"
    stale = [name for name in KNOWN_DUPLICATES if len(defined.get(name, ())) < 2]
    assert not stale, f"no longer duplicated; remove from KNOWN_DUPLICATES: {stale}"
    back = {name: defined[name] for name in RETIRED_NAMES if name in defined}
    assert not back, f"retired names defined again (use {[RETIRED_NAMES[n] for n in back]}): {back}"


def test_test_helpers_have_one_home_and_one_import_style():
    """Helpers a test imports live in tests/helpers (pyproject's pytest pythonpath) and are imported by name."""
    tests = PACKAGE.parent / "tests"
    stray = sorted(str(p.relative_to(tests)) for p in tests.rglob("*.py") if not p.name.startswith("test_")
                   and p.name not in ("conftest.py", "__init__.py") and p.parent.name != "helpers")
    assert not stray, f"test helpers outside tests/helpers: {stray}"
    by_path = sorted(str(p.relative_to(tests)) for p in tests.rglob("*.py")
                     if re.search(r"^(from|import) tests\.", p.read_text(), re.MULTILINE))
    assert not by_path, f"helpers imported as tests.<folder>.<module>: {by_path}"


def test_every_config_class_is_on_the_config_base():
    """One way to build, check and write a config: a class named *Config derives from ConfigBase."""
    off_base = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Config") and node.name != "ConfigBase":
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if "ConfigBase" not in bases:
                    off_base.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not off_base, f"config classes off ConfigBase: {off_base}"
