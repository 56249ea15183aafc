"""tools/gpu_check.py: its CPU dry run passes every step (or says why a step cannot run on a CPU), and a step
that fails, or hangs, fails the check with exit status 1, so no GPU minute is spent on a bug of the script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "gpu_check.py"
# Steps that need CUDA: on a CPU they skip with the registry's reason.
CUDA_ONLY = {"fp16_overflow", "channels_last", "tensorrt", "fleet_ray"}


def gpu_check(out: Path, *args: str, fault: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("GPU_CHECK_FAULT", None)
    if fault:
        env["GPU_CHECK_FAULT"] = fault
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def report(out: Path) -> dict:
    return json.loads((out / "gpu_check.json").read_text())


def registered_steps() -> list[str]:
    listed = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in listed.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cpu_dry_run_passes_every_step_or_says_why(tmp_path):
    # A generous budget: on a loaded CI machine nothing may be dropped for time.
    done = gpu_check(tmp_path, "--budget", "1700", timeout=1750)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    result = report(tmp_path)
    steps = {s["name"]: s for s in result["steps"]}
    assert list(steps) == registered_steps()
    for name, s in steps.items():
        assert s["status"] in ("pass", "skip"), (name, s.get("error"))
        if s["status"] == "skip":
            assert s["reason"], name
    skipped = {name for name, s in steps.items() if s["status"] == "skip"}
    # `perception bench --train` arrives with the coordinator's training benchmark; until then it says so
    allowed = CUDA_ONLY | ({"throughput"} if steps["throughput"].get("reason") == "perception bench --train not available" else set())
    assert skipped <= allowed, {n: steps[n]["reason"] for n in skipped}
    assert CUDA_ONLY <= skipped  # a CPU cannot pretend to have run them

    parity = steps["loss_parity"]["figures"]
    assert parity["balancers"] == ["fixed", "uncertainty", "dwa", "gradnorm", "pcgrad"]
    assert all(parity[b]["grad_cosine"] >= 0.9999 and parity[b]["loss_rel_diff"] <= 1e-4 for b in parity["balancers"])
    # the API resume (checkpoint read onto the device) and the CLI resume (read onto the CPU) train the same steps
    assert steps["resume"]["figures"]["api_vs_cli_max_abs_diff"] == 0.0
    assert "collectives checked" in steps["ddp_two"]["figures"]["mode"]
    assert steps["export_on_device"]["figures"]["parity_max_abs_diff"] <= 1e-3
    assert steps["eval_parity"]["figures"]["max_metric_diff"] <= 0.01
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert all(f"| {name}" in markdown for name in steps)


def test_a_failed_parity_check_fails_the_run(tmp_path):
    """GPU_CHECK_FAULT=parity moves one weight of the device-side model: the real parity check must catch it."""
    done = gpu_check(tmp_path, "--only", "data,loss_parity", "--budget", "500", fault="parity")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    steps = {s["name"]: s for s in report(tmp_path)["steps"]}
    assert steps["data"]["status"] == "pass"
    assert steps["loss_parity"]["status"] == "fail"
    assert "differs from the CPU's" in steps["loss_parity"]["error"]
    assert "## loss_parity: failed" in (tmp_path / "gpu_check.md").read_text()
    assert "FAILED: loss_parity" in done.stdout


def test_a_hung_step_is_killed_at_the_deadline_and_reported(tmp_path):
    done = gpu_check(tmp_path, "--only", "data,loss_parity", "--budget", "8", fault="hang:data")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    steps = {s["name"]: s for s in report(tmp_path)["steps"]}
    assert steps["data"]["status"] == "fail" and steps["data"]["error"].startswith("timed out after 8 s")
    assert steps["data"]["seconds"] < 30  # killed, with its process group, at the deadline
    assert steps["loss_parity"]["status"] == "skip" and "budget" in steps["loss_parity"]["reason"]
