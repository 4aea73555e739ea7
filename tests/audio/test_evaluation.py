"""Honest MER evaluation: repeated (artist-grouped) folds, selection inside folds, ablation CI."""

import numpy as np
import pandas as pd
import pytest

from neuromer.audio.evaluation import (ablation, artist_groups, evaluate_mer, feature_families, mer_pipeline,
                                       repeated_splits)
from neuromer.errors import NeuromerError

QUADS = np.array(["Q1", "Q2", "Q3", "Q4"])


def planted(n=240, n_noise=20, seed=0, shift=1.5):
    """Four classes separated by two known columns; the rest is noise."""
    rng = np.random.default_rng(seed)
    y = QUADS[np.arange(n) % 4]
    v = np.isin(y, ["Q1", "Q4"]) * 2.0 - 1
    a = np.isin(y, ["Q1", "Q2"]) * 2.0 - 1
    X = rng.normal(size=(n, n_noise))
    X[:, 0] += shift * v
    X[:, 1] += shift * a
    return pd.DataFrame(X, columns=[f"audio_f{i}_mean" for i in range(n_noise)]), y


def test_feature_families_split_the_panda_groups():
    cols = ["audio_rms_db_mean", "audio_mfcc_3_p90", "audio_tempo_bpm", "audio_melody_pitch_range",
            "audio_melody_register_low", "audio_melody_duration_short_to_long", "audio_melody_staccato_ratio",
            "audio_melody_vibrato_rate_hz", "audio_tremolo_presence", "audio_melody_glissando_presence",
            "audio_melody_crescendo_share", "audio_texture_layers_mean", "audio_vocal_melody_pitch_mean",
            "audio_pred_valence", "file"]
    fam = feature_families(cols)
    assert fam["baseline"] == ["audio_rms_db_mean", "audio_mfcc_3_p90", "audio_tempo_bpm"]
    assert fam["melody"] == ["audio_melody_pitch_range", "audio_melody_register_low",
                             "audio_melody_duration_short_to_long", "audio_vocal_melody_pitch_mean"]
    assert fam["expressive"] == ["audio_melody_staccato_ratio", "audio_melody_vibrato_rate_hz",
                                 "audio_tremolo_presence", "audio_melody_glissando_presence",
                                 "audio_melody_crescendo_share"]
    assert fam["texture"] == ["audio_texture_layers_mean"]


def test_feature_families_cover_the_real_melody_columns_once():
    from neuromer.audio._melody_stats import FEATURE_NAMES

    fam = feature_families([f"audio_{c}" for c in FEATURE_NAMES])
    assert fam["baseline"] == []
    assert sum(len(v) for v in fam.values()) == len(FEATURE_NAMES)
    assert len(fam["texture"]) == 6 and len(fam["expressive"]) == 22


def test_artist_groups_normalise_names_and_isolate_unknowns():
    g = artist_groups(["The Band", "the  band", None, "Other", "", np.nan])
    assert g[0] == g[1] and g[0] != g[3]
    assert len({g[2], g[4], g[5], g[0], g[3]}) == 5  # each unknown clip is its own group


def test_artist_folds_never_share_an_artist():
    rng = np.random.default_rng(3)
    artists = rng.integers(0, 60, 300)
    y = QUADS[artists % 4]  # an artist sings in one quadrant, as often in real data
    n_seen = 0
    for r, k, train, test in repeated_splits(y, artists, protocol="artist", n_splits=10, n_repeats=3):
        assert not set(artists[train]) & set(artists[test])
        assert set(y[test]) == set(QUADS)  # still stratified
        n_seen += 1
    assert n_seen == 30
    # the stratified protocol does mix artists (what the grouped one prevents)
    mixed = [bool(set(artists[tr]) & set(artists[te]))
             for _, _, tr, te in repeated_splits(y, protocol="stratified", n_splits=10, n_repeats=1)]
    assert all(mixed)


def test_each_repeat_predicts_every_clip_once_and_repeats_differ():
    X, y = planted(n=80)
    res = evaluate_mer(X, y, protocols=["stratified"], classifier="logreg", tune=False, n_splits=5, n_repeats=3)
    pred = res.predictions["stratified"]
    assert pred.shape == (3, 80) and all(p is not None for p in pred.ravel())
    assert res.folds.groupby("repeat").n_test.sum().tolist() == [80, 80, 80]
    assert len(res.repeats) == 3 and res.repeats.f1_macro.nunique() > 1


