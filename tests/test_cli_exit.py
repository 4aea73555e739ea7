"""The command's exit: the program spares the final garbage collections, Python callers keep theirs."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from neuromer.cli import main
from neuromer.io import write_trials
from neuromer.session import Trials

ROOT = Path(__file__).resolve().parents[1]


def _trials_file(tmp_path: Path) -> Path:
    data = np.random.default_rng(0).standard_normal((2, 4, 640))
    return write_trials(Trials(data, 128.0, ["Fz", "Cz", "F3", "F4"], ["eeg"] * 4), tmp_path / "s01.dat")


def test_main_called_from_python_freezes_nothing(tmp_path, capsys):
    path = _trials_file(tmp_path)
    before = gc.get_freeze_count()
    assert main(["features", "eeg", str(path), "--out", str(tmp_path / "x.parquet")]) == 0
    assert gc.get_freeze_count() == before  # a test session or notebook keeps collecting its garbage


def test_program_freezes_after_writing_complete_output(tmp_path):
    path = _trials_file(tmp_path)
    assert main(["features", "eeg", str(path), "--out", str(tmp_path / "ref.parquet")]) == 0
    out = tmp_path / "x.parquet"
    code = (f"import gc, sys\nsys.argv = ['neuromer', 'features', 'eeg', {str(path)!r}, '--out', {str(out)!r}]\n"
            "from neuromer.cli import main\nrc = main()\nprint(rc, gc.get_freeze_count() > 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.split()[-2:] == ["0", "True"]
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "ref.parquet"))


def test_program_exit_status_and_error_line_unchanged(tmp_path):
    run = subprocess.run([sys.executable, "-m", "neuromer", "features", "eeg", str(tmp_path / "missing.dat"),
                          "--out", str(tmp_path / "x.parquet")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("neuromer: error:") and "missing.dat" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
