"""The training data path: uint8 items through the loader, normalised and widened on the device by
move_batch; loader workers that persist and run one OpenCV thread each."""

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from perception.config import ModelConfig
from perception.data.dataset import build_dataset, collate
from perception.engine import TrainConfig
from perception.engine.distributed import DistContext
from perception.engine.train_data import build_train_loaders, move_batch, worker_options
from perception.preprocess import normalize

from engine_sizes import TINY_IMGSZ

CONFIG = ModelConfig(scale="n", imgsz=TINY_IMGSZ)


def test_uint8_images_normalised_on_the_device_equal_the_runtime_normalisation(tiny_synthetic):
    """What the loader used to send (the runtime's numpy `normalize` of the letterboxed image) is what
    move_batch now makes of the uint8 item, NCHW and channels_last alike."""
    dataset = build_dataset(str(tiny_synthetic), "train", CONFIG, train=False)
    items = [dataset[k] for k in range(3)]
    assert all(item["image"].dtype == torch.uint8 for item in items)
    before = torch.from_numpy(np.stack([normalize(dataset.prepare(k).image, CONFIG.mean, CONFIG.std) for k in range(3)]))
    for channels_last in (False, True):
        after = move_batch(collate(items), torch.device("cpu"), channels_last, mean=CONFIG.mean, std=CONFIG.std)["images"]
        assert after.dtype == torch.float32
        assert after.is_contiguous(memory_format=torch.channels_last) == channels_last
        torch.testing.assert_close(after, before, atol=1e-6, rtol=0)
    # every byte value, not only the ones a rendered image happens to hold
    values = torch.arange(256, dtype=torch.uint8).repeat(3, 1).reshape(1, 3, 16, 16)
    expected = normalize(values[0].permute(1, 2, 0).numpy(), CONFIG.mean, CONFIG.std)
    got = move_batch(_batch(values), torch.device("cpu"), mean=CONFIG.mean, std=CONFIG.std)["images"][0]
    torch.testing.assert_close(got, torch.from_numpy(expected), atol=1e-6, rtol=0)


def _batch(images: torch.Tensor) -> dict:
    return {"images": images, "boxes": [], "classes": [], "labelled": {}}


def test_dense_targets_travel_as_uint8_and_reach_the_losses_as_int64(tiny_synthetic):
    dataset = build_dataset(str(tiny_synthetic), "train", CONFIG, train=False)
    batch = collate([dataset[0], dataset[1]])
    keys = ("lane_target", "drivable_target", "lane_attr_target", "crossing_target")
    assert {batch[k].dtype for k in keys} == {torch.uint8}
    moved = move_batch(batch, torch.device("cpu"), mean=CONFIG.mean, std=CONFIG.std)
    for key in keys:
        assert moved[key].dtype == torch.int64, key
        assert torch.equal(moved[key], batch[key].long()), key
    assert (moved["lane_attr_target"] == 255).any()  # the ignore value survives (off the lanes)
    assert (moved["lane_target"] > 0).any() and moved["lane_target"].max() <= CONFIG.lane_slots + 1


def test_an_item_at_384x640_is_a_fifth_of_its_former_bytes(tiny_synthetic):
    """docs/reviews/2026-11-gpu-readiness.md item 8: float32 image and int64 targets made 7.4 MB per item."""
    config = ModelConfig(scale="n", imgsz=(384, 640))
    item = build_dataset(str(tiny_synthetic), "train", config, train=False)[0]
    dense = ("image", "lane_target", "drivable_target", "lane_attr_target", "crossing_target")
    now = sum(item[k].nbytes for k in dense)
    former = item["image"].numel() * 4 + sum(item[k].numel() * 8 for k in dense[1:])
    assert round(former / 1e6, 1) == 7.4 and now < former / 5


class _ThreadProbe(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, k: int) -> tuple[int, int]:
        return cv2.getNumThreads(), torch.get_num_threads()


def test_loader_workers_run_one_opencv_thread_and_persist(tiny_synthetic):
    loader = DataLoader(_ThreadProbe(), batch_size=1, num_workers=2, **worker_options(2))
    assert {tuple(int(v) for v in pair) for pair in loader} == {(1, 1)}
    assert worker_options(0) == {}  # in-process loading keeps the process's threads
    cfg = TrainConfig(data=str(tiny_synthetic), model="n", imgsz=TINY_IMGSZ, batch=2, workers=2, device="cpu")
    train_loader, val_loader = build_train_loaders(cfg, CONFIG, DistContext())
    assert train_loader.persistent_workers and train_loader.worker_init_fn is worker_options(2)["worker_init_fn"]
    assert val_loader is not None and len(val_loader.dataset) == 2


FORK_AFTER_OPENCV = """
import numpy as np, cv2, torch
from torch.utils.data import DataLoader
from perception.engine.train_data import worker_options
image = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
for _ in range(3):  # the parent's OpenCV thread pool at work, as letterboxing and decoding leave it
    cv2.resize(image, (1500, 1000)); cv2.GaussianBlur(image, (9, 9), 0)
class Items(torch.utils.data.Dataset):
    def __len__(self): return 4
    def __getitem__(self, i): return int(cv2.resize(image[:64, :64], (32, 32)).sum())
print(sum(int(b.sum()) for b in DataLoader(Items(), batch_size=2, num_workers=2, **worker_options(2))))
"""


def test_loader_workers_start_after_the_parent_used_opencv_threads():
    """A forked worker used to hang in its first OpenCV call (init_worker's setNumThreads) when the parent's OpenCV
    pool had run: the end-of-training validation of best.pt hung this way. prepare_fork keeps the parent's
    OpenCV single-threaded before workers fork."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENCV], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 0
