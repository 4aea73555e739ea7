"""BIDS input: a dataset written by hand (BDF + sidecars) reads like the simulator's own XDF."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuromer.epochs import make_trials
from neuromer.errors import DataFormatError
from neuromer.io import read_session
from neuromer.io.bids import is_bids_recording, read_bids
from neuromer.io.xdf import read_xdf

sys.path.insert(0, str(Path(__file__).parent))
from bdf_writer import write_bdf  # noqa: E402


def make_bids(root: Path, session, sub: str = "01", ses: str | None = None) -> Path:
    """Write ``session``'s EEG + EOG as a BIDS EEG recording with channels/events sidecars."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "neuromer test", "BIDSVersion": "1.9.0"}))
    raw = session.raw.copy().pick(["eeg", "eog"])
    ents = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_task-music"
    folder = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "eeg"
    folder.mkdir(parents=True, exist_ok=True)
    sfreq = int(raw.info["sfreq"])
    data_uv = raw.get_data() * 1e6
    path = write_bdf(folder / f"{ents}_eeg.bdf", data_uv, raw.ch_names, sfreq)
    types = {"eeg": "EEG", "eog": "EOG"}
    pd.DataFrame({"name": raw.ch_names, "type": [types[t] for t in raw.get_channel_types()],
                  "units": "uV"}).to_csv(folder / f"{ents}_channels.tsv", sep="\t", index=False)
    markers = session.markers
    pd.DataFrame({"onset": markers["onset_s"].round(6), "duration": 0.0,
                  "trial_type": markers["description"]}).to_csv(folder / f"{ents}_events.tsv", sep="\t", index=False)
    (folder / f"{ents}_eeg.json").write_text(json.dumps({
        "TaskName": "music", "SamplingFrequency": sfreq, "EEGReference": "CMS", "PowerLineFrequency": 50,
        "SoftwareFilters": "n/a"}))
    return path


@pytest.fixture(scope="module")
def xdf_session(study, study_protocol):
    return read_xdf(study.xdf[0], protocol=study_protocol)


def test_bids_recording_reads_like_the_xdf(tmp_path, xdf_session, study_protocol):
    path = make_bids(tmp_path / "ds", xdf_session, ses="2")
    assert is_bids_recording(path)
    sess = read_session(path, protocol=study_protocol)
    assert sess.subject == "01" and sess.session == "2"
    assert "eog" in sess.raw.get_channel_types() and sess.raw.get_montage() is not None
    cols = ["trial", "stimulus_id", "valence", "arousal"]
    pd.testing.assert_frame_equal(sess.trials[cols].reset_index(drop=True),
                                  xdf_session.trials[cols].reset_index(drop=True), check_dtype=False)
    np.testing.assert_allclose(sess.trials["onset_s"], xdf_session.trials["onset_s"], atol=1e-3)
    a, b = make_trials(sess, protocol=study_protocol), make_trials(xdf_session, protocol=study_protocol)
    common = [c for c in a.ch_names if c in b.ch_names]
    xa = a.data[:, [a.ch_names.index(c) for c in common]]
    xb = b.data[:, [b.ch_names.index(c) for c in common]]
    assert np.max(np.abs(xa - xb)) < 0.05  # µV: BDF keeps 24 bits over +-262 mV (0.03 µV steps)
    assert any(str(f).endswith("_events.tsv") for f in sess.provenance["source_files"])


def test_pipeline_subject_ids_keep_sessions_apart():
    from neuromer.pipeline import subject_id

    assert subject_id(Path("sub-07_ses-2_task-music_eeg.bdf")) == "07_ses-2"
    assert subject_id(Path("sub-07_ses-3_task-music_run-1_eeg.bdf")) == "07_ses-3_run-1"
    assert subject_id(Path("sub-07.xdf")) == "07" and subject_id(Path("s07.dat")) == "07"


def test_not_bids_and_broken_sidecars(tmp_path, xdf_session):
    path = make_bids(tmp_path / "ds", xdf_session)
    (tmp_path / "ds" / "dataset_description.json").unlink()
    assert not is_bids_recording(path)
    with pytest.raises(DataFormatError, match="not inside a BIDS dataset"):
        read_bids(path)
    path = make_bids(tmp_path / "ds2", xdf_session)
    path.write_bytes(path.read_bytes()[:300])  # a truncated header
    with pytest.raises(DataFormatError, match="not a readable BIDS recording"):
        read_bids(path)
