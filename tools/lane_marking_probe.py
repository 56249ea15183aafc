"""Lane-attribute accuracy of a checkpoint's lane-marking head on every ground-truth lane of a split.

`perception eval` scores attributes on the lanes the model also found (CULane-matched); this probe reads
the head along each labelled lane's own polyline instead (the decoder's `decode_lane_marking`), so it measures
the head alone, on every lane, dashed ones included. Usage:

    python tools/lane_marking_probe.py --model runs/x/weights/best.pt --data DATA [--split val]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from perception.data.dataset import iter_samples
from perception.classes import IGNORE_INDEX
from perception.markings import ATTRIBUTE_GROUPS, attribute_indices, is_crossing
from perception.models import load_model
from perception.postprocess.markings import decode_lane_marking
from perception.preprocess import letterbox, normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a training checkpoint (.pt)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    model, config = load_model(args.model)
    confusion = {name: np.zeros((len(v), len(v)), np.int64) for name, v in ATTRIBUTE_GROUPS}
    for sample in iter_samples(args.data, args.split):
        image, info = letterbox(sample.image, config.imgsz)
        x = torch.from_numpy(normalize(image, np.asarray(config.mean, np.float32), np.asarray(config.std, np.float32)))
        with torch.no_grad():
            attr = model(x[None])["lane_attr"][0].numpy()
        for lane, attrs in zip(sample.lanes, sample.lane_attrs):
            if is_crossing(attrs) is not None or len(lane) < 2:
                continue
            predicted = decode_lane_marking(info.to_input(lane).reshape(-1, 2), attr)
            for (name, values), truth in zip(ATTRIBUTE_GROUPS, attribute_indices(attrs)):
                if truth != IGNORE_INDEX:
                    confusion[name][truth, values.index(predicted[name][0])] += 1
    out = {}
    for name, values in ATTRIBUTE_GROUPS:
        m = confusion[name]
        present = m.sum(1) > 0
        out[name] = {"lanes": int(m.sum()), "accuracy": float(np.trace(m) / max(m.sum(), 1)),
                     "chance_majority": float(m.sum(1).max() / max(m.sum(), 1)),
                     "balanced_accuracy": float(np.mean(np.diag(m)[present] / m.sum(1)[present])),
                     "chance_balanced": 1.0 / max(int(present.sum()), 1), "values": list(values), "confusion": m.tolist()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