def test_known_separable_subset_is_learned():
    X, y = planted(n=240, shift=2.0)
    res = evaluate_mer(X, y, protocols=["stratified"], classifier="logreg", k_best=2, tune=False,
                       n_splits=5, n_repeats=2)
    row = res.summary.iloc[0]
    # Bayes accuracy with two +-2 shifted unit-normal axes: Phi(2)^2 = 0.955
    assert row.f1_mean > 0.88 and row.accuracy_mean > 0.88


def test_selection_inside_folds_keeps_pure_noise_at_chance():
    """2000 noise columns, 80 clips: picking the 10 'best' columns on all clips would leak."""
    rng = np.random.default_rng(7)
    n = 80
    y = QUADS[np.arange(n) % 4]
    X = pd.DataFrame(rng.normal(size=(n, 2000)))
    honest = evaluate_mer(X, y, protocols=["stratified"], classifier="logreg", k_best=10, tune=False,
                          n_splits=5, n_repeats=3, random_state=1)
    assert abs(honest.summary.f1_mean.iloc[0] - 0.25) < 0.12
    # the leaky way (select on all clips, then cross-validate) looks far better than chance
    from sklearn.feature_selection import SelectKBest, f_classif

    leaky_cols = SelectKBest(f_classif, k=10).fit(X, y).get_support()
    leaky = evaluate_mer(X.loc[:, leaky_cols], y, protocols=["stratified"], classifier="logreg", tune=False,
                         n_splits=5, n_repeats=3, random_state=1)
    assert leaky.summary.f1_mean.iloc[0] > honest.summary.f1_mean.iloc[0] + 0.2


def test_artist_protocol_exposes_an_artist_shortcut():
    """Features that identify the artist (not the emotion) score on stratified folds only."""
    rng = np.random.default_rng(5)
    n_art, per = 40, 6
    artists = np.repeat(np.arange(n_art), per)
    y = QUADS[rng.permutation(np.arange(n_art) % 4)][artists]  # each artist in one quadrant
    signature = rng.normal(size=(n_art, 8))[artists] * 3  # a production fingerprint per artist
    X = pd.DataFrame(signature + rng.normal(size=(n_art * per, 8)) * 0.3)
    res = evaluate_mer(X, y, groups=artists, classifier="svm", tune=False, n_splits=5, n_repeats=2)
    f1 = res.summary.set_index("protocol").f1_mean
    assert f1["stratified"] > 0.8
    assert abs(f1["artist"] - 0.25) < 0.15


def test_tuned_svm_and_xgboost_run_through_the_same_pipeline():
    X, y = planted(n=120, shift=2.0)
    for clf in ("svm", "xgboost"):
        res = evaluate_mer(X, y, protocols=["stratified"], classifier=clf, k_best=5, n_splits=3, n_repeats=1)
        assert res.summary.f1_mean.iloc[0] > 0.7, clf
    est = mer_pipeline("svm", k_best=5)
    search = est.named_steps["search"]
    assert type(search).__name__ == "GridSearchCV" and "select" in search.estimator.named_steps
    assert list(est.named_steps) == ["impute", "scale", "search"]


def test_ensemble_power_transform_and_k_chosen_inside_the_folds():
    X, y = planted(n=160, shift=2.0)
    res = evaluate_mer(X, y, protocols=["stratified"], classifier="ensemble", transform="yeo-johnson",
                       k_best=5, tune=False, n_splits=4, n_repeats=1)
    assert res.summary.f1_mean.iloc[0] > 0.8
    # k from the inner search: one column carries only one axis (F1 <= ~0.5), two carry both
    est = mer_pipeline("logreg", k_grid=[1, 2], transform="yeo-johnson").fit(X, y)
    assert est.named_steps["search"].best_params_["select__k"] == 2
    assert type(est.named_steps["scale"]).__name__ == "PowerTransformer"
    res = evaluate_mer(X, y, protocols=["stratified"], classifier="svm", k_grid=[2, 500], n_splits=4, n_repeats=1)
    assert res.params["k_grid"] == [2, X.shape[1]] and res.summary.f1_mean.iloc[0] > 0.8


