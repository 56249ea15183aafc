"""One error contract: every user mistake is one of the project's error types (perception.errors), printed by the
one runner (cli/main.run_command) as one line with exit code 2, never as a traceback.

The `perception` command runs in a subprocess where the whole path matters (the console entry, a module run
alone); elsewhere `main(argv)` runs in-process, where an error escaping the runner fails the test outright."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from perception.cli.main import main
from perception.config import ModelConfig
from perception.data.synthetic.writer import generate_dataset
from perception.models import build_model

PACKAGE = Path(__file__).resolve().parents[2] / "perception"
IMGSZ = ("64", "96")


def _perception(*args: str, module: str = "perception.cli.main", env: dict | None = None, timeout: int = 300):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class Ran:
    """What an in-process `perception ARGS` left: its exit code and stderr, as a subprocess would."""

    def __init__(self, argv: list[str], capsys):
        self.returncode = main(argv)
        self.stderr = capsys.readouterr().err


def assert_one_line_error(done, command: str, *names: str) -> str:
    """Exit 2, no traceback, and the last line of stderr is the runner's one line naming `names`."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"perception {command}: error: "), done.stderr[-3000:]
    for name in names:
        assert name in line, (name, line)
    return line


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    generate_dataset(root / "synth", 4, seed=1, imgsz=(64, 96), val_fraction=0.5, workers=1, progress=False)
    return root


def test_weights_of_another_scale(world):
    config = ModelConfig(scale="s", imgsz=(64, 96))
    torch.save({"model": build_model(config).state_dict(), "ema": None, "config": config.to_dict()}, world / "s.pt")
    done = _perception("train", "--data", str(world / "synth"), "--weights", str(world / "s.pt"), "--model", "n",
                       "--imgsz", *IMGSZ, "--epochs", "1", "--out", str(world / "run"))
    assert_one_line_error(done, "train", "s.pt", "scale 's'", "--model s")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, names", [
    (["--fraction", "0"], ["compare.fraction: 0.0", "(0, 1]"]),
    (["--fraction", "1.5"], ["compare.fraction: 1.5"]),
    (["--tasks", "lanes,boats"], ["compare.tasks: ['lanes', 'boats']"]),
    (["--tasks", "lanes,drivable", "--fraction", "0.5", "--fraction-task", "objects"], ["compare.fraction_task: 'objects'"]),
    (["--tasks", "lanes"], ["compare.tasks: ['lanes'] must be two or more"]),
    (["--seeds", "1,1"], ["compare.seeds: [1, 1] must be one or more different seeds"]),
    (["--balancing", "mgda"], ["compare.balancers: ['mgda']", "pcgrad"]),
    (["--max-steps", "0"], ["compare.max_steps: 0 must be >= 1"]),
])
def test_compare_tasks_bad_flags(world, flags, names, capsys):
    done = Ran(["compare-tasks", "--data", str(world / "synth"), "--out", str(world / "compare"), *flags], capsys)
    assert_one_line_error(done, "compare-tasks", *names)
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_files_are_the_same_error_in_every_loader(world, capsys):
    missing_data = Ran(["compare-tasks", "--data", str(world / "nothing")], capsys)
    assert_one_line_error(missing_data, "compare-tasks", "nothing")
    for config_flag in (["--model", str(world / "nope.yaml")], ["--data", str(world / "nope.yaml")]):
        done = Ran(["train", *config_flag, "--out", str(world / "run")], capsys)
        assert_one_line_error(done, "train", "nope.yaml", "not found")
    # both loaders raise MissingFileError (a FileNotFoundError) for a config file that is not there
    from perception.config import load_model_config
    from perception.data.dataset_config import load_dataset_config
    from perception.errors import MissingFileError

    for load in (load_model_config, load_dataset_config):
        with pytest.raises(MissingFileError, match="nope.yaml"):
            load(world / "nope.yaml")


def test_a_dataset_whose_every_image_is_unreadable(world, capsys):
    broken = world / "broken"
    for split in ("train", "val"):
        (broken / "images/100k" / split).mkdir(parents=True)
    for path in (world / "synth/images/100k").rglob("*.jpg"):
        (broken / path.relative_to(world / "synth")).write_bytes(b"not a jpeg")
    (broken / "labels").symlink_to(world / "synth/labels")
    done = Ran(["data", "show", "--data", str(broken), "--split", "train", "--num", "1", "--imgsz", *IMGSZ,
                "--out", str(world / "grid.png")], capsys)
    assert_one_line_error(done, "data", str(broken), "every one of the 2 items failed to load")


def test_the_export_module_run_alone_uses_the_one_runner(tmp_path):
    args = ("--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx"))
    done = _perception(*args, module="perception.cli.export", timeout=120)
    assert_one_line_error(done, "export", "nope.pt")
    assert len(done.stderr.strip().splitlines()) == 1
    debug = _perception(*args, module="perception.cli.export", env={"PERCEPTION_DEBUG": "1"}, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr  # --debug's traceback, as for `perception`
    assert debug.stderr.strip().splitlines()[-1] == done.stderr.strip().splitlines()[-1]


def test_only_the_runner_catches_project_errors_or_prints_tracebacks():
    project_errors = {"PerceptionError", "InputError", "MissingFileError", "ConfigError", "LabelError", "ParityError"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = set()
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
            if path.parent.name == "cli" and path.name != "main.py" and names & project_errors:
                found.append(f"{path.name}:{node.lineno} catches {sorted(names & project_errors)}")
            if isinstance(node, ast.Attribute) and node.attr in ("print_exc", "print_exception", "format_exc"):
                if path != PACKAGE / "cli" / "main.py":
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} prints a traceback")
    assert not found, "one runner (cli/main.run_command) turns project errors into one line: " + "; ".join(found)


# Error classes that are not user mistakes, and why.
NOT_USER_ERRORS = {"PipelineError": "wraps whatever a video stage raised, bugs included, and keeps its traceback",
                   "FieldTypeError": "internal to config_types: ConfigBase turns it into a ConfigError naming file and key"}


def test_no_second_user_error_type():
    # An error class outside perception/errors.py is a kind of bad input or missing file (ConfigError, LabelError,
    # ParityError), not a second general-purpose one: CLIError(PerceptionError, RuntimeError) duplicated InputError.
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error") and path.name != "errors.py":
                bases = {ast.unparse(b) for b in node.bases}
                if not bases & {"InputError", "MissingFileError", "ConfigError"}:
                    found.append(node.name)
    assert sorted(found) == sorted(NOT_USER_ERRORS)
