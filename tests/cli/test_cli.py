import json
import subprocess
import sys

from perception.cli.main import SUBCOMMANDS


def _perception(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "perception.cli.main", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_every_subcommand():
    result = _perception("--help")
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout


NESTED = {"data": ("check", "show")}


def test_every_subcommand_module_exists_and_has_help():
    for name in SUBCOMMANDS:
        for path in [(name, nested) for nested in NESTED[name]] if name in NESTED else [(name,)]:
            result = _perception(*path, "--help")
            assert result.returncode == 0, f"{path}: {result.stderr}"
            assert "--json" in result.stdout, path


def test_info_reports_params_and_gflops(tmp_path):
    out = tmp_path / "info.json"
    result = _perception("info", "--model", "s", "--imgsz", "384", "640", "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert set(summary["parts"]) == {"backbone", "neck", "objects", "pedestrians", "lanes", "drivable"}
    total = summary["total"]
    # The budget for the default scale at 640x384 with four heads.
    assert total["gflops"] <= 8.0 and total["params"] <= 8_000_000
    assert abs(sum(p["gflops"] for p in summary["parts"].values()) - total["gflops"]) < 0.05 * total["gflops"]
    assert "total" in result.stdout


def test_bad_argument_is_one_line_error(tmp_path):
    result = _perception("info", "--model", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1
