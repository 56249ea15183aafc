#!/usr/bin/env bash
# fp32 vs bf16 (issue 23 item 3): the same demo-sized run (scale n, 192x320, batch 8, lr 0.012, 600 steps) in
# each precision with two seeds, each evaluated on the demo data's val split. Fixed steps, so the machine's load
# does not change the result.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../.venv/bin/activate"
mkdir -p "${EXP:-runs/measurements}" && cd "${EXP:-runs/measurements}"
export OMP_NUM_THREADS=2
[ -d data ] || perception synth --out data --num 1200 --seed 0 --imgsz 192 320 > synth.log 2>&1
for seed in 0 1; do
  for amp in off bf16; do
    run=run_${amp}_s${seed}
    [ -f $run/weights/last.pt ] || perception train --data data --model n --imgsz 192 320 --batch 8 --lr 0.012 \
      --epochs 5 --max-steps 600 --val-period 100 --amp $amp --seed $seed --out $run --quiet --json $run.train.json > $run.log 2>&1
    [ -f $run.eval.json ] || perception eval --exist-ok --weights $run/weights/last.pt --data data --split val --out $run/eval --device cpu --json $run.eval.json > $run.eval.log 2>&1
  done
done
echo finished
