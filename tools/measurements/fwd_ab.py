"""Forward+backward of scale n at 192x320 batch 8 (fp32, NCHW, 2 threads) for whichever perception is first on
PYTHONPATH, and its MultiTaskLoss on the same outputs: is the network or the loss slower between two trainers?"""
import json, statistics, sys, time
import torch
import perception
from perception.engine import TrainConfig, Trainer
torch.set_num_threads(2)
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
cfg = TrainConfig(data=sys.argv[1], model="n", imgsz=(192, 320), batch=8, workers=0, device="cpu", out=sys.argv[2],
                  epochs=100, save_period=0, **extra)
t = Trainer(cfg, progress=False); t._setup()
from perception.engine.train_data import move_batch
import inspect
raw = next(iter(t.train_loader))
kw = {"mean": t.model_config.mean, "std": t.model_config.std} if "mean" in inspect.signature(move_batch).parameters else {}
batch = move_batch(raw, torch.device("cpu"), **kw)
def timed(f, n=8):
    f(); out = []
    for _ in range(n):
        s = time.perf_counter(); f(); out.append((time.perf_counter() - s) * 1000)
    return round(statistics.median(out), 1)
fwd = timed(lambda: t.model(batch["images"]))
def fb():
    o = t.model(batch["images"]); sum(v.float().mean() for v in o.values()).backward()
outs = {k: v.float().detach().requires_grad_() for k, v in t.model(batch["images"]).items()}
loss = timed(lambda: t.loss(outs, batch))
print(json.dumps({"code": perception.__file__.split("/")[2], "forward_ms": fwd, "fwd_bwd_ms": timed(fb), "loss_ms": loss}))
