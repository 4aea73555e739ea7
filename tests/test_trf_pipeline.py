"""`neuromer run` with [align] refine_onsets and [trf]: group tables, report section, workers, resume."""

import pandas as pd
import pytest

from neuromer.errors import NeuromerError
from neuromer.pipeline import make_config, read_config, run

pytestmark = pytest.mark.slow

CONFIG = """
[study]
inputs = ["study/xdf/*.xdf"]
protocol = "study/protocol.toml"
out = "{out}"
[features]
physio = false
audio_melody = false
[models]
feature_sets = [["eeg"]]
n_permutations = 0          # decoding chance is not what this file tests; TRF p-values come from its own null
[align]
refine_onsets = "StimAudio"
[trf]
enabled = true
features = ["envelope", "note_onsets"]
lambdas = [0.01, 1.0, 100.0]  # three penalties keep the nested CV of the 1056-weight backward model quick
n_null = 100
"""


@pytest.fixture(scope="module")
def trf_run(tmp_path_factory):
    from neuromer.simulate import simulate_study

    root = tmp_path_factory.mktemp("trfrun")
    study = simulate_study(root / "study", n_subjects=2, n_trials=6, stimulus_s=12.0, seed=5)
    (root / "run.toml").write_text(CONFIG.format(out="run"))
    record = run(read_config(root / "run.toml"))
    return root, study, record


def test_group_tables_and_targets(trf_run):
    root, study, record = trf_run
    assert record["failed"] == [] and record["trf"]["n_subjects"] == 2
    group = root / "run" / "group"
    w = pd.read_parquet(group / "trf_weights.parquet")
    assert list(w.columns) == ["subject", "model", "feature", "channel", "lag_s", "weight"]
    assert set(w.model) == {"forward", "backward"} and set(w[w.model == "forward"].feature) == {"envelope",
                                                                                                "note_onsets"}
    fw = w[w.model == "forward"]
    assert fw.lag_s.min() == pytest.approx(-13 / 128) and fw.lag_s.max() == pytest.approx(0.5)
    s = pd.read_parquet(group / "trf_scores.parquet")
    assert {"subject", "model", "feature_set", "channel", "r", "null_mean", "p"} <= set(s.columns)
    assert set(s.feature_set) == {"full", "acoustic", "melodic_unique", "envelope"}
    for sub in ("01", "02"):
        fwd = s.query("subject == @sub and model == 'forward' and feature_set == 'full' and channel == 'all'")
        bwd = s.query("subject == @sub and model == 'backward'")
        assert fwd.p.item() < 0.01 and bwd.p.item() < 0.01 and bwd.r.item() > bwd.null_mean.item() + 0.05
    t = pd.read_parquet(group / "trf_trials.parquet")
    truth = pd.read_csv(study.ground_truth, dtype={"subject": str})
    m = t.merge(truth, on=["subject", "stimulus_id"], suffixes=("", "_true"))
    assert len(m) == 12 and (m.onset_offset_s - m.onset_offset_s_true).abs().max() < 1e-3
    # the trials themselves were cut at the refined onsets
    from neuromer.io import read_trials

    meta = read_trials(root / "run" / "subjects" / "sub-01" / "trials-epo.fif").metadata
    assert meta.onset_refined.all() and (meta.onset_s - meta.marker_onset_s).between(0.004, 0.081).all()
    emo = pd.read_csv(group / "trf_emotion.csv")
    assert {"forward_r", "backward_r"} == set(emo.tracking) and "self_arousal" in set(emo.emotion)
    html = (root / "run" / "report.html").read_text()
    for part in ("TRF waveforms", "topomap of prediction r", "prediction and reconstruction r per subject vs null",
                 "onset-offset histogram", "tracking vs emotion"):
        assert f"Neural tracking (TRF): {part}" in html
    # exported like every report figure: SVG, 300-dpi PNG and the plotted numbers
    figs = root / "run" / "figures"
    for name in ("trf_waveforms", "trf_prediction_r_topomap", "trf_r_per_subject", "trf_onset_offsets"):
        assert all((figs / f"{name}.{ext}").is_file() for ext in ("svg", "png", "csv")), name
    waves = pd.read_csv(figs / "trf_waveforms.csv")
    assert {"feature", "channel", "lag_s", "weight"} <= set(waves.columns) and len(waves)


def test_workers_give_the_same_tables_and_resume_skips(trf_run):
    root, _, _ = trf_run
    (root / "run2.toml").write_text(CONFIG.format(out="run2"))
    run(read_config(root / "run2.toml"), workers=2, report=False)
    for name in ("trf_weights", "trf_scores", "trf_trials"):
        a = pd.read_parquet(root / "run" / "group" / f"{name}.parquet")
        b = pd.read_parquet(root / "run2" / "group" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)
    again = run(read_config(root / "run2.toml"), report=False)
    assert all(st.get("skipped") for st in again["subjects"].values())
    assert again["trf"]["n_subjects"] == 2


def test_bad_trf_config_and_missing_sound_channel(trf_run):
    root, _, _ = trf_run
    with pytest.raises(NeuromerError, match="'trf.lags_s' must be"):
        make_config({"study": {"inputs": ["study/xdf/*.xdf"]}, "trf": {"lags_s": [0.3, 0.1]}}, path=root / "x.toml")
    (root / "run3.toml").write_text(CONFIG.format(out="run3").replace('"StimAudio"', '"Microphone"'))
    rec = run(read_config(root / "run3.toml"), report=False)
    assert sorted(rec["failed"]) == ["01", "02"]
    assert "no channel or stream named 'Microphone'" in rec["subjects"]["01"]["error"]
