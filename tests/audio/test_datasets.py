"""MER dataset readers on generated copies of each published layout (4QAED, DEAM, PMEmo, CSV)."""

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.audio.datasets import (detect_format, read_4qaed, read_csv_annotations, read_deam,
                                     read_mer_dataset, read_pmemo)
from neuromer.audio.emotion_model import read_annotations
from neuromer.errors import DataFormatError, NeuromerError

from ._signals import SR, tone

KEYS = ["audio_path", "song_id", "artist", "title"]


def _clip(path, midi=60, dur_s=0.3):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(midi, dur_s), SR, format="MP3" if path.suffix == ".mp3" else "WAV")


# ----------------------------------------------------------------------------- 4QAED
def make_4qaed(root, *, metadata=True, misplaced=False):
    """Eight clips (two a quadrant) in Panda et al.'s layout; song MT5 shares artist B with MT2."""
    songs = [f"MT{i}" for i in range(8)]
    quads = ["Q1", "Q1", "Q2", "Q2", "Q3", "Q3", "Q4", "Q4"]
    artists = ["A", "C", "B", "D", "E", "B", "F", None]
    for i, (s, q) in enumerate(zip(songs, quads)):
        folder = "Q4" if misplaced and s == "MT0" else q
        _clip(root / folder / f"{s}.mp3", 60 + i)
    pd.DataFrame({"Song": songs, "Quadrant": quads}).to_csv(root / "panda_dataset_taffc_annotations.csv",
                                                            index=False)
    if metadata:
        pd.DataFrame({"Song": songs, "Artist": artists, "Title": [f"Title {s}" for s in songs],
                      "Quadrant": quads, "PQuad": 0.5, "Genres": "Pop"}).to_csv(
            root / "panda_dataset_taffc_metadata.csv", index=False, quoting=1)
    return songs, quads, artists


def test_read_4qaed(tmp_path):
    root = tmp_path / "4QAED" / "Dataset"
    songs, quads, artists = make_4qaed(root, misplaced=True)
    for where in (root, tmp_path / "4QAED", root / "panda_dataset_taffc_annotations.csv"):
        assert detect_format(where) == "4qaed"
    table = read_mer_dataset(tmp_path / "4QAED")  # a folder above the dataset works too
    assert list(table.columns) == KEYS + ["quadrant"]
    assert table["song_id"].tolist() == songs and table["quadrant"].tolist() == quads
    assert table["artist"].tolist()[:7] == artists[:7] and pd.isna(table["artist"].iloc[7])
    assert table["title"].iloc[3] == "Title MT3"
    # absolute paths; MT0 sits in the wrong quadrant folder and is still found
    assert table["audio_path"].iloc[0] == str((root / "Q4" / "MT0.mp3").resolve())
    assert table["audio_path"].iloc[1] == str((root / "Q1" / "MT1.mp3").resolve())
    pd.testing.assert_frame_equal(read_4qaed(root), table)


def test_4qaed_problems(tmp_path, caplog):
    root = tmp_path / "d"
    make_4qaed(root, metadata=False)
    with caplog.at_level(logging.WARNING, logger="neuromer"):
        table = read_4qaed(root)
    assert table["artist"].isna().all() and "artist and title unknown" in caplog.text
    (root / "Q3" / "MT4.mp3").unlink()
    with pytest.raises(DataFormatError, match=r"clip MT4 not found: .*Q3/MT4.mp3"):
        read_4qaed(root)
    pd.DataFrame({"Song": ["MT0"], "Mood": ["Q1"]}).to_csv(root / "panda_dataset_taffc_annotations.csv", index=False)
    with pytest.raises(DataFormatError, match="no column 'Quadrant'"):
        read_4qaed(root)
    pd.DataFrame({"Song": ["MT0"], "Quadrant": ["Q5"]}).to_csv(root / "panda_dataset_taffc_annotations.csv",
                                                               index=False)
    with pytest.raises(DataFormatError, match="row 2 has Quadrant 'Q5'"):
        read_4qaed(root)
    with pytest.raises(DataFormatError, match="4QAED has no dynamic"):
        read_mer_dataset(root, dynamic=True)