def test_relative_gamma_svc_is_sklearn_scale_on_standardised_data():
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from neuromer.audio._svc import RelativeGammaSVC

    X, y = planted(n=120, n_noise=8)
    Z = StandardScaler().fit_transform(X)
    m = RelativeGammaSVC(C=2.0, gamma_scale=1.0).fit(Z, y)
    assert m.gamma == pytest.approx(1 / 8)
    np.testing.assert_array_equal(m.predict(Z), SVC(C=2.0, gamma="scale").fit(Z, y).predict(Z))
    assert RelativeGammaSVC(gamma_scale=2.0).fit(Z[:, :4], y).gamma == pytest.approx(0.5)


def test_bad_arguments_are_one_line_errors():
    X, y = planted(n=40)
    with pytest.raises(NeuromerError, match="'classifier'"):
        mer_pipeline("knn")
    with pytest.raises(NeuromerError, match="'transform'"):
        mer_pipeline("svm", transform="log")
    with pytest.raises(NeuromerError, match="'k_grid'"):
        mer_pipeline("svm", k_grid=[0, 5])
    with pytest.raises(NeuromerError, match="needs >= 11 clips per class; class .Q1. has 10"):
        evaluate_mer(X, y, protocols=["stratified"], n_splits=11)
    with pytest.raises(NeuromerError, match="needs >= 5 artists"):
        list(repeated_splits(y, np.arange(40) % 3, protocol="artist", n_splits=5, n_repeats=1))
    with pytest.raises(NeuromerError, match="40 clips but y has 39"):
        evaluate_mer(X, y[:-1])


def _ablation_data(n, gain_shift, seed):
    """Baseline columns carry valence weakly; a 'melody' column carries arousal (gain_shift)."""
    rng = np.random.default_rng(seed)
    y = QUADS[rng.integers(0, 4, n)]
    v = np.isin(y, ["Q1", "Q4"]) * 2.0 - 1
    a = np.isin(y, ["Q1", "Q2"]) * 2.0 - 1
    base = rng.normal(size=(n, 6))
    base[:, 0] += 1.5 * v
    base[:, 1] += 0.4 * a
    novel = rng.normal(size=(n, 3))
    novel[:, 0] += gain_shift * a
    cols = [f"audio_b{i}_mean" for i in range(6)] + ["audio_melody_pitch_mean", "audio_texture_layers_mean",
                                                       "audio_melody_vibrato_rate_hz"]
    return pd.DataFrame(np.hstack([base, novel]), columns=cols), y


def _population_gain(gain_shift, k):
    """F1(all) - F1(baseline) of the same pipeline trained on 300 clips, tested on 20000 new ones."""
    from sklearn.base import clone

    from neuromer.audio.evaluation import macro_f1

    gains = []
    for s in range(5):
        Xtr, ytr = _ablation_data(300, gain_shift, 100 + s)
        Xte, yte = _ablation_data(20000, gain_shift, 200 + s)
        fam = feature_families(Xtr.columns)
        f1 = {}
        for pool, cols in (("b", fam["baseline"]), ("a", list(Xtr.columns))):
            est = clone(mer_pipeline("logreg", k_best=min(k, len(cols)), tune=False)).fit(Xtr[cols], ytr)
            f1[pool] = macro_f1(yte, est.predict(Xte[cols]))
        gains.append(f1["a"] - f1["b"])
    return float(np.mean(gains))


@pytest.mark.slow
@pytest.mark.parametrize("gain_shift", [0.0, 1.5])
def test_ablation_ci_covers_the_true_gain(gain_shift):
    X, y = _ablation_data(300, gain_shift, seed=11)
    artists = np.arange(300) // 3
    tab = ablation(X, y, artists, k_best=4, protocols=["artist"], classifier="logreg", tune=False,
                   n_splits=5, n_repeats=4, n_boot=300)
    row = tab.iloc[0]
    assert row.n_baseline == 6 and row.n_all == 9 and row.k == 4
    assert row.ci_low <= row.gain <= row.ci_high and row.t_low <= row.gain <= row.t_high
    true = _population_gain(gain_shift, 4)
    assert row.ci_low - 0.02 <= true <= row.ci_high + 0.02, (true, row.to_dict())
    if gain_shift:
        assert true > 0.15 and row.ci_low > 0.05  # a real gain is detected
    else:
        assert abs(true) < 0.03 and row.ci_low < 0 < row.ci_high  # no gain: the CI straddles 0


