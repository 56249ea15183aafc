"""Labels skipped as malformed inside DataLoader workers reach the epoch row and the training summary."""

import shutil

from perception.engine import TrainConfig, Trainer

from engine_sizes import TINY_IMGSZ


def test_skips_in_loader_workers_are_reported(tiny_synthetic, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_synthetic, data)
    broken = sorted((data / "images" / "100k" / "train").glob("*.jpg"))[1]
    broken.write_bytes(b"not a jpeg")  # found when indexing, unreadable only when a worker loads it
    cfg = TrainConfig(data=str(data), model="n", imgsz=TINY_IMGSZ, epochs=1, batch=2, workers=2, device="cpu",
                      out=str(tmp_path / "run"), augment=False, max_val_batches=1)
    summary = Trainer(cfg, progress=False).fit()
    skips = summary["label_skips"]
    assert skips["last_epoch"] == 1 and skips["first_paths"] == [str(broken)]
    header, row = (tmp_path / "run" / "results.csv").read_text().splitlines()[:2]
    assert row.split(",")[header.split(",").index("skipped_labels")] == "1"
