"""The shipped default predictor: provenance, NaN cues, calibrated shares, planted orders."""

import json

import numpy as np
import pandas as pd
import pytest

from neuromer.audio.evaluation import evaluate_default_model
from neuromer.audio.default_model import (CUES, MODEL_PATH, describe, fit_default_model,
                                          load_default_model, predict_scores, to_scale)
from neuromer.audio.emotion import predict_default
from neuromer.errors import DataFormatError, NeuromerError

QUADS = np.array(["Q1", "Q2", "Q3", "Q4"])


def test_shipped_json_loads_with_provenance():
    model = load_default_model()
    prov = model["provenance"]
    for key in ("dataset", "licence", "date", "script", "cv"):
        assert prov[key], key
    assert "4QAED" in prov["dataset"] and "no audio shipped" in prov["licence"]
    assert prov["script"] == "bench/fit_default_predictor.py"
    assert [c["column"] for c in model["cues"]] == [c for c, _ in CUES]
    assert all(len(model[d]["coef"]) == len(CUES) for d in ("valence", "arousal"))
    assert MODEL_PATH.stat().st_size < 20_000  # a small text file: coefficients, not data
    table = describe()
    assert table.shape == (len(CUES), 6) and table.meaning.str.len().gt(0).all()


def test_a_broken_json_is_a_one_line_error(tmp_path):
    bad = tmp_path / "m.json"
    model = load_default_model()
    bad.write_text(json.dumps({**model, "valence": {"intercept": 0, "coef": [1.0]}}))
    with pytest.raises(DataFormatError, match="valence has 1 coefficients for 16 cues"):
        load_default_model(bad)
    bad.write_text("{")
    with pytest.raises(DataFormatError, match="not a readable"):
        load_default_model(tmp_path / "m.json")


def _cue_table(rng, n, dim, high):
    """Cue values drawn around the shipped means, shifted along the sign of ``dim``'s coefficients."""
    model = load_default_model()
    cols = {}
    for k, c in enumerate(model["cues"]):
        shift = 0.8 * np.sign(model[dim]["coef"][k]) * (2 * high - 1)
        cols[c["column"]] = c["mean"] + c["scale"] * (shift + 0.3 * rng.normal(size=n))
    return pd.DataFrame(cols)


def test_missing_cues_are_skipped_and_no_cue_gives_nan():
    model = load_default_model()
    full = pd.DataFrame({c["column"]: [c["mean"] + c["scale"]] for c in model["cues"]})
    some = full.copy()
    some.iloc[0, :5] = np.nan
    none = full.copy() * np.nan
    out = predict_default(pd.concat([full, some, none], ignore_index=True))
    assert np.isfinite(out.iloc[:2][["audio_pred_valence", "audio_pred_arousal"]]).all().all()
    assert out.iloc[2].isna()[["audio_pred_valence", "audio_pred_arousal"]].all()
    assert out["audio_pred_quadrant"].iloc[2] == ""
    # a missing cue sits at the mean: dropping it equals setting it to its mean
    at_mean = full.copy()
    for c in model["cues"][:5]:
        at_mean[c["column"]] = c["mean"]
    s1, s2 = predict_scores(model, some), predict_scores(model, at_mean)
    assert s1["valence"][0] == pytest.approx(s2["valence"][0])
    # every cue at its mean: the calibrated intercept alone
    mean_row = pd.DataFrame({c["column"]: [c["mean"]] for c in model["cues"]})
    assert predict_scores(model, mean_row)["arousal"][0] == pytest.approx(model["arousal"]["intercept"])
    assert to_scale([-50.0, 0.0, 50.0]).tolist() == [1.0, 5.0, 9.0]