def test_ablation_needs_both_pools():
    X, y = planted(n=40)
    with pytest.raises(NeuromerError, match="0 novel"):
        ablation(X, y, n_splits=2, n_repeats=1)


# ------------------------------------------------------------------- dataset layouts and the CLI
@pytest.fixture(scope="module")
def tiny_4qaed(tmp_path_factory):
    """16 generated clips in the 4QAED layout; 8 artists, each in one quadrant."""
    import soundfile as sf

    from neuromer.simulate import synthesize_music

    root = tmp_path_factory.mktemp("4qaed") / "Dataset"
    ann, meta = [], []
    for i in range(16):
        q = QUADS[i % 4]
        v_high, a_high = q in ("Q1", "Q4"), q in ("Q1", "Q2")
        (root / q).mkdir(parents=True, exist_ok=True)
        y = synthesize_music(duration_s=2.0, tempo_bpm=150 if a_high else 70, mode="major" if v_high else "minor",
                             loudness_db=-12 if a_high else -28, brightness=0.9 if a_high else 0.2,
                             articulation=0.5 if a_high else 0.9, seed=i)
        song = f"MT{i:010d}"
        sf.write(root / q / f"{song}.mp3", y, 22050, format="MP3")
        ann.append({"Song": song, "Quadrant": q})
        meta.append({"Song": song, "Artist": f"Artist {i % 8}", "Title": f"t{i}", "Quadrant": q})
    pd.DataFrame(ann).to_csv(root / "panda_dataset_taffc_annotations.csv", index=False)
    pd.DataFrame(meta).to_csv(root / "panda_dataset_taffc_metadata.csv", index=False)
    return root


def test_4qaed_layout_gives_artist_groups(tiny_4qaed):
    from neuromer.audio.evaluation import read_labelled_clips

    clips = read_labelled_clips(tiny_4qaed)
    assert len(clips) == 16 and clips.artist.nunique() == 8
    assert clips.quadrant.value_counts().to_dict() == {"Q1": 4, "Q2": 4, "Q3": 4, "Q4": 4}
    g = artist_groups(clips.artist)
    assert len(set(g)) == 8 and all(len(set(clips.quadrant[g == k])) == 1 for k in set(g))


