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
    assert fp32["passed"] and max(fp32["max_abs_diff"].values()) <= 1e-3 and "lane" in fp32["max_abs_diff"]
    assert "CPUExecutionProvider" in summary["providers_available"]
    assert "parity fp32" in proc.stdout


def test_cli_bad_input_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "perception.cli.export", "--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("perception export: error:")
    assert "nope.pt" in proc.stderr and not (tmp_path / "m.onnx").exists()
