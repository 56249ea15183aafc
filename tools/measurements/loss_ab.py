"""Usage: python tools/measurements/loss_ab.py DATA [ROUNDS]. Lane + drivable loss forward+backward: the previous formulation (tests/losses/test_loss_terms_reference.py's
textbook forms, which equal HEAD~ code) vs the working tree, interleaved rounds, one real batch (n, 192x320, b8)."""
import statistics, sys, time, json
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "losses"))
from test_loss_terms_reference import textbook_drivable, textbook_lane
from perception.engine import TrainConfig, Trainer
from perception.engine.train_data import move_batch
from perception.losses.drivable_loss import DrivableLoss
from perception.losses.lane_loss import LaneLoss
torch.set_num_threads(2)
cfg = TrainConfig(data=sys.argv[1], model="n", imgsz=(192, 320), batch=8, workers=0, device="cpu", out="/tmp/loss_ab_run", epochs=100, save_period=0, exist_ok=True)
t = Trainer(cfg, progress=False); t._setup()
b = move_batch(next(iter(t.train_loader)), t.ctx.device, mean=t.model_config.mean, std=t.model_config.std)
with torch.no_grad():
    out = {k: v.float() for k, v in t.model(b["images"]).items()}
yes = torch.ones(8, dtype=torch.bool)
lane_t, drv_t, inst = b["lane_target"].long(), b["drivable_target"].long(), b["lane_instances"]
def old():
    lane = out["lane"].detach().requires_grad_(); drv = out["drivable"].detach().requires_grad_()
    (textbook_lane(lane, lane_t, yes, inst) + textbook_drivable(drv, drv_t, yes)).backward()
def new():
    lane = out["lane"].detach().requires_grad_(); drv = out["drivable"].detach().requires_grad_()
    (LaneLoss()(lane, lane_t, yes, inst)["total"] + DrivableLoss()(drv, drv_t, yes)["total"]).backward()
fs = {"old": old, "new": new}
times = {k: [] for k in fs}
for f in fs.values(): f(); f()
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 8):
    for k, f in fs.items():
        tick = time.perf_counter(); f(); times[k].append(1000 * (time.perf_counter() - tick))
print(json.dumps({k: round(statistics.median(v), 1) for k, v in times.items()}), "old/new", round(statistics.median(times["old"]) / statistics.median(times["new"]), 2))
