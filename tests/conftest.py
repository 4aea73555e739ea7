"""Shared fixtures: one small simulated study, made once per test session.

Also how the suite is shared between pytest-xdist workers (``make test`` runs
``pytest -n 2 --dist loadgroup``): every test module is one unit of work, so its module-scoped
fixtures (a pipeline run, a Dask cluster, the damaged-input sweep's study) are made once, on
one worker; all live/LSL tests are one unit, so they never run beside each other (their
sleeps and real-time checks stay as on one core). The costliest units go first, so the two
workers finish together instead of one starting the pipeline tests last.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

#: Units of work (test modules, or "live") in the order workers take them: the costliest first
#: (measured: CPU seconds of a serial run, slowest first). Units not listed follow in file order.
COSTLIEST_FIRST = ("tests/test_pipeline.py", "tests/test_damaged_inputs.py", "tests/test_scale.py",
                   "live", "tests/test_trf_pipeline.py", "tests/test_report.py", "tests/test_cli.py",
                   "tests/test_examples.py", "tests/test_report_browser.py")


def _unit(item) -> str:
    path = Path(str(item.path)).resolve().relative_to(REPO).as_posix()
    return "live" if path.startswith("tests/live/") else path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under xdist --dist loadgroup: one group per unit (see the module docstring), costliest first."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a plain run keeps pytest's order
    rank = {name: k for k, name in enumerate(COSTLIEST_FIRST)}
    for item in items:
        if not any(True for _ in item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(_unit(item)))
    items.sort(key=lambda item: rank.get(_unit(item), len(rank)))  # stable: file order otherwise


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
