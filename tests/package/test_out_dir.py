"""perception.out_dir: a run never writes over another, and one run per output folder (two real processes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from perception.errors import InputError
from perception.out_dir import LOCK_NAME, FolderBusyError, FolderClaim, choose_out_dir, claimed_out_dir

# A second process that claims the folder, says so on stdout, and holds it until its stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from perception.out_dir import FolderClaim
    claim = FolderClaim(sys.argv[1], "infer").acquire()
    print("held", flush=True)
    sys.stdin.read()
    claim.release()
""")


def _start_holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": os.getcwd()})
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def test_a_second_process_is_refused_naming_the_folder_and_the_holder(tmp_path):
    out = tmp_path / "run"
    holder = _start_holder(out)
    try:
        record = json.loads((out / LOCK_NAME).read_text())
        assert record["pid"] == holder.pid and record["host"] == socket.gethostname() and record["command"] == "infer"
        with pytest.raises(FolderBusyError) as info:
            FolderClaim(out, "train").acquire()
        message = str(info.value)
        assert "\n" not in message and str(out) in message
        assert f"pid {holder.pid} on {socket.gethostname()}" in message and "perception infer" in message
    finally:
        holder.communicate("")
    assert holder.returncode == 0 and not (out / LOCK_NAME).exists()  # released: the lock file is gone
    with FolderClaim(out, "train") as claim:  # free again once the holder ended
        assert claim.held


def test_a_lock_left_by_a_killed_process_is_taken_over_and_said(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _start_holder(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (out / LOCK_NAME).exists()  # SIGKILL left the lock file behind
    with FolderClaim(out, "train"):
        said = capsys.readouterr().err
        assert f"taking over {out}" in said and f"pid {holder.pid}" in said and "no longer running" in said
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_the_default_folder_moves_on_to_the_next_free_name_and_says_so(tmp_path, capsys):
    default = tmp_path / "runs" / "train"
    assert choose_out_dir(default, "train", default=default) == default  # new: used as is
    (default / "weights").mkdir(parents=True)
    assert choose_out_dir(default, "train", default=default) == tmp_path / "runs" / "train2"
    assert "writing" in capsys.readouterr().err
    (tmp_path / "runs" / "train2" / "results.csv").parent.mkdir(parents=True)
    (tmp_path / "runs" / "train2" / "results.csv").write_text("epoch\n")
    assert choose_out_dir(default, "train", default=default) == tmp_path / "runs" / "train3"
    # continuing is explicit
    assert choose_out_dir(default, "train", default=default, resume=True) == default
    assert choose_out_dir(default, "train", default=default, exist_ok=True) == default


def test_a_named_folder_holding_a_run_is_refused_in_one_line(tmp_path):
    named = tmp_path / "x"
    named.mkdir()
    (named / "summary.json").write_text("{}")
    with pytest.raises(InputError, match=r"--out .*x: already holds files of another run.*--exist-ok"):
        choose_out_dir(named, "infer")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError, match="is a file, not a folder"):
        with claimed_out_dir(tmp_path / "file", "infer"):
            pass
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / LOCK_NAME).write_text("")  # a lock alone is no run
    assert choose_out_dir(empty, "infer") == empty


def test_a_run_that_wrote_nothing_leaves_no_folder(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with claimed_out_dir(out, "infer") as chosen:
            assert (chosen / LOCK_NAME).exists()
            raise RuntimeError("failed before writing")
    assert not out.exists()
    with claimed_out_dir(out, "infer") as chosen:
        (chosen / "summary.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # the lock is gone, the outputs stay
