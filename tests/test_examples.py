"""The runnable examples run end to end (each in its own process, on a fresh folder)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("script, expect", [
    ("audio_vs_eeg.py", "audio arousal vs EEG beta power"),
    ("live_dry_run.py", "same trials and labels: True"),
])
def test_example_runs(tmp_path, script, expect):
    res = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert expect in res.stdout
