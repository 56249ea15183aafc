import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cli_export_writes_model_and_summary(tmp_path):
    out, summary_path = tmp_path / "m.onnx", tmp_path / "summary.json"
    cmd = [sys.executable, "-m", "perception.cli.export", "--model", "n", "--out", str(out), "--imgsz", "64", "128",
           "--half", "--no-simplify", "--json", str(summary_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["files"]["fp32"]["bytes"] == out.stat().st_size
    assert summary["files"]["fp16"]["bytes"] < summary["files"]["fp32"]["bytes"]
    fp32 = summary["parity"]["fp32"]
    assert fp32["passed"] and max(fp32["max_rel_diff"].values()) <= 1e-3 and "lane" in fp32["max_abs_diff"]
    assert "CPUExecutionProvider" in summary["providers_available"]
    assert "parity fp32" in proc.stdout


def test_cli_bad_input_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "perception.cli.export", "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("perception export: error:")
    assert "nope.pt" in proc.stderr and not (tmp_path / "m.onnx").exists()


def _export(*args, timeout=300):
    cmd = [sys.executable, "-m", "perception.cli.export", "--model", "n", "--imgsz", "64", "128", "--no-simplify", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_failed_int8_export_leaves_no_onnx_behind(tmp_path):
    import cv2
    import numpy as np

    out = tmp_path / "m.onnx"
    empty = tmp_path / "calib_empty"
    empty.mkdir()
    proc = _export("--out", str(out), "--int8", "--calib", str(empty))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines[-1].startswith("perception export: error:") and "calib_empty" in lines[-1]
    assert "Traceback" not in proc.stderr and not list(tmp_path.glob("*.onnx"))
    # a failure after the FP32 file was written (INT8 calibration: one image for a fixed batch of 2) removes it too
    one = tmp_path / "calib_one"
    one.mkdir()
    cv2.imwrite(str(one / "a.jpg"), np.full((64, 128, 3), 100, np.uint8))
    proc = _export("--out", str(out), "--batch", "2", "--int8", "--calib", str(one))
    assert proc.returncode == 2 and "fixed batch needs 2" in proc.stderr.strip().splitlines()[-1], proc.stderr[-2000:]
    assert not [p.name for p in tmp_path.iterdir() if ".onnx" in p.name]  # nor temp files


def test_out_naming_a_folder_is_one_line(tmp_path):
    proc = _export("--out", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"perception export: error: --out {tmp_path}: is a folder; name the .onnx file to write"


def test_export_without_a_model_names_the_flag(tmp_path, capsys):
    from perception.cli.main import main

    assert main(["export", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "export: give --model CHECKPOINT.pt" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()
