"""Segment-level (multi-instance) MER: clip folds that keep every segment with its clip."""

import numpy as np
import pandas as pd
import pytest

from neuromer.audio.segments import evaluate_mer_segments, segment_feature_table
from neuromer.errors import DataFormatError, NeuromerError

QUADS = np.array(["Q1", "Q2", "Q3", "Q4"])


def fingerprinted(n_clips=80, n_seg=5, n_feat=12, seed=0, signal=0.0, per_artist=1, fp_scale=3.0):
    """Segments of clips that share a strong per-recording fingerprint; labels random per clip
    (or per artist of ``per_artist`` clips) unless ``signal`` plants the label in column 0..1."""
    rng = np.random.default_rng(seed)
    artist = np.arange(n_clips) // per_artist
    y = QUADS[rng.permutation(np.arange(n_clips) % 4)] if per_artist == 1 else \
        QUADS[rng.permutation(np.arange(artist.max() + 1) % 4)][artist]
    print_ = rng.normal(scale=fp_scale, size=(artist.max() + 1, n_feat))[artist]  # the recording's (artist's) sound
    seg_clip = np.repeat(np.arange(n_clips), n_seg)
    S = print_[seg_clip] + rng.normal(scale=0.3, size=(len(seg_clip), n_feat))
    if signal:
        v = np.isin(y, ["Q1", "Q4"]) * 2.0 - 1
        a = np.isin(y, ["Q1", "Q2"]) * 2.0 - 1
        S[:, 0] = signal * v[seg_clip] + rng.normal(scale=0.5, size=len(seg_clip))
        S[:, 1] = signal * a[seg_clip] + rng.normal(scale=0.5, size=len(seg_clip))
    return S, seg_clip, y, artist


def test_planted_quadrants_are_learned_from_segments():
    S, seg_clip, y, artist = fingerprinted(signal=3.0, per_artist=2, fp_scale=0.5)
    res = evaluate_mer_segments(S, seg_clip, y, artist, classifier="svm", tune=False, n_splits=5, n_repeats=1)
    assert (res.summary.f1_mean > 0.95).all()
    assert res.predictions["artist"].shape == (1, 80)
    assert res.folds.groupby(["protocol", "repeat"]).n_test.sum().eq(80).all()
    # every training segment is counted: 5 per training clip
    assert (res.folds.n_train_segments == 5 * res.folds.n_train).all()