def _planted(n=400, seed=0):
    """Loudness carries arousal, mode strength carries valence, the rest of the cues is noise."""
    rng = np.random.default_rng(seed)
    q = QUADS[rng.integers(0, 4, n)]
    v = np.isin(q, ["Q1", "Q4"]) * 2.0 - 1
    a = np.isin(q, ["Q1", "Q2"]) * 2.0 - 1
    X = pd.DataFrame({c: rng.normal(size=n) for c, _ in CUES})
    X["audio_rms_db_mean"] = -20 + 4 * a + 2 * rng.normal(size=n)
    X["audio_mode_strength"] = 0.1 * v + 0.08 * rng.normal(size=n)
    return X, q


def test_fit_finds_the_planted_cues_and_calibrates_the_shares():
    X, q = _planted()
    model = fit_default_model(X, q, C=1.0)
    tab = describe(model).set_index("cue")
    assert tab.arousal_coef.abs().idxmax() == "audio_rms_db_mean" and tab.arousal_coef.max() > 1
    assert tab.valence_coef.abs().idxmax() == "audio_mode_strength" and tab.valence_coef.max() > 1
    s = predict_scores(model, X)
    for dim, high in (("valence", ["Q1", "Q4"]), ("arousal", ["Q1", "Q2"])):
        assert np.mean(s[dim] > 0) == pytest.approx(np.mean(np.isin(q, high)), abs=0.005)
    # an unbalanced set: the thresholds follow the labelled share, not 50 %
    keep = (q != "Q3") | (np.arange(len(q)) % 3 == 0)
    m2 = fit_default_model(X[keep], q[keep])
    s2 = predict_scores(m2, X[keep])
    assert np.mean(s2["arousal"] > 0) == pytest.approx(np.mean(np.isin(q[keep], ["Q1", "Q2"])), abs=0.005)


def test_cross_validated_figures_and_no_collapse_on_planted_data():
    X, q = _planted(n=400)
    artists = np.arange(400) // 4
    cv = evaluate_default_model(X, q, artists, n_splits=5, n_repeats=2, C=1.0)
    assert (cv.protocol == "artist").all()
    m = cv.mean(numeric_only=True)
    assert m.arousal_auc > 0.9 and m.valence_auc > 0.85 and m.quadrant_accuracy > 0.65
    for k in QUADS:
        assert abs(m[f"share_{k}"] - m[f"true_share_{k}"]) < 0.1
    with pytest.raises(NeuromerError, match="missing from the feature table"):
        fit_default_model(X.drop(columns="audio_tempo_bpm"), q)


def test_shipped_predictor_orders_generated_cue_tables():
    """Rows shifted along the arousal-raising cue directions get higher predicted arousal."""
    rng = np.random.default_rng(2)
    for dim in ("valence", "arousal"):
        low = predict_default(_cue_table(rng, 50, dim, 0))[f"audio_pred_{dim}"]
        high = predict_default(_cue_table(rng, 50, dim, 1))[f"audio_pred_{dim}"]
        assert high.min() > 5 > low.max(), dim


@pytest.mark.slow
def test_simulator_stimuli_keep_their_planted_order():
    """The simulator's stimuli (tempo, loudness, brightness follow arousal; mode follows valence)."""
    from neuromer.audio.summary import summarize
    from neuromer.simulate import synthesize_music

    pred = {}
    for a in (2.0, 5.0, 8.0):
        u = (a - 1) / 8
        for mode in ("major", "minor"):
            y = synthesize_music(duration_s=4.0, tempo_bpm=60 + 100 * u, mode=mode, loudness_db=-26 + 18 * u,
                                 brightness=0.15 + 0.8 * u, articulation=0.95 - 0.55 * u, seed=3)
            row = summarize(y, 22050, melody=False)
            pred[a, mode] = (row.audio_pred_valence.iloc[0], row.audio_pred_arousal.iloc[0])
    for mode in ("major", "minor"):
        assert pred[2.0, mode][1] < pred[5.0, mode][1] < pred[8.0, mode][1]
    for a in (2.0, 5.0, 8.0):
        assert pred[a, "major"][0] > pred[a, "minor"][0]