# ----------------------------------------------------------------------------- DEAM
def make_deam(root):
    ann = root / "DEAM_Annotations" / "annotations" / "annotations averaged per song"
    static = ann / "song_level"
    static.mkdir(parents=True)
    # DEAM's headers have a blank after each comma
    (static / "static_annotations_averaged_songs_1_2000.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n"
        "2, 3.1, 0.94, 3, 0.63\n3, 3.5, 1.75, 3.3, 1.62\n10, 7.2, 1.1, 8.1, 0.7\n")
    (static / "static_annotations_averaged_songs_2000_2058.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n2001, 5, 1, 6.25, 1\n")
    dyn = ann / "dynamic (per second annotations)"
    dyn.mkdir()
    head = "song_id,sample_15000ms,sample_15500ms,sample_16000ms\n"
    (dyn / "valence.csv").write_text(head + "2,-0.5,-0.25,0\n3,0.5,1,\n")   # song 3 is shorter
    (dyn / "arousal.csv").write_text(head + "2,0.25,0.5,0.75\n3,-1,-0.5,\n")
    meta = root / "metadata"
    meta.mkdir()
    (meta / "metadata_2013.csv").write_text(
        "song_id,file_name,Artist,Song title,start of the segment (min.sec),end of the segment (min.sec),Genre\n"
        "2,2.mp3,\tArtist Two\t,\tSong Two\t,0.45,1.30,Blues\n3,3.mp3,Artist Three,Song Three,0.10,0.55,Pop\n")
    (meta / "metadata_2015.csv").write_text("id,file_name,title,artist,Album\n2001,2001.mp3,Late,Artist X,Al\n")
    for sid in (2, 3, 10, 2001):
        _clip(root / "DEAM_audio" / "MEMD_audio" / f"{sid}.mp3")


def test_read_deam_static_and_dynamic(tmp_path):
    make_deam(tmp_path)
    assert detect_format(tmp_path) == "deam"
    static = read_mer_dataset(tmp_path)
    assert list(static.columns) == KEYS + ["valence", "arousal", "valence_std", "arousal_std"]
    assert static["song_id"].tolist() == ["2", "3", "10", "2001"]
    np.testing.assert_allclose(static["valence"], [3.1, 3.5, 7.2, 5.0])  # 1-9 as published
    np.testing.assert_allclose(static["arousal_std"], [0.63, 1.62, 0.7, 1.0])
    assert static["artist"].iloc[[0, 1, 3]].tolist() == ["Artist Two", "Artist Three", "Artist X"]
    assert pd.isna(static["artist"].iloc[2])  # song 10 has no metadata row
    assert static["title"].iloc[3] == "Late"
    assert static["audio_path"].iloc[2].endswith("MEMD_audio/10.mp3")
    dyn = read_deam(tmp_path, dynamic=True)
    assert list(dyn.columns) == KEYS + ["time_s", "valence", "arousal"]
    assert dyn["song_id"].tolist() == ["2", "2", "2", "3", "3"]  # song 3's empty sample is left out
    np.testing.assert_allclose(dyn["time_s"], [15.0, 15.5, 16.0, 15.0, 15.5])
    np.testing.assert_allclose(dyn["valence"], [3.0, 4.0, 5.0, 7.0, 9.0])  # 5 + 4 x
    np.testing.assert_allclose(dyn["arousal"], [6.0, 7.0, 8.0, 1.0, 3.0])


def test_deam_problems(tmp_path):
    make_deam(tmp_path)
    (tmp_path / "DEAM_audio" / "MEMD_audio" / "10.mp3").unlink()
    with pytest.raises(DataFormatError, match="clip 10 not found"):
        read_deam(tmp_path)
    dyn = tmp_path / "DEAM_Annotations" / "annotations" / "annotations averaged per song" / \
        "dynamic (per second annotations)"
    (dyn / "arousal.csv").write_text("song_id,sample_15000ms\n2,1.8\n")
    with pytest.raises(DataFormatError, match=r"arousal.csv: row 2 has sample_15000ms 1.8; .*\[-1, 1\]"):
        read_deam(tmp_path, dynamic=True)
    (dyn / "arousal.csv").write_text("song_id,t15\n2,0.1\n")
    with pytest.raises(DataFormatError, match="no 'sample_<ms>ms' columns"):
        read_deam(tmp_path, dynamic=True)
    (dyn / "arousal.csv").unlink()
    with pytest.raises(DataFormatError, match="no arousal.csv file found"):
        read_deam(tmp_path, dynamic=True)


