"""`perception infer` and its --out folder: a second run into a folder in use is refused while the first holds it
(two real processes), a folder holding an earlier run is refused unless --exist-ok, a file named as --out is one
line, and --exist-ok leaves no stale summary.json vouching for the new run's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from video_fixtures import ColourBoxPredictor

from perception.cli.main import main
from perception.video.pipeline import PipelineConfig, VideoPipeline
from perception.video.sources import VideoFileSource

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLDER = textwrap.dedent("""
    import sys
    from perception.out_dir import FolderClaim
    FolderClaim(sys.argv[1], "infer").acquire()
    print("held", flush=True)
    sys.stdin.read()
""")


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_second_infer_into_a_folder_in_use_is_refused(synthetic_clip, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["infer", str(synthetic_clip), "--model", str(tiny_checkpoint), "--out", str(out), "--exist-ok"])
    finally:
        holder.communicate("")
    line = _one_error_line(capsys)
    assert code == 2 and line.startswith(f"perception infer: error: {out}: in use by perception infer (pid {holder.pid}")
    assert not (out / "predictions.jsonl").exists()


def test_infer_refuses_an_earlier_run_and_a_file_as_out(synthetic_clip, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), out, PipelineConfig(max_frames=3)).run()
    before = (out / "predictions.jsonl").read_bytes()
    assert main(["infer", str(synthetic_clip), "--model", str(tiny_checkpoint), "--out", str(out)]) == 2
    assert "already holds files of another run" in _one_error_line(capsys)
    assert (out / "predictions.jsonl").read_bytes() == before  # untouched
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    assert main(["infer", str(synthetic_clip), "--model", str(tiny_checkpoint), "--out", str(a_file)]) == 2
    assert _one_error_line(capsys) == f"perception infer: error: --out {a_file}: is a file, not a folder; name a folder (it is created when missing)"


def test_a_new_run_in_an_old_folder_has_no_summary_until_it_ends(synthetic_clip, tmp_path):
    """summary.json says a run ended: while a new run writes into an old run's folder (--exist-ok), the old one's
    is gone, so a run killed then (SIGKILL, power loss) is not taken for the finished earlier one."""
    out = tmp_path / "run"
    VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), out, PipelineConfig(max_frames=3)).run()
    assert (out / "summary.json").exists()
    seen = []
    pipeline = VideoPipeline(ColourBoxPredictor(), VideoFileSource(synthetic_clip), out, PipelineConfig(max_frames=5),
                             on_frame=lambda done, expected: seen.append((out / "summary.json").exists()))
    summary = pipeline.run()
    assert seen == [False] * 5 and summary["frames"] == 5
    assert json.loads((out / "summary.json").read_text())["frames"] == 5
