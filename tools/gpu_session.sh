#!/bin/bash
# One prepared device-machine call: set up, run a tools/gpu_check.py suite, pack what comes back into $OUT.
#
#   bash tools/gpu_session.sh check    [gpu_check.py flags]   # every GPU path, ~5 min (call 1)
#   bash tools/gpu_session.sh converge [gpu_check.py flags]   # time, train/eval/export/release, --budget (call 2)
#
# With the device tool: run(command="bash tools/gpu_session.sh check", carry=[".whl"], timeout_s=...), after
# `bash tools/gpu_wheels.sh` here. The device tool returns at most 8 files from $OUT (16 MiB each, two folders
# deep), so the suite runs in /tmp and only its reports, the figures that matter and a tarball of the logs and
# step results are copied: check -> gpu_check.{json,md}, check_logs.tar.gz; converge -> gpu_converge.{json,md},
# results.csv, results.png, eval_report.md, synthetic_s.pt + synthetic_s.md (fp16 weights, ~7 MB for scale s, and
# their model card), converge_logs.tar.gz: eight files, the device tool's limit.
# GPU_SESSION_PYTHON=... runs the suite with another interpreter (the CPU dry run in tests/tools uses the venv's).
set -o pipefail
suite="${1:?usage: gpu_session.sh check|converge [gpu_check.py flags]}"
shift
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:?gpu_session: OUT (the folder that comes back) is not set}"
work="${GPU_SESSION_WORK:-/tmp/gpu_session}/$suite"
python="${GPU_SESSION_PYTHON:-python3}"
if [ -z "$GPU_SESSION_PYTHON" ]; then
  source "$repo/tools/gpu_setup.sh" || exit 1
fi
mkdir -p "$out" "$work"
PYTHONUNBUFFERED=1 "$python" "$repo/tools/gpu_check.py" --suite "$suite" --out "$work" "$@" 2>&1 | tee "$work/console.log"
rc=$?
report="gpu_check"; [ "$suite" != "check" ] && report="gpu_$suite"
cp "$work/$report.json" "$work/$report.md" "$out/" 2> /dev/null
if [ "$suite" = "converge" ]; then
  run="$work/work/converge"
  for f in "$run/results.csv" "$run/results.png" "$work"/work/synthetic_*.pt "$work"/work/synthetic_*.md; do
    [ -f "$f" ] && cp "$f" "$out/"
  done
  [ -f "$work/work/eval/report.md" ] && cp "$work/work/eval/report.md" "$out/eval_report.md"
fi
# logs, step results, every command's --json summary and the eval/bench reports; no images, no weights
(cd "$work" && find . -maxdepth 1 -name console.log -o -path ./logs -o -path ./steps | sed 's|^\./||' > files.txt \
  && find work -maxdepth 2 \( -name '*.json' -o -name '*.md' -o -name '*.csv' -o -name '*.yaml' \) >> files.txt \
  && tar czf "$out/${suite}_logs.tar.gz" -T files.txt)
echo "gpu_session: $suite exited $rc; in $out: $(ls "$out" | tr '\n' ' ')"
exit $rc
