"""The ``study.events`` key of run configs: an events file per recording, like ``--events``."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from neuromer.errors import NeuromerError
from neuromer.pipeline import _is_done, make_config, process_subject

sys.path.insert(0, str(Path(__file__).parent / "io"))
from test_triggers import biosemi_bdf  # noqa: E402


def _study(tmp_path):
    for sub in ("01", "02"):
        biosemi_bdf(tmp_path / f"sub-{sub}.bdf", {}, duration_s=40.0)  # no events on the Status channel
    (tmp_path / "events").mkdir()
    for sub, first in (("01", 3.0), ("02", 5.0)):
        pd.DataFrame({"onset": [first, first + 15.0], "code": [1, 1]}).to_csv(
            tmp_path / "events" / f"sub-{sub}.tsv", sep="\t", index=False)
    (tmp_path / "p.toml").write_text('[protocol]\nname = "p"\n[timing]\nbaseline_s = 2.0\nstimulus_s = 6.0\n'
                                     '[markers.codes]\n1 = "stimulus_on"\n'
                                     '[[stimuli]]\nid = "a"\n[[stimuli]]\nid = "b"\n', encoding="utf-8")
    return {"study": {"inputs": ["sub-*.bdf"], "protocol": "p.toml", "events": "events/{stem}.tsv", "out": "run"},
            "features": {"audio": False, "physio": False}}


def test_events_key_finds_trials(tmp_path):
    raw = _study(tmp_path)
    cfg = make_config(raw, path=tmp_path / "c.toml")
    assert cfg.events_for(cfg.inputs[1]) == (tmp_path / "events" / "sub-02.tsv").resolve()
    payload = {"sections": cfg.sections, "path": str(cfg.path)}
    with pytest.warns(RuntimeWarning, match="no stimulus_off marker"):
        status = process_subject(str(cfg.inputs[1]), payload, str(cfg.out), None)
    assert status["status"] == "done", status.get("error")
    trials = pd.read_parquet(status["outputs"]["aligned"])
    assert sorted(trials["stimulus_id"].unique()) == ["a", "b"]
    assert _is_done(cfg, cfg.inputs[1])
    # a changed events file redoes the subject
    pd.DataFrame({"onset": [6.0], "code": [1]}).to_csv(tmp_path / "events" / "sub-02.tsv", sep="\t", index=False)
    assert not _is_done(cfg, cfg.inputs[1])


def test_events_key_errors(tmp_path):
    raw = _study(tmp_path)
    (tmp_path / "events" / "sub-02.tsv").unlink()
    with pytest.raises(NeuromerError, match=r"c.toml: 'study.events' = 'events/\{stem\}.tsv': no events file .*"
                                            r"sub-02.tsv for input sub-02.bdf"):
        make_config(raw, path=tmp_path / "c.toml")
    raw["study"]["events"] = "events/{sub}.tsv"
    with pytest.raises(NeuromerError, match=r"'study.events' = 'events/\{sub\}.tsv' is not a valid template"):
        make_config(raw, path=tmp_path / "c.toml")
    raw["study"]["events"] = 3
    with pytest.raises(NeuromerError, match="'study.events' must be (a path|text)"):
        make_config(raw, path=tmp_path / "c.toml")