@pytest.mark.slow
def test_cli_evaluate_end_to_end(tiny_4qaed, tmp_path, capsys):
    from neuromer.cli import main

    out = tmp_path / "ev"
    argv = ["audio", "evaluate", str(tiny_4qaed), "--out-dir", str(out), "--folds", "2", "--repeats", "2",
            "--classifier", "logreg", "--k-best", "10", "--ablation-k", "5", "--cache", str(tmp_path / "cache"), "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "16 clips" in text and "8 with a known artist" not in text and "16 with a known artist" in text
    assert "stratified folds (Panda et al. 2018): macro-F1" in text and "artist-grouped folds: macro-F1" in text
    assert "ablation (artist, 5 features from each pool)" in text
    summary = pd.read_csv(out / "summary.csv")
    assert summary.protocol.tolist() == ["stratified", "artist"] and (summary.n_clips == 16).all()
    # planted cues separate the quadrants: far above chance even with 8 training clips
    assert (summary.f1_mean > 0.6).all()
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 2 * 2 * 2 and set(pd.read_csv(out / "ablation.csv").protocol) == {"stratified", "artist"}
    # a rerun refuses to overwrite; --features reuses a table made by `audio features`
    assert main(argv) == 2 and "exists" in capsys.readouterr().err
    table = tmp_path / "clips.parquet"
    wavs = sorted(str(p) for p in tiny_4qaed.glob("Q*/*.mp3"))
    assert main(["audio", "features", *wavs, "--out", str(table), "--cache", str(tmp_path / "cache"), "-q"]) == 0
    capsys.readouterr()
    assert main(argv[:13] + ["--features", str(table), "--overwrite", "--ablation-k", "0", "-q"]) == 0
    again = pd.read_csv(out / "summary.csv")
    assert np.allclose(again.f1_mean, summary.f1_mean)  # same features, same folds, same numbers
    argv2 = ["audio", "evaluate", str(tiny_4qaed), "--out-dir", str(tmp_path / "ev2"), "--folds", "2", "--repeats", "1",
             "--features", str(table), "--transform", "yeo-johnson", "--k-grid", "3", "6", "--classifier", "ensemble",
             "--no-tune", "--ablation-k", "0", "-q"]
    assert main(argv2) == 0 and "ensemble" in capsys.readouterr().out
    assert (pd.read_csv(tmp_path / "ev2" / "summary.csv").f1_mean > 0.5).all()


def test_cli_evaluate_needs_quadrant_labels(tmp_path, capsys):
    import soundfile as sf

    from neuromer.cli import main

    sf.write(tmp_path / "a.wav", np.zeros(22050), 22050)
    pd.DataFrame({"audio": ["a.wav"], "valence": [5.0], "arousal": [4.0]}).to_csv(tmp_path / "va.csv", index=False)
    code = main(["audio", "evaluate", str(tmp_path / "va.csv"), "--out-dir", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and "needs quadrant labels" in err and len(err.strip().splitlines()) == 1


def test_family_diagnostics_tell_informative_broken_and_empty_families_apart():
    from neuromer.audio.evaluation import family_diagnostics

    X, y = planted(n=200, n_noise=4, seed=5, shift=2.0)
    rng = np.random.default_rng(1)
    # baseline: the planted valence/arousal columns; melody: pure noise; texture: mostly NaN and one constant
    X.columns = ["audio_rms_db_mean", "audio_centroid_hz_mean", "audio_melody_pitch_mean", "audio_melody_note_rate_hz"]
    X["audio_melody_pitch_mean"] = rng.normal(size=len(X))
    X["audio_texture_layers_mean"] = np.where(rng.random(len(X)) < 0.9, np.nan, 1.0)
    X["audio_texture_share_0"] = 0.5
    t = family_diagnostics(X, y).set_index("family")
    assert list(t.index) == ["baseline", "melody", "texture"]  # empty families are left out
    assert t.loc["baseline", "n_columns"] == 2 and t.loc["texture", "n_constant"] == 2
    assert t.loc["texture", "nan_share"] == pytest.approx(np.isnan(X["audio_texture_layers_mean"]).mean() / 2)
    # the planted shift explains most of each baseline column's variance: eta^2 = 1/(1 + 1/shift^2) ~ 0.8
    assert 0.65 < t.loc["baseline", "eta2_median"] < 0.9 and t.loc["melody", "eta2_max"] < 0.1
    assert t.loc["baseline", "best_column"] in ("audio_rms_db_mean", "audio_centroid_hz_mean")
    assert t.loc["baseline", "valence_auc_max"] > 0.9 and t.loc["baseline", "arousal_auc_max"] > 0.9
    assert t.loc["melody", "valence_auc_max"] < 0.65
    assert t.loc["baseline", "f1_alone"] > 0.7 > 0.4 > t.loc["melody", "f1_alone"]


def test_inner_search_really_runs_in_every_fold(monkeypatch):
    """Regression: the inner search was silently replaced by the untuned pipeline in every fold."""
    from sklearn.model_selection import GridSearchCV

    calls = []
    fit = GridSearchCV.fit

    def spy(self, X, y=None, **kw):
        calls.append(len(y))
        return fit(self, X, y, **kw)

    monkeypatch.setattr(GridSearchCV, "fit", spy)
    X, y = planted(n=120, shift=2.0)
    evaluate_mer(X, y, protocols=["stratified"], classifier="svm", n_splits=4, n_repeats=1)
    assert calls == [90] * 4
    calls.clear()
    # a class too small for 3 inner folds of >= 2 clips: the inner folds shrink, the search still runs
    keep = np.r_[np.flatnonzero(y != "Q4"), np.flatnonzero(y == "Q4")[:16]]
    evaluate_mer(X.iloc[keep], y[keep], protocols=["stratified"], classifier="svm", n_splits=4, n_repeats=1)
    assert len(calls) == 4
