"""A tiny synthetic dataset shared by the engine tests (rendered once per session)."""

from __future__ import annotations

import pytest

from engine_sizes import TINY_IMGSZ


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """8 rendered images at 64 x 128 (6 train, 2 val), BDD100K layout, all four tasks labelled."""
    from perception.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("synthetic") / "tiny"
    generate_dataset(root, 8, seed=5, imgsz=TINY_IMGSZ, val_fraction=0.25, workers=1, progress=False)
    return root