def test_segments_of_one_clip_never_straddle_a_fold():
    # labels are random per clip; each clip's segments share a fingerprint. A model that saw
    # segments of a test clip in training would recognise it (the leaky control scores ~1)
    S, seg_clip, y, _ = fingerprinted(n_clips=80)
    res = evaluate_mer_segments(S, seg_clip, y, protocols=["stratified"], classifier="svm", tune=False,
                                n_splits=5, n_repeats=2)
    assert res.summary.f1_mean.iloc[0] < 0.45  # chance is 0.25

    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from neuromer.audio.evaluation import macro_f1, mer_pipeline

    leaky = cross_val_predict(mer_pipeline("svm", tune=False), S, y[seg_clip],
                              cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert macro_f1(y[seg_clip], leaky) > 0.9


def test_artist_protocol_keeps_all_segments_of_an_artist_on_one_side():
    # 4 clips per artist, labels random per artist, one fingerprint per artist: the stratified
    # protocol lets the model recognise the artist, the artist-grouped one must not
    S, seg_clip, y, artist = fingerprinted(n_clips=80, n_seg=3, per_artist=4, seed=1)
    res = evaluate_mer_segments(S, seg_clip, y, artist, classifier="svm", tune=True, n_splits=5, n_repeats=1)
    f1 = res.summary.set_index("protocol").f1_mean
    assert f1["stratified"] > 0.8 and f1["artist"] < 0.45


def test_segment_evaluation_bad_arguments():
    S, seg_clip, y, _ = fingerprinted(n_clips=20)
    with pytest.raises(NeuromerError, match="segment_clip has"):
        evaluate_mer_segments(S, seg_clip[:-1], y)
    with pytest.raises(NeuromerError, match="no segment"):
        evaluate_mer_segments(S[seg_clip != 3], seg_clip[seg_clip != 3], y)
    with pytest.raises(NeuromerError, match="index the 20 clips"):
        evaluate_mer_segments(S, seg_clip + 1, y)


def test_segment_table_from_audio_and_reused_from_audio_features(tmp_path):
    import soundfile as sf

    from neuromer.audio.summary import audio_features
    from neuromer.simulate import synthesize_music

    paths = []
    for i, dur in enumerate((4.0, 5.0)):
        paths.append(tmp_path / f"c{i}.wav")
        sf.write(paths[-1], synthesize_music(duration_s=dur, tempo_bpm=120, mode="major", loudness_db=-20,
                                                     brightness=0.5, articulation=0.7, seed=i), 22050)
    clips = pd.DataFrame({"audio_path": [str(p) for p in paths]})
    S, owner = segment_feature_table(clips, segment_s=2.0, hop_s=1.0, cache_dir=tmp_path / "cache")
    # 2 s segments every 1 s: 3 in 4 s, 4 in 5 s
    assert owner.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert len(S) == 7 and all(c.startswith("audio_") for c in S.columns) and "audio_rms_db_mean" in S
    # the same rows as audio_features on the same grid (the summary code of whole clips)
    ref = audio_features(paths[1], window_s=2.0, hop_s=1.0, emotion=False)
    assert np.allclose(S.iloc[3:][ref.columns[ref.columns.str.startswith("audio_")]].to_numpy(float),
                       ref.filter(like="audio_").to_numpy(float), equal_nan=True)
    # a per-window table written by `audio features` is matched by file name, in clip order
    table = pd.concat([ref.assign(file=str(paths[1])),
                       audio_features(paths[0], window_s=2.0, hop_s=1.0, emotion=False).assign(file=str(paths[0]))])
    S2, owner2 = segment_feature_table(clips, segment_s=2.0, hop_s=1.0, features=table)
    assert owner2.tolist() == owner.tolist() and np.allclose(S2.to_numpy(float), S.to_numpy(float), equal_nan=True)
    # a clip shorter than one segment, or a clip table without windows: one-line errors naming it
    with pytest.raises(DataFormatError, match=r"no segment of clip .*c0\.wav"):
        segment_feature_table(clips, segment_s=4.5, cache_dir=tmp_path / "cache")
    with pytest.raises(DataFormatError, match="no 'window' column"):
        segment_feature_table(clips, features=table.drop(columns="window"))
    with pytest.raises(NeuromerError, match="must be > 0"):
        segment_feature_table(clips, segment_s=0)


@pytest.fixture(scope="module")
def tiny_segment_set(tmp_path_factory):
    """12 generated 3 s clips in the 4QAED layout, 6 artists, each in one quadrant."""
    import soundfile as sf

    from neuromer.simulate import synthesize_music

    root = tmp_path_factory.mktemp("4qaed_seg") / "Dataset"
    ann, meta = [], []
    for i in range(12):
        q = QUADS[i % 4]
        v_high, a_high = q in ("Q1", "Q4"), q in ("Q1", "Q2")
        (root / q).mkdir(parents=True, exist_ok=True)
        y = synthesize_music(duration_s=3.0, tempo_bpm=150 if a_high else 70, mode="major" if v_high else "minor",
                             loudness_db=-12 if a_high else -28, brightness=0.9 if a_high else 0.2,
                             articulation=0.5 if a_high else 0.9, seed=i)
        song = f"MT{i:010d}"
        sf.write(root / q / f"{song}.mp3", y, 22050, format="MP3")
        ann.append({"Song": song, "Quadrant": q})
        meta.append({"Song": song, "Artist": f"Artist {i % 6}", "Title": f"t{i}", "Quadrant": q})
    pd.DataFrame(ann).to_csv(root / "panda_dataset_taffc_annotations.csv", index=False)
    pd.DataFrame(meta).to_csv(root / "panda_dataset_taffc_metadata.csv", index=False)
    return root


def test_cli_evaluate_segment_level(tiny_segment_set, tmp_path, capsys):
    from neuromer.cli import main

    out = tmp_path / "ev"
    argv = ["audio", "evaluate", str(tiny_segment_set), "--out-dir", str(out), "--folds", "2", "--repeats", "2",
            "--classifier", "logreg", "--no-tune", "--k-best", "10", "--segment-s", "1", "--segment-hop-s", "0.5",
            "--cache", str(tmp_path / "cache"), "-q"]
    code = main(argv)
    captured = capsys.readouterr()
    text = captured.out
    assert code == 0, captured.err
    # 1 s segments every 0.5 s: 5 per 3 s clip
    assert "12 clips, 60 segments of 1 s (hop 0.5 s)" in text
    assert "artist-grouped folds, segment-level: macro-F1" in text
    summary = pd.read_csv(out / "summary.csv")
    assert summary.protocol.tolist() == ["stratified", "artist"] and (summary.n_clips == 12).all()
    assert (summary.f1_mean > 0.6).all()  # the planted cues separate the quadrants
    folds = pd.read_csv(out / "folds.csv")
    # every training clip brings all its 5 segments, and every clip is tested once per repeat
    assert (folds.n_train_segments == 5 * folds.n_train).all()
    assert folds.groupby(["protocol", "repeat"]).n_test.sum().eq(12).all()
    assert not (out / "ablation.csv").exists()
    # a per-window table from `audio features` gives the same numbers
    wavs = sorted(str(p) for p in tiny_segment_set.glob("Q*/*.mp3"))
    table = tmp_path / "seg.parquet"
    assert main(["audio", "features", *wavs, "--out", str(table), "--window-s", "1", "--hop-s", "0.5",
                 "--cache", str(tmp_path / "cache"), "-q"]) == 0
    capsys.readouterr()
    assert main(argv + ["--segment-features", str(table), "--overwrite"]) == 0
    assert np.allclose(pd.read_csv(out / "summary.csv").f1_mean, summary.f1_mean)
    # segment options without --segment-s: a one-line error
    assert main(argv[:11] + ["--segment-hop-s", "0.5", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "add --segment-s" in err and len(err.strip().splitlines()) == 1
