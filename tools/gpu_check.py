#!/usr/bin/env python
"""Exercise every GPU path of the project in about five minutes, one step per process.

    python tools/gpu_check.py --out DIR                       # on the GPU (default --device cuda)
    python tools/gpu_check.py --device cpu --quick --out DIR  # dry run of the same steps on a CPU (tests/tools)
    python tools/gpu_check.py --suite converge --out DIR      # then: train, evaluate, export, release, time a model

tools/gpu_session.sh runs either suite on the device machine and packs what comes back.

Each step (tools/gpu_check_training.py and gpu_check_deploy.py: one function per step) runs in a child process of its own with its own
timeout, so a CUDA assert, a crash or a hang in one step cannot hide the others. The steps share files
through DIR/work (the synthetic data, the trained checkpoint). Every step's pass/fail/skip, seconds, figures
and error tail go to DIR/gpu_check.json and DIR/gpu_check.md; each child's full output to DIR/logs/STEP.log.
The exit status is 1 when any step failed.

--suite converge (tools/gpu_check_converge.py) trains the synthetic-world model for what --budget leaves once
the steps after training are provided for. --budget S is a deadline for the whole suite: optional steps are dropped first when the required ones
that are still to run would not fit, and no step runs past it (its timeout is cut to what is left).

Test-only fault injection (tests/tools/test_gpu_check.py proves the failure paths with it):
GPU_CHECK_FAULT=parity adds 0.05 to one weight of the device-side model in `loss_parity`, so its parity
check fails for real; GPU_CHECK_FAULT=hang:STEP makes STEP sleep until its timeout kills it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_check_core import DEADLINE_ENV, FAULT_ENV, REPO, STEPS, SUITES, StepContext, run_step_here  # noqa: E402
import gpu_check_training  # noqa: E402,F401 - registers the training steps, in order
import gpu_check_deploy  # noqa: E402,F401 - then the evaluation, export, inference and speed steps
import gpu_check_converge  # noqa: E402,F401 - the converge suite: a model trained for what the budget leaves

DEFAULT_BUDGET = {"check": 330.0, "converge": 585.0}  # converge: every step; 465 fits its required ones
ERROR_TAIL = 2500  # characters of a failed step's output kept in the report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, metavar="DIR", help="report folder (gpu_check.json, gpu_check.md, logs/)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="the device under test (default cuda); cpu is the dry run")
    parser.add_argument("--suite", default="check", choices=SUITES,
                        help="check: every GPU path in minutes (default); converge: train the synthetic-world model for "
                        "what --budget leaves, evaluate it on held-out data, export and release it, time it")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (scale n, 64x128, a few steps): the dry run")
    parser.add_argument("--budget", type=float, default=None, metavar="S",
                        help="deadline for the whole suite in seconds (default: check "
                        f"{DEFAULT_BUDGET['check']:.0f}, converge {DEFAULT_BUDGET['converge']:.0f})")
    parser.add_argument("--only", default=None, metavar="STEPS", help="comma-separated steps to run (default all)")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument("--run-step", default=None, help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    args.budget = DEFAULT_BUDGET[args.suite] if args.budget is None else args.budget
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for step in (s for s in STEPS.values() if s.suite == args.suite):
            print(f"{step.name:<22}{'optional ' if step.optional else ''}~{step.seconds:.0f} s  {step.what}")
        return 0
    if args.out is None:
        print("gpu_check: --out DIR is required", file=sys.stderr)
        return 2
    ctx = StepContext(out=Path(args.out).resolve(), device=args.device, quick=args.quick)
    if args.run_step:
        return run_step_here(STEPS[args.run_step], ctx)
    only = None if args.only is None else {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = sorted((only or set()) - set(STEPS))
    if unknown:
        print(f"gpu_check: --only: unknown step(s) {unknown}; steps are {list(STEPS)}", file=sys.stderr)
        return 2
    names = [n for n, s in STEPS.items() if s.suite == args.suite and (only is None or n in only)]  # registry order
    results = run_all(names, ctx, args)
    write_reports(results, ctx, args)
    failed = [r["name"] for r in results if r["status"] == "fail"]
    print(f"gpu_check: {len(results) - len(failed)} of {len(results)} steps passed or skipped"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + f" -> {ctx.out / report_name(args.suite)}.md")
    return 1 if failed else 0


def run_all(names: list[str], ctx: StepContext, args: argparse.Namespace) -> list[dict]:
    """Run the steps in registry order within the budget; optional ones are dropped first."""
    deadline = time.monotonic() + args.budget
    results = []
    for i, name in enumerate(names):
        step = STEPS[name]
        left = deadline - time.monotonic()
        required_after = sum(STEPS[n].seconds for n in names[i + 1 :] if not STEPS[n].optional)
        if step.cuda_only and ctx.device != "cuda":
            result = skipped(step, step.cuda_only)
        elif step.optional and left - step.seconds < required_after:
            result = skipped(step, f"dropped: {left:.0f} s of --budget left, the required steps after it need ~{required_after:.0f} s")
        elif left < 1:
            result = skipped(step, f"not run: the --budget of {args.budget:.0f} s was spent")
        else:
            result = run_child(step, ctx, timeout=min(step.timeout, left), deadline=time.time() + left)
        results.append(result)
        shown = result.get("reason") or (result.get("error") or "").strip().splitlines()[-1:] or ""
        print(f"[{result['status']:>4}] {name:<22}{result['seconds']:7.1f} s {result.get('cpu_s', 0.0):7.1f} s CPU  "
              f"{''.join(shown)[:150]}", flush=True)
    return results


def report_name(suite: str) -> str:
    return "gpu_check" if suite == "check" else f"gpu_{suite}"


def skipped(step, reason: str) -> dict:
    return {"name": step.name, "what": step.what, "optional": step.optional, "status": "skip", "seconds": 0.0,
            "reason": reason, "figures": {}}


def run_child(step, ctx: StepContext, timeout: float, deadline: float) -> dict:
    """`gpu_check.py --run-step NAME` in its own process group (torchrun's ranks die with it on a timeout)."""
    log_path = ctx.out / "logs" / f"{step.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result_path = ctx.result_path(step.name)
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--run-step", step.name, "--out", str(ctx.out),
               "--device", ctx.device] + (["--quick"] if ctx.quick else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1", **{DEADLINE_ENV: f"{deadline:.3f}"})
    start, cpu_start = time.monotonic(), _children_cpu()
    with open(log_path, "w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ctx.work,
                                 start_new_session=True)
        try:
            rc = child.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            rc, timed_out = child.wait(), True
    seconds = round(time.monotonic() - start, 2)
    cpu_s = round(_children_cpu() - cpu_start, 2)  # the step's processes' CPU time (torchrun's ranks too)
    tail = log_path.read_text(errors="replace")[-ERROR_TAIL:]
    if timed_out:
        return skipped(step, "") | {"status": "fail", "seconds": seconds, "cpu_s": cpu_s, "reason": "",
                                    "error": f"timed out after {timeout:.0f} s (killed)\n{tail}"}
    if not result_path.is_file():
        return skipped(step, "") | {"status": "fail", "seconds": seconds, "cpu_s": cpu_s, "reason": "",
                                    "error": f"the step's process died (exit status {rc}) before reporting\n{tail}"}
    result = json.loads(result_path.read_text())
    result |= {"seconds": seconds, "cpu_s": cpu_s, "what": step.what, "optional": step.optional}
    if result["status"] == "fail":
        result["error"] = result.get("error", "") or tail
    return result


def _commit() -> str | None:
    """The checkout's commit, so a report names the code it checked (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_reports(results: list[dict], ctx: StepContext, args: argparse.Namespace) -> None:
    report = {
        "commit": _commit(),
        "suite": args.suite,
        "device": ctx.device,
        "quick": ctx.quick,
        "budget_s": args.budget,
        "seconds": round(sum(r["seconds"] for r in results), 2),
        "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in results), 2),
        "passed": sum(r["status"] == "pass" for r in results),
        "failed": sum(r["status"] == "fail" for r in results),
        "skipped": sum(r["status"] == "skip" for r in results),
        "fault": os.environ.get(FAULT_ENV) or None,
        "steps": results,
    }
    name = report_name(args.suite)
    (ctx.out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (ctx.out / f"{name}.md").write_text(markdown(report))


def markdown(report: dict) -> str:
    lines = [f"# GPU {report['suite']} ({report['device']}{', quick' if report['quick'] else ''}, commit {report['commit']})", "",
             f"{report['passed']} passed, {report['failed']} failed, {report['skipped']} skipped in "
             f"{report['seconds']:.0f} s ({report['cpu_s']:.0f} s of CPU; budget {report['budget_s']:.0f} s).", "",
             "| step | status | s | figures / reason |", "| --- | --- | ---: | --- |"]
    for r in report["steps"]:
        note = (r.get("reason") or (r.get("error") or "").strip()[:200]) if r["status"] != "pass" else ""
        figures = ", ".join(f"{k} {_short(v)}" for k, v in r.get("figures", {}).items())
        shown = "; ".join(part for part in (note, figures) if part)
        lines.append(f"| {r['name']}{' (optional)' if r.get('optional') else ''} | {r['status']} | {r['seconds']:.1f} | "
                     f"{shown} |".replace("\n", " "))
    for r in report["steps"]:
        if r["status"] == "fail":
            lines += ["", f"## {r['name']}: failed", "", "```", r.get("error", "").strip()[-ERROR_TAIL:], "```"]
    return "\n".join(lines) + "\n"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
