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
    assert set(summary["parts"]) == {"backbone", "neck", "objects", "pedestrians", "lanes", "lane markings", "drivable"}
    total = summary["total"]
    # The budget for the default scale at 640x384 with four heads.
    assert total["gflops"] <= 8.0 and total["params"] <= 8_000_000
    assert abs(sum(p["gflops"] for p in summary["parts"].values()) - total["gflops"]) < 0.05 * total["gflops"]
    assert "total" in result.stdout


def test_bad_argument_is_one_line_error(tmp_path):
    result = _perception("info", "--model", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bug_keeps_its_traceback_and_user_error_is_one_line(capsys):
    import numpy as np

    from perception.cli.main import run_command
    from perception.errors import InputError

    def numpy_bug():
        return np.zeros(3).reshape(2, 2)  # a real numpy ValueError: a bug, not a bad flag

    try:
        run_command("eval", numpy_bug)
    except ValueError as exc:
        assert "reshape" in str(exc)
    else:
        raise AssertionError("a numpy ValueError was turned into a one-line user error")

    def bad_flag():
        raise InputError("--batch 0: must be >= 1")

    assert run_command("eval", bad_flag) == 2
    assert capsys.readouterr().err.strip() == "perception eval: error: --batch 0: must be >= 1"
    assert run_command("eval", bad_flag, debug=True) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("--batch 0: must be >= 1")


def test_debug_env_prints_traceback_for_user_errors(tmp_path):
    import os

    env = {**os.environ, "PERCEPTION_DEBUG": "1"}
    result = subprocess.run([sys.executable, "-m", "perception.cli.main", "info", "--model", str(tmp_path / "nope.yaml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2 and "Traceback" in result.stderr and "nope.yaml" in result.stderr.splitlines()[-1]


def test_info_refuses_architecture_flags_with_a_checkpoint_and_bad_imgsz(tmp_path):
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"")
    result = _perception("info", "--model", str(ckpt), "--no-heads", "lanes")
    assert result.returncode == 2 and "--backbone/--no-heads" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = _perception("info", "--imgsz", "8", "8")
    assert result.returncode == 2 and "--imgsz" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_train_flags_are_the_train_config_fields():
    """Every TrainConfig field with help text is a `perception train` flag, parsed back into the config."""
    import dataclasses

    from perception.cli.common import config_flags
    from perception.cli.main import build_parser
    from perception.engine.train_config import TrainConfig

    args = build_parser().parse_args(["train", "--epochs", "3", "--imgsz", "64", "128", "--grad-monitor", "5",
                                      "--no-ema", "--compile", "--ema-decay", "0.99", "--amp", "off"])
    flags = config_flags(args, TrainConfig)
    assert flags == {"epochs": 3, "imgsz": [64, 128], "grad_monitor_period": 5, "ema": False, "compile": True,
                     "ema_decay": 0.99, "amp": "off"}
    config = TrainConfig.from_dict(flags)
    assert (config.imgsz, config.ema, config.amp) == ((64, 128), False, "off")
    options = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("help")}
    assert options >= {"data", "model", "epochs", "batch", "lr", "val_period", "freeze", "weights", "augment"}
