"""Files written whole or not at all: write to a temp file beside the target, then rename it over the target.

A reader (or a run killed mid-write) sees either the old complete file or the new one, never half of one:
checkpoints, reports, plots, dataset labels and exported models all go through `atomic_path`. A full disk
(ENOSPC, or a quota: EDQUOT) while writing becomes a `DiskFullError`, one line naming the file and saying
whether an earlier version of it was kept; the temp file is removed either way.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perception.errors import DiskFullError

# mkstemp makes 0600 files; outputs (datasets, reports, models) are meant to be shared like any other file
FILE_MODE = 0o644


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", fsync: bool = False) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder (created if missing) to write; renamed over `path` when the block
    ends without error, removed when it raises.

    suffix: the temp file's ending; writers that pick the format from it (matplotlib) need the real one.
    fsync: flush the data to disk before the rename (checkpoints: a crash right after must not lose them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - only a full disk is turned into DiskFullError; the rest re-raised
        if not is_disk_full(exc) or isinstance(exc, DiskFullError):
            raise
        kept = f"the earlier {path.name} is kept" if path.exists() else "nothing was written"
        raise DiskFullError(f"{path}: no space left on the device; {kept}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def is_disk_full(exc: BaseException | None) -> bool:
    """True for an OSError saying the device (or the user's quota) is full, from Python or from FFmpeg (PyAV),
    also when a library wrapped it (torch.save raises a RuntimeError whose context is the file's OSError)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def write_bytes_atomic(path: str | os.PathLike, payload: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
