"""Shared fixtures: one small simulated study, made once per test session.

Also the order in which pytest-xdist workers take the test files (``make test`` runs
``pytest -n 2 --dist loadfile --no-loadscope-reorder``): a test file is one unit of work, so its
module-scoped fixtures (a pipeline run, a Dask cluster, the damaged-input sweep's study) are
made once, on one worker, and the costliest files go first, so the two workers finish together
instead of one starting the pipeline tests last. (``--dist loadgroup`` with ``xdist_group``
marks does not group anything under pytest 9.2: xdist 3.8 appends the group to ``item._nodeid``, which
pytest 9 no longer reads.) The live/LSL tests give every stream a unique name, so two files of
them may run at the same time.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"

#: Test files in the order xdist workers take them: the costliest first (CPU seconds of a serial
#: run, measured; the pipeline's module fixture alone is ~3 min). Files not listed follow in
#: collection order.
COSTLIEST_FIRST = ("tests/test_pipeline.py", "tests/test_report.py", "tests/audio/test_catalog.py",
                   "tests/models/test_evaluation.py", "tests/test_scale.py", "tests/test_trf_pipeline.py",
                   "tests/test_cli.py", "tests/test_damaged_inputs.py", "tests/test_examples.py",
                   "tests/audio/test_dynamic.py", "tests/audio/test_evaluation.py", "tests/audio/test_summary.py",
                   "tests/test_report_browser.py", "tests/audio/test_emotion.py")


def _file(item) -> str:
    return Path(str(item.path)).resolve().relative_to(REPO).as_posix()


def pytest_collection_modifyitems(config, items):
    """In an xdist worker: the costliest test files first (see the module docstring)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a plain run keeps pytest's order
        rank = {name: k for k, name in enumerate(COSTLIEST_FIRST)}
        items.sort(key=lambda item: rank.get(_file(item), len(rank)))  # stable: file order otherwise


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
