"""Trainable audio-emotion models: annotations CSV -> cross-validated report -> skops model -> predict."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.audio.emotion import predict_default, quadrant
from neuromer.audio.emotion_model import predict_audio, train_audio_model
from neuromer.errors import DataFormatError, NeuromerError
from neuromer.models.persistence import load_model
from neuromer.simulate import synthesize_music


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    """Twelve 4 s clips whose cues follow their (valence, arousal) annotation, in a subfolder."""
    root = tmp_path_factory.mktemp("annot")
    (root / "clips").mkdir()
    rng = np.random.default_rng(1)
    rows = []
    for i in range(12):
        v, a = rng.uniform(1.5, 8.5), rng.uniform(1.5, 8.5)
        u = (a - 1) / 8
        y = synthesize_music(duration_s=4.0, tempo_bpm=60 + 100 * u, mode="major" if v > 5 else "minor",
                             loudness_db=-26 + 18 * u, brightness=0.15 + 0.8 * u, articulation=0.95 - 0.55 * u,
                             seed=i)
        sf.write(root / "clips" / f"c{i:02d}.wav", y, 22050)
        rows.append({"song": f"clips/c{i:02d}.wav", "Valence": round(v, 2), "Arousal": round(a, 2)})
    csv = root / "annotations.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def test_regression_round_trip(annotated, tmp_path, caplog):
    model = tmp_path / "audio.skops"
    # a silent clip in the annotations is left out of training, with a warning naming it
    silent = annotated.parent / "clips" / "silent.wav"
    sf.write(silent, np.zeros(3 * 22050), 22050)
    with_silent = tmp_path / "with_silent.csv"
    pd.concat([pd.read_csv(annotated).assign(song=lambda t: str(annotated.parent) + "/" + t["song"]),
               pd.DataFrame({"song": [str(silent)], "Valence": [5.0], "Arousal": [1.0]})]).to_csv(with_silent,
                                                                                               index=False)
    report = train_audio_model(with_silent, out=model, n_splits=3, cache_dir=tmp_path / "cache")
    assert f"{silent}: silent" in caplog.text and "training (left out)" in caplog.text
    assert (report["n"] == 12).all()
    assert set(report["model"]) == {"xgboost", "linear"}
    assert set(report["target"]) == {"valence", "arousal"}
    assert (report["folds"] == 3).all() and np.isfinite(report["rmse"]).all()
    # arousal is carried by loud, fast, bright cues: even 12 clips learn it (linear baseline)
    lin = report.set_index(["model", "target"])
    assert lin.loc[("linear", "arousal"), "r"] > 0.5
    est, meta = load_model(model, with_metadata=True)
    assert meta["kind"] == "audio" and meta["targets"] == ["valence", "arousal"]
    files = sorted((annotated.parent / "clips").glob("*.wav"))[:3]
    pred = predict_audio(model, files, cache_dir=tmp_path / "cache")
    assert pred.columns.tolist() == ["audio", "pred_valence", "pred_arousal"]
    assert len(pred) == 3 and np.isfinite(pred[["pred_valence", "pred_arousal"]]).all().all()
    assert model.read_bytes()[:2] == b"PK"  # a skops zip, not a pickle
    # silent and 1-sample clips: NaN and a warning naming the file, never a confident number
    one = tmp_path / "one.wav"
    sf.write(one, np.array([0.3]), 22050)
    caplog.clear()
    pred = predict_audio(model, [files[0], silent, one])
    assert np.isfinite(pred.iloc[0, 1:].to_numpy(dtype=float)).all()
    assert pred.iloc[1:, 1:].isna().all().all()
    assert f"{silent}: silent" in caplog.text and f"{one}: 4.54e-05 s long (< 1 s)" in caplog.text


def test_quadrant_classification_round_trip(annotated, tmp_path):
    table = pd.read_csv(annotated)
    table["quadrant"] = quadrant(table["Valence"], table["Arousal"])
    table["quadrant"] = table["quadrant"].str[1]  # "1".."4" is accepted too
    # make sure every quadrant present has >= 2 clips
    keep = table.groupby("quadrant")["song"].transform("size") >= 2
    csv = annotated.parent / "quad.csv"
    table.loc[keep, ["song", "quadrant"]].to_csv(csv, index=False)
    model = tmp_path / "q.skops"
    report = train_audio_model(csv, out=model, n_splits=2)
    assert set(report.columns) >= {"accuracy", "f1_macro"}
    pred = predict_audio(model, [annotated.parent / "clips" / "c00.wav"])
    assert pred["pred_quadrant"].iloc[0] in {"Q1", "Q2", "Q3", "Q4"}


def test_bad_annotations(tmp_path, annotated):
    bad = tmp_path / "a.csv"
    pd.DataFrame({"name": ["x.wav"], "valence": [5]}).to_csv(bad, index=False)
    with pytest.raises(DataFormatError, match="no audio path column"):
        train_audio_model(bad)
    pd.DataFrame({"audio": ["x.wav"], "valence": [5]}).to_csv(bad, index=False)
    with pytest.raises(DataFormatError, match="valence.*arousal.*quadrant"):
        train_audio_model(bad)
    pd.DataFrame({"audio": ["nope.wav"], "valence": [5], "arousal": [4]}).to_csv(bad, index=False)
    with pytest.raises(DataFormatError, match="not found.*nope.wav"):
        train_audio_model(bad)
    clip = str(annotated.parent / "clips" / "c00.wav")
    pd.DataFrame({"audio": [clip, clip], "quadrant": ["Q1", "Q7"]}).to_csv(bad, index=False)
    with pytest.raises(DataFormatError, match="row 3 has quadrant 'Q7'"):
        train_audio_model(bad)
    pd.DataFrame({"audio": [clip], "valence": [5], "arousal": [4]}).to_csv(bad, index=False)
    with pytest.raises(NeuromerError, match="at least 2 clips"):
        train_audio_model(bad)


def test_predict_refuses_a_non_audio_model(tmp_path):
    from sklearn.linear_model import Ridge

    from neuromer.models.persistence import save_model

    path = save_model(Ridge().fit([[0.0], [1.0]], [0.0, 1.0]), tmp_path / "eeg.skops")
    with pytest.raises(DataFormatError, match="not an audio-emotion model"):
        predict_audio(path, [])


def test_default_predictor_is_transparent():
    # slow, soft, minor, dull and peaky (high spectral contrast) against fast, loud, major, noisy and dense
    table = pd.DataFrame({"audio_tempo_bpm": [60.0, 170.0, np.nan], "audio_rms_db_mean": [-30.0, -10.0, np.nan],
                          "audio_mode_strength": [-0.3, 0.3, np.nan], "audio_entropy_mean": [0.35, 0.62, np.nan],
                          "audio_contrast_1_mean": [19.0, 13.0, np.nan]})
    out = predict_default(table)
    assert out["audio_pred_arousal"].iloc[1] > 7 > 3 > out["audio_pred_arousal"].iloc[0]
    assert out["audio_pred_valence"].iloc[1] > 5 > out["audio_pred_valence"].iloc[0]
    assert out["audio_pred_quadrant"].tolist() == ["Q3", "Q1", ""]
    # with three cues only, the others sit at their means: the same order, less extreme
    few = predict_default(table.iloc[:, :3])
    assert few["audio_pred_arousal"].iloc[1] > 5 > few["audio_pred_arousal"].iloc[0]
    assert few["audio_pred_quadrant"].tolist() == ["Q3", "Q1", ""]
    assert np.isnan(out["audio_pred_arousal"].iloc[2])  # no cue, no guess


def test_training_groups_folds_by_artist_when_known(annotated, tmp_path):
    table = pd.read_csv(annotated)
    table["Artist"] = [f"band {i % 3}" for i in range(len(table))]
    csv = annotated.parent / "with_artists.csv"
    table.to_csv(csv, index=False)
    report = train_audio_model(csv, n_splits=5, cache_dir=tmp_path / "cache")
    assert (report["grouped_by"] == "artist").all()
    assert (report["folds"] == 3).all()  # at most one fold per artist
    plain = train_audio_model(annotated, n_splits=3, cache_dir=tmp_path / "cache")
    assert (plain["grouped_by"] == "none").all()
