"""A command's output folder (`--out`): which folder a run writes, and that only one run writes it at a time.

- `choose_out_dir`: a folder that already holds files (another run's, or a finished one) is never written over
  silently. The command's default folder (`runs/train`) moves on to the next free name (`runs/train2`, said on
  stderr, as ultralytics does); a folder the user named is refused in one line. `resume` or `exist_ok`
  continue in it.
- `FolderClaim`: a lock file in the folder holding the owner's pid, host, command and start time. A second
  run refuses in one line naming the folder and the holder. The lock is an flock(2) on that file: the kernel
  drops it when its process dies (SIGKILL included), so a lock left by a dead run is taken over (said on
  stderr) without guessing from pids; the pid in the file is for the message.
- `claimed_out_dir`: both, as a context manager, for commands that write one folder.

Standard library only (the torch-free runtime install uses it for `perception infer`).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perception.errors import FolderBusyError, InputError

LOCK_NAME = ".perception.lock"


def holds_files(folder: Path) -> bool:
    """True when `folder` exists and holds anything besides a lock file."""
    return folder.is_dir() and any(entry.name != LOCK_NAME for entry in folder.iterdir())


def next_free(folder: str | os.PathLike) -> Path:
    """`runs/train` -> the first of `runs/train2`, `runs/train3`, ... that does not hold files."""
    folder = Path(folder)
    n = 2
    while holds_files(folder.with_name(f"{folder.name}{n}")):
        n += 1
    return folder.with_name(f"{folder.name}{n}")


def check_out_folder(folder: Path, flag: str = "--out") -> None:
    """InputError when `folder` exists and is not a folder (a file of that name)."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag} {folder}: is a file, not a folder; name a folder (it is created when missing)")


def choose_out_dir(folder: str | os.PathLike, command: str, *, default: str | os.PathLike | None = None,
                   resume: bool = False, exist_ok: bool = False) -> Path:
    """The folder a run of `command` writes: `folder` when it is new, empty, `resume` or `exist_ok`; else the next
    free name when `folder` is the command's `default`; else InputError (one line: what to do)."""
    folder = Path(folder)
    check_out_folder(folder)
    if resume or exist_ok or not holds_files(folder):
        return folder
    if default is not None and folder == Path(default):
        chosen = next_free(folder)
        print(f"perception {command}: {folder} holds an earlier run; writing {chosen} (--exist-ok writes into "
              f"{folder})", file=sys.stderr)
        return chosen
    raise InputError(f"--out {folder}: already holds files of another run; choose a new folder, or pass "
                     f"--exist-ok to write into it{' (--resume to continue the run)' if command == 'train' else ''}")


class FolderClaim:
    """The claim of one output folder by this process: `acquire()` or refuse; `release()` (also on `with` exit).

    Lock file: `<folder>/.perception.lock`, JSON {pid, host, command, started (UTC ISO)}. Only local and NFSv4
    file systems honour flock across machines; on others two hosts could both hold it.
    """

    def __init__(self, folder: str | os.PathLike, command: str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> "FolderClaim":
        import fcntl

        check_out_folder(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise FolderBusyError(f"{self.folder}: in use by {describe_holder(read_lock(self.path))}; wait for "
                                      f"it to end or choose another --out") from None
            # The holder before us may have removed the file between our open and our flock: then we locked
            # a file nobody else sees; start over on the one at the path.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        self._fd = fd
        left = _read_fd(fd)
        if left:
            print(f"perception {self.command}: taking over {self.folder}: its lock was left by "
                  f"{describe_holder(left)}, which is no longer running", file=sys.stderr)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (the file first, so no one locks a file about to vanish)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _same_file(fd, self.path):
                self.path.unlink()
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FolderClaim":
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def claimed_out_dir(folder: str | os.PathLike, command: str, *, default: str | os.PathLike | None = None,
                    resume: bool = False, exist_ok: bool = False) -> Iterator[Path]:
    """`choose_out_dir` then hold its `FolderClaim` for the block; yields the chosen folder."""
    chosen = choose_out_dir(folder, command, default=default, resume=resume, exist_ok=exist_ok)
    created = not chosen.exists()
    try:
        with FolderClaim(chosen, command):
            yield chosen
    finally:
        if created and chosen.is_dir() and not any(chosen.iterdir()):
            chosen.rmdir()  # a run that failed before writing anything leaves no empty folder behind


def read_lock(path: Path) -> dict:
    """The lock record at `path` ({} when missing or unreadable: a holder that has not written it yet)."""
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(record: dict) -> str:
    if not record:
        return "another run (lock file not yet written)"
    return (f"perception {record.get('command', '?')} (pid {record.get('pid', '?')} on "
            f"{record.get('host', '?')}, started {record.get('started', '?')})")


def _read_fd(fd: int) -> dict:
    data = os.pread(fd, 4096, 0)
    try:
        return json.loads(data) if data.strip() else {}
    except ValueError:
        return {"command": "?", "pid": "?", "host": "?", "started": "?"}


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
