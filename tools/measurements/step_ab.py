"""Images/s of Trainer.train_step on one prepared batch, for whichever perception is first on PYTHONPATH (the old
code has no `perception bench --train`): scale n, 192x320, batch 8, 2 threads, medians over rounds."""
import json, statistics, sys, time

import torch

import perception
from perception.engine import TrainConfig, Trainer

data, out, label = sys.argv[1], sys.argv[2], sys.argv[3]
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
torch.set_num_threads(2)
cfg = TrainConfig(data=data, model="n", imgsz=(192, 320), batch=8, workers=0, device="cpu", out=out, epochs=100,
                  save_period=0, **extra)
trainer = Trainer(cfg, progress=False)
trainer._setup()
batch = next(iter(trainer.train_loader))
for _ in range(3):
    trainer.train_step(batch)
times = []
for _ in range(12):
    tick = time.perf_counter()
    trainer.train_step(batch)
    times.append(time.perf_counter() - tick)
ms = statistics.median(times) * 1000
print(json.dumps({"label": label, "code": perception.__file__, "step_ms": round(ms, 1), "img_s": round(8000 / ms, 2),
                  "amp": getattr(trainer, "amp", "off"), "channels_last": trainer.channels_last}))
