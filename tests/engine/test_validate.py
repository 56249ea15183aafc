"""The trainer's validation through a DataLoader: batched, reduced on the device, sharded over DDP ranks -
and in every form the numbers of the one sequential Validator (`perception eval`)."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from perception.config import ModelConfig
from perception.data.dataset import build_dataset
from perception.engine.distributed import DistContext
from perception.engine.validate import validate
from perception.evaluation.evaluator import EvalConfig, Evaluator
from perception.evaluation.validator import Validator
from perception.models import build_model
from perception.models.torch_predictor import TorchPredictor

from engine_sizes import TINY_IMGSZ
from torchrun import free_port

CONFIG = ModelConfig(scale="n", imgsz=TINY_IMGSZ)


@pytest.fixture(scope="module")
def val_split(tmp_path_factory):
    """7 rendered val images (odd: the two ranks' shards differ in size), all four tasks labelled."""
    from perception.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("val7") / "data"
    generate_dataset(root, 9, seed=11, imgsz=TINY_IMGSZ, val_fraction=0.8, workers=1, progress=False)
    dataset = build_dataset(str(root), "val", CONFIG, train=False)
    assert len(dataset) == 7
    return dataset


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(CONFIG).eval()


class _Loader:
    """The trainer's val loader as validate() reads it: dataset, batch size, workers."""

    def __init__(self, dataset, batch_size: int, num_workers: int):
        self.dataset, self.batch_size, self.num_workers = dataset, batch_size, num_workers


def _sequential(model, dataset, batch_size: int) -> dict:
    """`perception eval`'s way: image lists from `samples()` in the main process, float32 logits to the host."""
    validator = Validator(EvalConfig(tasks=tuple(CONFIG.enabled_tasks)), batch_size=batch_size)
    predictor = TorchPredictor(copy.deepcopy(model).fuse(), **validator.predictor_options())
    return validator(predictor, dataset.samples())


def test_device_reduced_outputs_decode_to_the_same_results(model, val_split):
    images = [val_split.sample(k).image for k in range(4)]
    raw, reduced = (TorchPredictor(model, host_outputs=mode, conf_threshold=0.001) for mode in ("raw", "decode"))
    batch, infos = raw.preprocess(images)
    outputs = reduced.infer(batch)
    assert "drivable" not in outputs and outputs["drivable_class"].dtype == np.uint8
    assert outputs["lane_rows"].shape[2] == (TINY_IMGSZ[0] + 1) // 2
    for want, got in zip(raw.predict(images), reduced.postprocess(outputs, infos)):
        assert json.dumps(want.to_json(), sort_keys=True) == json.dumps(got.to_json(), sort_keys=True)
        np.testing.assert_array_equal(want.lane_mask, got.lane_mask)
        np.testing.assert_array_equal(want.drivable, got.drivable)


def test_batched_loader_validation_equals_the_sequential_one(model, val_split, monkeypatch):
    from perception.engine import validate as validate_module

    summaries = []
    monkeypatch.setattr(validate_module, "headline_metrics", lambda summary: summaries.append(summary) or {})
    validate(model, _Loader(val_split, 3, 2), CONFIG, torch.device("cpu"))  # 2 workers, batches of 3
    (batched,) = summaries
    # The same batch size: an untrained model's class logits nearly tie, and a convolution over 3 images may
    # round differently from one over 1 (seen here: detections change class), whichever path feeds it.
    sequential = _sequential(model, val_split, 3)
    assert batched["num_images"] == sequential["num_images"] == 7
    _same(batched, sequential)


def _same(a, b) -> bool:
    """Nested summaries equal (floats to 1e-12, NaN equal to NaN); asserts, naming the first difference."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
        return True
    assert a == pytest.approx(b, abs=1e-12) if isinstance(a, float) else a == b, (a, b)
    return True


def test_evaluators_of_two_shards_merge_into_the_whole_splits(model, val_split):
    # batches of one: the shards' and the whole split's images then meet the network in the same batches
    validator = Validator(EvalConfig(tasks=tuple(CONFIG.enabled_tasks)), batch_size=1)
    predictor = TorchPredictor(model, **validator.predictor_options())
    samples = list(val_split.samples())
    first, second = validator.score(predictor, samples[:3]), validator.score(predictor, samples[3:])
    first.merge(second)
    _same(first.summary(), validator.score(predictor, samples).summary())
    with pytest.raises(ValueError):
        first.merge(Evaluator(EvalConfig(tasks=("lanes",))))


def _sharded_worker(rank: int, port: int, model, dataset, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    score_loader = Validator.score_loader

    def counted(self, *args, **kwargs):  # this forked process only: how many images did this rank score?
        evaluator = score_loader(self, *args, **kwargs)
        Path(out_dir, f"scored{rank}.txt").write_text(str(evaluator.num_images))
        return evaluator

    Validator.score_loader = counted
    try:
        ctx = DistContext(rank=rank, world_size=2)
        metrics = validate(model, _Loader(dataset, 1, 0), CONFIG, torch.device("cpu"), ctx=ctx)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(metrics))
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_validate_their_shards_and_rank_0_gets_the_whole_splits_metrics(model, val_split, tmp_path):
    """Two gloo processes (3 + 4 images, batches of one as in the merge test): rank 0's gathered metrics are the
    single process's; rank 1 gets none."""
    mp.start_processes(_sharded_worker, args=(free_port(), model, val_split, str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    gathered, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    single = validate(model, _Loader(val_split, 1, 0), CONFIG, torch.device("cpu"))
    assert [int((tmp_path / f"scored{r}.txt").read_text()) for r in (0, 1)] == [3, 4]  # each rank its shard
    assert other == {} and gathered["images"] == single["images"] == 7
    assert gathered == pytest.approx(single, abs=1e-12)


def test_validation_runs_the_network_under_the_trainings_autocast_dtype(model, val_split):
    seen = []
    handle = model.register_forward_hook(lambda module, args, out: seen.extend({v.dtype for v in out.values()}))
    try:
        bf16 = validate(model, _Loader(val_split, 4, 0), CONFIG, torch.device("cpu"), amp_dtype=torch.bfloat16)
        assert set(seen) == {torch.bfloat16}
        seen.clear()
        fp32 = validate(model, _Loader(val_split, 4, 0), CONFIG, torch.device("cpu"))
        assert set(seen) == {torch.float32}
    finally:
        handle.remove()
    assert bf16["images"] == fp32["images"] == 7 and all(np.isfinite(v) for v in bf16.values())
    assert bf16["drivable/miou"] == pytest.approx(fp32["drivable/miou"], abs=0.05)
