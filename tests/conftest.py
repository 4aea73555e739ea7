"""Shared fixtures: one small simulated study, made once per test session."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """2 subjects x 4 trials of 8 s: XDF + DEAP + stimuli + protocol + ground truth."""
    from neuromer.simulate import simulate_study

    return simulate_study(tmp_path_factory.mktemp("study") / "study", n_subjects=2, n_trials=4,
                          stimulus_s=8.0, seed=7)


@pytest.fixture(scope="session")
def study_protocol(study):
    from neuromer.protocol import read_protocol

    return read_protocol(study.protocol)


@pytest.fixture(scope="session")
def realdata_xdf():
    folder = REALDATA / "xdf"
    if not folder.is_dir():
        pytest.skip(f"real XDF files not found at {folder}")
    return folder
