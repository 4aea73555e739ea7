"""`neuromer features eeg` without pandas: Trials' lazy table, the column API and the pyarrow writer.

The command reads the trials, computes the features as numpy columns and writes them with
pyarrow alone; the files must be the ones the pandas writer gives for the same DataFrame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from neuromer.eeg import eeg_trial_columns, eeg_trial_features, eeg_window_columns, eeg_window_features
from neuromer.errors import DataFormatError, NeuromerError
from neuromer.io import read_trials, write_trials
from neuromer.io._atomic import write_table
from neuromer.io._parquet import write_parquet_columns
from neuromer.session import Trials
from neuromer.windows import WindowGrid

from ._helpers import DEAP_EEG

REPO = Path(__file__).resolve().parents[2]


def _trials(rng, n_trials=3, seconds=6, **kwargs) -> Trials:
    data = rng.standard_normal((n_trials, 34, int(seconds * 128))) * 20
    data[1, 2, 300:500] = 4.0  # a flat stretch: zero power, NaN derived features
    names = DEAP_EEG + ["GSR", "hEOG"]
    return Trials(data, 128.0, names, ["eeg"] * 32 + ["gsr", "eog"], baseline_s=1.0, subject="07", **kwargs)


def test_trials_table_from_columns_equals_the_dataframe_path(rng):
    labels = rng.uniform(1, 9, (3, 4))
    lazy = _trials(rng, labels=labels)
    assert lazy._metadata is None  # nothing built yet
    eager = _trials(rng, labels=labels, metadata=pd.DataFrame(index=range(3)))
    pd.testing.assert_frame_equal(lazy.metadata, eager.metadata, check_exact=True)
    assert lazy.metadata.index.equals(eager.metadata.index)

    extra = {"trial": np.array([7, 8, 9]), "stimulus_id": np.array([10, 11, 12]), "duration_s": [5.0, 4.0, 5.0],
             "familiar": np.array([True, False, True]), "note": np.array(["a", "b", "c"])}
    lazy = _trials(rng, metadata=extra)
    eager = _trials(rng, metadata=pd.DataFrame(extra))
    assert list(lazy.metadata.columns) == list(eager.metadata.columns)
    pd.testing.assert_frame_equal(lazy.metadata, eager.metadata, check_exact=True)


def test_trials_columns_select_and_check_without_pandas_table(rng):
    trials = _trials(rng, labels=np.array([[5, 5, 5, 5], [12, 5, 5, 5], [1, 1, 1, 1.0]]))
    with pytest.warns(RuntimeWarning, match="trial 2 valence=12"):
        assert trials.check_ratings(1, 9) == 1
    assert np.isnan(trials.labels[1, 0]) and trials.labels[2, 0] == 1.0
    sub = trials[[2, 0]].pick("eeg")
    assert sub._metadata is None and trials._metadata is None  # still columns
    np.testing.assert_array_equal(sub.column("trial"), [3, 1])
    np.testing.assert_array_equal(sub.labels, trials.labels[[2, 0]])
    assert list(sub.column("stimulus_id")) == ["3", "1"]
    # the DataFrame, once built, is the table: edits through it are seen by column()
    trials.metadata["duration_s"] = 2.0
    np.testing.assert_array_equal(trials.column("duration_s"), [2.0, 2.0, 2.0])
    assert trials.dropped.columns.tolist() == ["trial", "stimulus_id", "reason"]
    with pytest.raises(NeuromerError, match="metadata has 2 rows for 3 trials"):
        _trials(rng, metadata={"trial": np.array([1, 2])})
    with pytest.raises(NeuromerError, match="one-dimensional"):
        _trials(rng, metadata={"x": np.zeros((3, 2))})


def test_neuromer_dat_reads_its_table_as_columns_equal_to_pandas(rng, tmp_path):
    meta = pd.DataFrame({"trial": [3, 1, 2], "stimulus_id": ["x", "y", "z"], "onset_s": [1.5, np.nan, 9.0],
                         "duration_s": [5.0, 5.0, 4.5], "block": np.array([1, 1, 2], dtype=np.int32),
                         "seen": [True, False, True]})
    trials = _trials(rng, metadata=meta, labels=rng.uniform(1, 9, (3, 4)))
    path = write_trials(trials, tmp_path / "s07.dat")
    back = read_trials(path)
    assert back._metadata is None  # read as columns: no pandas needed
    pd.testing.assert_frame_equal(back.metadata, trials.metadata, check_exact=True)
    assert list(back.dropped.columns) == list(trials.dropped.columns) and back.dropped.empty

    # a pandas-only dtype goes through pandas, as before
    trials.metadata["genre"] = pd.Categorical(["rock", "jazz", "rock"])
    back = read_trials(write_trials(trials, tmp_path / "s08.dat"))
    assert back._metadata is not None and back.metadata["genre"].dtype == "category"
    pd.testing.assert_frame_equal(back.metadata, trials.metadata, check_exact=True)


@pytest.mark.parametrize("baseline", [None, "subtract"])
def test_window_columns_equal_the_dataframe(rng, baseline):
    trials = _trials(rng, metadata={"duration_s": np.array([5.0, 6.0, 3.2])})  # past the data: NaN rows
    grid = WindowGrid(1.0, 0.5)
    columns = eeg_window_columns(trials, grid=grid, baseline=baseline)
    table = eeg_window_features(trials, grid=grid, baseline=baseline)
    assert list(columns) == list(table.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(columns), table, check_exact=True)
    assert table["eeg_alpha_Fz"].isna().sum() > 0  # NaN rows for the missing windows
    first = columns["eeg_theta_Fp1"]
    assert all(columns[c].flags.c_contiguous and columns[c].base is first.base for c in table.columns[6:])
    pd.testing.assert_frame_equal(pd.DataFrame(eeg_trial_columns(trials, grid=grid)),
                                  eeg_trial_features(trials, grid=grid), check_exact=True)


def test_parquet_columns_file_is_the_pandas_file(tmp_path, monkeypatch):
    n = 50
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n)
    x[[3, 40]] = np.nan
    columns = {"subject": np.array(["01"] * n, dtype=object), "trial": np.arange(n) // 10,
               "stimulus_id": np.array([f"sé{i // 7}" for i in range(n)], dtype=object),
               "small": np.arange(n, dtype=np.uint8), "flag": np.arange(n) % 3 == 0,
               "f32": x.astype(np.float32), "x": x, "strided": rng.standard_normal((n, 2))[:, 1]}
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    write_parquet_columns(columns, ours)
    write_table(pd.DataFrame(columns), theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    back = pd.read_parquet(ours)
    assert back.equals(pd.DataFrame(columns)) and np.isnan(back["x"][3])
    with pytest.raises(DataFormatError, match="file exists"):
        write_parquet_columns(columns, ours, overwrite=False)
    # should pyarrow's private writer change, the public one writes the same file
    import pyarrow._parquet

    real = pyarrow._parquet.ParquetWriter

    def changed(*args, **kwargs):  # a new required argument, which pyarrow.parquet passes
        if "store_schema" not in kwargs:
            raise TypeError("ParquetWriter() missing required argument 'store_schema'")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyarrow._parquet, "ParquetWriter", changed)
    write_parquet_columns(columns, tmp_path / "public.parquet")
    assert (tmp_path / "public.parquet").read_bytes() == theirs.read_bytes()
    with pytest.raises(DataFormatError, match="different lengths"):
        write_parquet_columns({"a": np.zeros(2), "b": np.zeros(3)}, tmp_path / "y.parquet")
    with pytest.raises(DataFormatError, match="column 'when': cannot write datetime64"):
        write_parquet_columns({"when": np.array(["2020-01-01"], dtype="datetime64[D]")}, tmp_path / "y.parquet")
    with pytest.raises(DataFormatError, match=".parquet files only"):
        write_parquet_columns(columns, tmp_path / "y.csv")
    assert not (tmp_path / "y.parquet").exists()


def _command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "neuromer", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, check=True)


def _imported(stderr: str) -> set[str]:
    """Modules and their top-level packages in a ``-X importtime`` log (every module the process imported)."""
    names = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return names | {name.split(".")[0] for name in names}


@pytest.mark.parametrize("extra", [[], ["--baseline", "subtract"], ["--per-trial"]])
def test_features_eeg_command_never_imports_pandas(rng, tmp_path, extra):
    trials = _trials(rng)
    dat = write_trials(trials, tmp_path / "s07.dat")
    out = tmp_path / "eeg.parquet"
    done = _command(["features", "eeg", str(dat), "--out", str(out), *extra], tmp_path)
    imported = _imported(done.stderr)
    assert "pyarrow" in imported and "neuromer" in imported  # the log is complete
    assert not {"pandas", "scipy", "mne", "sklearn"} & imported
    assert not {"pyarrow.parquet", "pyarrow.fs", "ssl"} & imported  # the writer is pyarrow._parquet's
    # the file is the one the pandas writer makes from the public API's DataFrame
    if "--per-trial" in extra:
        table = eeg_trial_features(read_trials(dat))
    else:
        table = eeg_window_features(read_trials(dat), baseline="subtract" if extra else None)
    write_table(table, tmp_path / "ref.parquet")
    assert out.read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert pd.read_parquet(out).equals(table)
    assert pq.ParquetFile(out).metadata.num_rows == len(table)


def test_features_eeg_command_writes_csv_through_pandas(rng, tmp_path):
    dat = write_trials(_trials(rng, n_trials=2), tmp_path / "s07.dat")
    _command(["features", "eeg", str(dat), "--out", str(tmp_path / "eeg.csv")], tmp_path)
    table = pd.read_csv(tmp_path / "eeg.csv")
    assert len(table) == 2 * 9 and table["subject"].eq(7).all()
    np.testing.assert_allclose(table["eeg_alpha_Fz"], eeg_window_features(read_trials(dat))["eeg_alpha_Fz"])


def test_features_parser_is_the_full_parsers_part():
    from neuromer.cli import _command_word, build_parser

    argv = ["-v", "features", "eeg", "s01.dat", "--out", "x.parquet", "--baseline", "ratio", "--hop-s", "0.25"]
    assert _command_word(argv) == "features" and _command_word(["--debug"]) is None
    full, part = build_parser().parse_args(argv), build_parser("features").parse_args(argv)
    assert {k: v for k, v in vars(full).items() if k != "func"} == {k: v for k, v in vars(part).items()
                                                                    if k != "func"}
    assert full.func is part.func
    assert build_parser("features")._subparsers._group_actions[0].choices.keys() == {"features", "align"}
    assert "simulate" in build_parser("simulate")._subparsers._group_actions[0].choices


def test_keep_freed_memory_saves_page_faults(tmp_path):
    """The command's allocator setting: the same features touch far fewer fresh pages (glibc)."""
    if not hasattr(os, "confstr") or not (os.confstr("CS_GNU_LIBC_VERSION") if sys.platform == "linux" else None):
        pytest.skip("glibc only")
    code = ("import resource, sys, numpy as np\n"
            "from neuromer.features_cli import _keep_freed_memory\n"
            "from neuromer.session import Trials\n"
            "from neuromer.eeg import eeg_window_columns\n"
            "trials = Trials(np.random.default_rng(0).standard_normal((20, 32, 63 * 128)), 128.0,\n"
            f"                {DEAP_EEG!r}, ['eeg'] * 32, baseline_s=3.0)\n"
            "applied = _keep_freed_memory() if sys.argv[1] == 'pad' else False\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "eeg_window_columns(trials)\n"
            "print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out = {mode: subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, env=env,
                                check=True).stdout.split() for mode in ("pad", "default")}
    assert out["pad"][0] == "True" and out["default"][0] == "False"
    assert int(out["pad"][1]) < 0.5 * int(out["default"][1]), out