# ----------------------------------------------------------------------------- PMEmo
def make_pmemo(root):
    base = root / "PMEmo2019"
    (base / "annotations").mkdir(parents=True)
    (base / "annotations" / "static_annotations.csv").write_text(
        "musicId,Arousal(mean),Valence(mean)\n1,0.4,0.575\n4,0.2625,0.2875\n5,1,0\n")
    (base / "annotations" / "dynamic_annotations.csv").write_text(
        "musicId,frameTime,Arousal(mean),Valence(mean)\n1,15.5,0.5,0.25\n1,16.0,0.625,0.375\n4,15.5,0.125,1\n")
    (base / "metadata.csv").write_text(
        "musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time\n"
        "1,1.mp3,Good Drank,2 Chainz,Album,32.1,02:35,03:05\n4,4.mp3,X,Y,Z,30,00:10,00:40\n"
        "5,5.mp3,T5,Artist 5,Z,30,00:10,00:40\n")
    for sid in (1, 4, 5):
        _clip(base / "chorus" / f"{sid}.mp3")


def test_read_pmemo(tmp_path):
    make_pmemo(tmp_path)
    assert detect_format(tmp_path) == "pmemo"
    static = read_mer_dataset(tmp_path, format="pmemo")
    assert list(static.columns) == KEYS + ["valence", "arousal"]
    np.testing.assert_allclose(static["valence"], [5.6, 3.3, 1.0])  # 1 + 8 x
    np.testing.assert_allclose(static["arousal"], [4.2, 3.1, 9.0])
    assert static["artist"].tolist() == ["2 Chainz", "Y", "Artist 5"]
    dyn = read_pmemo(tmp_path, dynamic=True)
    assert dyn["time_s"].tolist() == [15.5, 16.0, 15.5]
    np.testing.assert_allclose(dyn["valence"], [3.0, 4.0, 9.0])
    np.testing.assert_allclose(dyn["arousal"], [5.0, 6.0, 2.0])
    (tmp_path / "PMEmo2019" / "annotations" / "static_annotations.csv").write_text(
        "musicId,Arousal(mean),Valence(mean)\n1,4.5,0.5\n")
    with pytest.raises(DataFormatError, match=r"row 2 has Arousal\(mean\) 4.5"):
        read_pmemo(tmp_path)
    (tmp_path / "PMEmo2019" / "annotations" / "static_annotations.csv").write_text("musicId,Arousal(mean)\n1,0.5\n")
    with pytest.raises(DataFormatError, match="no column 'valence\\(mean\\)'"):
        read_pmemo(tmp_path)


# ----------------------------------------------------------------------------- generic CSV
def test_generic_csv(tmp_path):
    for name in ("a.wav", "b.wav"):
        _clip(tmp_path / "clips" / name)
    csv = tmp_path / "ann.csv"
    pd.DataFrame({"file": ["clips/a.wav", "clips/b.wav"], "Valence": [2.5, 7], "arousal": [8, 3],
                  "Artist": ["X", "Y"]}).to_csv(csv, index=False)
    assert detect_format(csv) == "csv"
    table = read_csv_annotations(csv)
    assert list(table.columns) == KEYS + ["valence", "arousal"]
    assert table["song_id"].tolist() == ["a", "b"] and table["artist"].tolist() == ["X", "Y"]
    assert table["audio_path"].iloc[1] == str((tmp_path / "clips" / "b.wav").resolve())
    # the training reader is the same reader
    same, task, targets = read_annotations(csv)
    pd.testing.assert_frame_equal(same, table)
    assert (task, targets) == ("regression", ["valence", "arousal"])
    pd.DataFrame({"audio": ["clips/a.wav"] * 2, "time_s": [0.5, 1.0], "valence": [3, 4],
                  "arousal": [5, 6]}).to_csv(csv, index=False)
    dyn = read_mer_dataset(csv, dynamic=True)
    assert dyn["time_s"].tolist() == [0.5, 1.0] and dyn["song_id"].tolist() == ["a", "a"]
    with pytest.raises(DataFormatError, match="time_s"):
        read_mer_dataset(csv)
    pd.DataFrame({"audio": ["clips/a.wav", None], "quadrant": [1, 2]}).to_csv(csv, index=False)
    with pytest.raises(DataFormatError, match="column 'audio' is empty in row 3"):
        read_csv_annotations(csv)


def test_unknown_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="not a known MER dataset layout"):
        read_mer_dataset(tmp_path / "empty")
    with pytest.raises(DataFormatError, match="not found"):
        read_mer_dataset(tmp_path / "nowhere")
    with pytest.raises(NeuromerError, match="Allowed values are 'auto', '4qaed'"):
        read_mer_dataset(tmp_path, format="gtzan")
    with pytest.raises(DataFormatError, match="no static_annotations.csv"):
        read_pmemo(tmp_path / "empty")
