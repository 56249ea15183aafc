#!/usr/bin/env bash
# Training speed, issue 23: the old trainer (96b692d, unpacked in /tmp/oldcode) against this one, interleaved, 3 rounds:
# Trainer.train_step on a prepared batch (step_ab.py), and perception bench --train in bf16 + channels_last (--amp bf16) and in the old settings (--amp off --no-channels-last). Scale n, 192x320,
# batch 8, 2 threads.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../.venv/bin/activate"
cd "${EXP:-runs/measurements}"
export OMP_NUM_THREADS=2
: > step_ab.jsonl
for round in 1 2 3; do
  PYTHONPATH=/tmp/oldcode python "$here/step_ab.py" data /tmp/stepab_old_$round old 2>/dev/null | tail -1 >> step_ab.jsonl
  python "$here/step_ab.py" data /tmp/stepab_new_$round new-bf16 '{"exist_ok": true, "amp": "bf16"}' 2>/dev/null | tail -1 >> step_ab.jsonl
  python "$here/step_ab.py" data /tmp/stepab_fp32_$round new-fp32-nchw '{"exist_ok": true, "amp": "off", "channels_last": false}' 2>/dev/null | tail -1 >> step_ab.jsonl
  perception bench --train --model n --imgsz 192 320 --batch 8 --steps 10 --warmup 3 --workers 2 --val-batches 4 \
    --device cpu --data data --amp bf16 --out bt_bf16_$round --json bt_bf16_$round.json > /dev/null 2>&1
  perception bench --train --model n --imgsz 192 320 --batch 8 --steps 10 --warmup 3 --workers 2 --val-batches 4 \
    --device cpu --data data --amp off --no-channels-last --out bt_fp32_$round --json bt_fp32_$round.json > /dev/null 2>&1
done
echo finished
