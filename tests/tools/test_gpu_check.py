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
    assert steps["export_on_device"]["figures"]["parity_max_rel_diff"] <= 1e-3
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


SESSION = REPO / "tools" / "gpu_session.sh"
COMES_BACK = {"files": 8, "file_mb": 16}  # what the device tool returns from $OUT (its README's limits)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_converge_session_dry_run_trains_evaluates_releases_and_packs_what_comes_back(tmp_path):
    """The second device call, end to end on the CPU through the same wrapper: the model trained for what the
    budget leaves (capped in the dry run), evaluated on the held-out seed, exported, released, timed; and
    $OUT holds only what the device tool can return."""
    import torch

    from perception.engine.checkpoint import load_checkpoint

    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, OUT=str(out), GPU_SESSION_WORK=str(work), GPU_SESSION_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(SESSION), "converge", "--device", "cpu", "--quick", "--budget", "900"],
                          capture_output=True, text=True, env=env, timeout=1150, cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    back = sorted(p.name for p in out.iterdir())
    assert back == ["converge_logs.tar.gz", "eval_report.md", "gpu_converge.json", "gpu_converge.md", "results.csv",
                    "results.png", "synthetic_n.md", "synthetic_n.pt"]
    assert len(back) <= COMES_BACK["files"] and all((out / n).stat().st_size < COMES_BACK["file_mb"] * 2**20 for n in back)

    result = json.loads((out / "gpu_converge.json").read_text())
    steps = {s["name"]: s for s in result["steps"]}
    listed = subprocess.run([sys.executable, str(SCRIPT), "--suite", "converge", "--list"], capture_output=True, text=True, check=True)
    assert list(steps) == [line.split()[0] for line in listed.stdout.splitlines()]
    assert not set(steps) & set(registered_steps())  # the check suite does not run them
    assert all(s["status"] == "pass" for s in steps.values()), {n: s.get("error") for n, s in steps.items()}
    train = steps["converge_train"]["figures"]
    assert train["time_budget_s"] == 8 and train["steps"] > 0  # the dry run's cap, not the whole budget
    assert steps["converge_eval"]["figures"]["num_images"] == 4  # the held-out val split (seed 777), not training's
    assert steps["converge_export"]["figures"]["parity_max_rel_diff"]["fp32"] <= 1e-3
    assert set(steps["converge_inference"]["figures"]) == {"fp32_b1", "bf16_b1", "fp32_b2", "bf16_b2"}
    best = load_checkpoint(work / "converge" / "work" / "converge" / "weights" / "best.pt")
    released = load_checkpoint(out / "synthetic_n.pt")  # fp16: the EMA weights rounded, the rest as they were
    assert all(torch.equal(released["model"][k], best["ema"][k].half() if best["ema"][k].is_floating_point() else best["ema"][k])
               for k in best["ema"])
    card = (out / "synthetic_n.md").read_text()  # the card quotes the held-out eval of the same run
    assert f"`perception eval` on 4 images of `{work / 'converge' / 'work' / 'heldout'}`" in card


def test_converge_refuses_a_budget_that_leaves_training_too_little(tmp_path):
    done = gpu_check(tmp_path, "--suite", "converge", "--only", "converge_data,converge_train", "--budget", "60")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    steps = {s["name"]: s for s in json.loads((tmp_path / "gpu_converge.json").read_text())["steps"]}
    assert steps["converge_data"]["status"] == "pass"
    assert steps["converge_train"]["status"] == "fail" and "raise --budget" in steps["converge_train"]["error"]


def test_converge_steps_after_a_failed_training_skip_and_say_why(tmp_path):
    done = gpu_check(tmp_path, "--suite", "converge", "--only", "converge_eval,converge_export")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    steps = json.loads((tmp_path / "gpu_converge.json").read_text())["steps"]
    assert [s["status"] for s in steps] == ["skip", "skip"]
    assert all("converge_train failed or did not run" in s["reason"] for s in steps)


def test_check_session_packs_its_reports_and_a_log_tarball(tmp_path):
    import tarfile

    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, OUT=str(out), GPU_SESSION_WORK=str(work), GPU_SESSION_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(SESSION), "check", "--device", "cpu", "--quick", "--only", "preflight,data"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["check_logs.tar.gz", "gpu_check.json", "gpu_check.md"]
    with tarfile.open(out / "check_logs.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"console.log", "logs/preflight.log", "logs/data.log", "steps/data.json"} <= names
    assert not any(n.endswith((".jpg", ".png", ".mp4", ".pt")) for n in names)  # no images, clips or weights
