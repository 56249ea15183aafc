"""Usage: python tools/measurements/loss_parts.py DATA [THREADS] [ROUNDS] [TERM]. Forward+backward milliseconds of each
loss term (objects, pedestrians, lanes, markings, drivable) and of the whole MultiTaskLoss on one real batch (n,
192x320, batch 8), interleaved rounds, medians; with TERM, torch.profiler's table of that term (session 7)."""
import statistics, sys, time, json
import torch
from perception.engine import TrainConfig, Trainer
from perception.engine.train_data import move_batch
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
cfg = TrainConfig(data=sys.argv[1], model="n", imgsz=(192, 320), batch=8, workers=0, device="cpu", out="/tmp/loss_parts_run", epochs=100, save_period=0, exist_ok=True)
t = Trainer(cfg, progress=False); t._setup()
b = move_batch(next(iter(t.train_loader)), t.ctx.device, mean=t.model_config.mean, std=t.model_config.std)
with torch.no_grad():
    out = {k: v.float() for k, v in t.model(b["images"]).items()}
L = t.loss
labelled = b["labelled"]; imgsz = tuple(b["images"].shape[-2:])
boxes, classes = b.get("gt_boxes", b["boxes"]), b.get("gt_classes", b["classes"]); ignore = b.get("gt_ignore", b.get("ignore_boxes"))
def leaf(*keys):
    return {k: out[k].detach().requires_grad_() for k in keys}
def det(task):
    spec = L.detection_specs[task]
    def f():
        o = leaf(spec.reg, spec.cls)
        L.detection[task](o[spec.reg], o[spec.cls], boxes, classes, labelled[task], imgsz, ignore, b.get("class_labelled"))["total"].backward()
    return f
def lanes():
    o = leaf("lane"); L.lane(o["lane"], b["lane_target"], labelled["lanes"], b["lane_instances"])["total"].backward()
def marks():
    o = leaf("lane_attr", "crossing"); L.lane_marking(o["lane_attr"], o["crossing"], b["lane_attr_target"], b["crossing_target"])["total"].backward()
def drv():
    o = leaf("drivable"); L.drivable(o["drivable"], b["drivable_target"], labelled["drivable"])["total"].backward()
def whole():
    o = {k: v.detach().requires_grad_() for k, v in out.items()}
    L(o, b)[0].backward()
fs = {"objects": det("objects"), "pedestrians": det("pedestrians"), "lanes": lanes, "markings": marks, "drivable": drv, "whole": whole}
print({k: tuple(v.shape) for k, v in out.items()}, "max gt", boxes.shape)
times = {k: [] for k in fs}
for f in fs.values(): f()
for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 7):
    for k, f in fs.items():
        tick = time.perf_counter(); f(); times[k].append(1000 * (time.perf_counter() - tick))
print(json.dumps({k: round(statistics.median(v), 1) for k, v in times.items()}))
if len(sys.argv) > 4:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3): fs[sys.argv[4]]()
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=20))