def test_features_eeg_command_on_deaps_own_pickle_never_imports_pandas(rng, tmp_path):
    """DEAP's own files (protocol-2 pickles of data and labels only) take the same pandas-free path."""
    import pickle

    dat = tmp_path / "s05.dat"
    with open(dat, "wb") as fh:
        pickle.dump({"data": rng.standard_normal((2, 40, 7 * 128)) * 10, "labels": rng.uniform(1, 9, (2, 4))}, fh,
                    protocol=2)
    out = tmp_path / "eeg.parquet"
    done = _command(["features", "eeg", str(dat), "--out", str(out)], tmp_path)
    assert "pandas" not in _imported(done.stderr)
    table = eeg_window_features(read_trials(dat))
    assert len(table) == 2 * 7 and table["subject"].eq("05").all()
    assert pd.read_parquet(out).equals(table)


def test_window_features_of_fortran_ordered_trials(rng):
    """MATLAB files load Fortran-ordered: the EEG is copied to C order, the features are the same."""
    trials = _trials(rng)
    fortran = Trials(np.asfortranarray(trials.data), 128.0, trials.ch_names, trials.ch_types, baseline_s=1.0,
                     subject="07")
    assert not fortran.data.flags.c_contiguous
    pd.testing.assert_frame_equal(eeg_window_features(fortran), eeg_window_features(trials), check_exact=True)
