"""Atomic writes: permissions of the finished file and the Parquet encodings of tables."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from neuromer.io._atomic import atomic_path, write_table

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@pytest.fixture
def umask():
    """Set a known umask for the test and restore the old one."""
    masks = []

    def set_mask(mask: int) -> None:
        masks.append(os.umask(mask))

    yield set_mask
    if masks:
        os.umask(masks[0])


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_umask_default_mode(tmp_path, umask, mask, expected):
    umask(mask)
    with atomic_path(tmp_path / "report.html") as tmp:
        assert _mode(tmp) == 0o600  # mkstemp's private file while it is being written
        tmp.write_text("<html></html>")
    assert _mode(tmp_path / "report.html") == expected
    write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "t.parquet")
    write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "t.csv")
    assert _mode(tmp_path / "t.parquet") == expected
    assert _mode(tmp_path / "t.csv") == expected


@posix_only
def test_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    write_table(pd.DataFrame({"a": [1, 2]}), target, overwrite=True)
    assert _mode(target) == 0o640
    assert target.read_text().splitlines() == ["a", "1", "2"]


@posix_only
def test_writer_that_recreates_the_file_still_gets_the_mode(tmp_path, umask):
    umask(0o027)
    with atomic_path(tmp_path / "x.bin") as tmp:
        tmp.unlink()  # some writers remove and recreate their output
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"data")
        os.close(fd)
    assert _mode(tmp_path / "x.bin") == 0o640
    assert (tmp_path / "x.bin").read_bytes() == b"data"


def test_parquet_floats_plain_keys_dictionary_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "subject": ["01"] * 200, "trial": np.repeat(np.arange(4), 50),
        "stimulus_id": pd.Categorical(np.repeat(["a", "b", "c", "d"], 50)),
        "eeg_alpha_Fz": rng.standard_normal(200), "eeg_x": rng.standard_normal(200).astype(np.float32),
    })
    table.loc[3, "eeg_alpha_Fz"] = np.nan
    path = write_table(table, tmp_path / "t.parquet")
    meta = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {meta.column(j).path_in_schema: meta.column(j).encodings for j in range(meta.num_columns)}
    columns = {meta.column(j).path_in_schema: meta.column(j) for j in range(meta.num_columns)}
    for name in ("subject", "trial", "stimulus_id"):
        assert "RLE_DICTIONARY" in encodings[name], name
        assert columns[name].compression == "SNAPPY" and columns[name].is_stats_set, name
    for name in ("eeg_alpha_Fz", "eeg_x"):  # plain, uncompressed, no statistics (see parquet_options)
        assert not {"RLE_DICTIONARY", "PLAIN_DICTIONARY"} & set(encodings[name]), name
        assert columns[name].compression == "UNCOMPRESSED" and not columns[name].is_stats_set, name
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, table)  # same columns, dtypes (category, float32) and NaN


def test_sync_false_skips_only_the_fsync(tmp_path, monkeypatch):
    import os

    from neuromer.io._atomic import atomic_path

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    for sync in (True, False):
        target = tmp_path / f"{sync}.bin"
        with atomic_path(target, sync=sync) as tmp:
            tmp.write_bytes(b"whole")
        assert target.read_bytes() == b"whole" and len(synced) == 1  # fsynced once: only the sync=True file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["False.bin", "True.bin"]
