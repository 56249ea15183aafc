"""A full disk for tests, two ways: `FullDisk` gives the files a test opens for writing under one folder a byte
budget, after which a write stores what fits and raises OSError(ENOSPC) as a full device does (the real file
object underneath; Python-level writers only); `run_on_small_tmpfs` runs a shell command with a real, small
tmpfs mounted (in a private user+mount namespace), skipping the test where the machine does not allow one."""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest


class _Filling:
    """A real file object whose writes stop at the disk's budget."""

    def __init__(self, real, disk: "FullDisk") -> None:
        self._real, self._disk = real, disk

    def write(self, data):
        size = memoryview(data).nbytes if not isinstance(data, str) else len(data.encode())
        if size <= self._disk.left:
            self._disk.left -= size
            return self._real.write(data)
        room, self._disk.left = self._disk.left, 0
        if room and not isinstance(data, str):
            self._real.write(memoryview(data)[:room])
        self._disk.refused += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self._real.name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def __iter__(self):
        return iter(self._real)

    def __getattr__(self, name):
        return getattr(self._real, name)


class FullDisk:
    """Files opened for writing under `folder` (whose name contains `only`, when given) share `budget` bytes."""

    def __init__(self, monkeypatch, folder: Path, budget: int, only: str | None = None) -> None:
        self.folder, self.left, self.only, self.refused = Path(folder).resolve(), budget, only, 0
        real_open = io.open

        def open_(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if isinstance(file, int) or not any(m in mode for m in "wax+"):
                return handle
            path = Path(file).resolve()
            if self.folder not in path.parents or (self.only and self.only not in path.name):
                return handle
            return _Filling(handle, self)

        monkeypatch.setattr(io, "open", open_)
        monkeypatch.setattr(builtins, "open", open_)


def run_on_small_tmpfs(tmp_path: Path, size: str, command: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `command` (sh) with a tmpfs of `size` mounted at $SMALL; afterwards its contents are copied to the
    returned folder (the mount vanishes with the namespace). Skips when no tmpfs can be mounted here."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1): cannot mount a small tmpfs")
    mount = tmp_path / "small"
    kept = tmp_path / "kept"
    mount.mkdir()
    kept.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {mount}"],
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    script = (f"mount -t tmpfs -o size={size} tmpfs {mount} || exit 99; export SMALL={mount}; ({command}); rc=$?; "
              f"cp -a {mount}/. {kept}/; exit $rc")
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode != 99, result.stderr
    return result, kept
