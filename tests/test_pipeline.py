"""`neuromer run` end to end on a simulated study: recovers what was planted, nothing from
shuffled labels, resumes after a kill, isolates a corrupt subject, writes a complete report."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from neuromer.cli import main
from neuromer.errors import NeuromerError
from neuromer.pipeline import make_config, read_config, run
from neuromer.report import SECTIONS
from xdf_damage import plant_in_eeg

pytestmark = pytest.mark.slow
AUDIO = True


def config_text(out="run", extra="", *, audio=AUDIO, feature_sets='[["eeg"], ["audio"]]', n_permutations=19):
    """The run config; tests that check no model or audio result run a lighter one (the models'
    permutation nulls are most of a run's time)."""
    return f"""
[study]
inputs = ["study/xdf/*.xdf"]
protocol = "study/protocol.toml"
out = "{out}"
[features]
audio = {str(audio).lower()}
[models]
targets = ["valence", "arousal"]
feature_sets = {feature_sets}
n_permutations = {n_permutations}
{extra}
"""


@pytest.fixture(scope="module")
def big_study(tmp_path_factory):
    from neuromer.simulate import simulate_study

    root = tmp_path_factory.mktemp("pipeline")
    simulate_study(root / "study", n_subjects=2, n_trials=12, stimulus_s=10.0, seed=11)
    return root


@pytest.fixture(scope="module")
def finished_run(big_study):
    cfg_path = big_study / "run.toml"
    cfg_path.write_text(config_text())
    record = run(read_config(cfg_path))
    return big_study / "run", record


def metric(run_dir, target, features, level="trial"):
    m = pd.read_csv(run_dir / "group" / "metrics.csv")
    row = m[(m.target == target) & (m.features == features) & (m.level == level)]
    assert len(row) == 1, m
    return row.iloc[0]


def test_planted_effects_are_decoded_above_permutation_chance(finished_run):
    run_dir, record = finished_run
    assert record["failed"] == [] and set(record["subjects"]) == {"01", "02"}
    for target in ("valence", "arousal"):
        row = metric(run_dir, target, "eeg")
        assert row.score > row.chance + 0.2, row
        assert row.p_value <= 0.1, row


def test_run_folder_contents(finished_run):
    run_dir, _ = finished_run
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["versions"]["mne"] and rec["versions"]["neuromer"]
    assert all(len(h) == 16 for h in rec["inputs"].values())
    for sub in ("01", "02"):
        folder = run_dir / "subjects" / f"sub-{sub}"
        for name in ("trials-epo.fif", "eeg.parquet", "physio.parquet", "aligned.parquet", "quality.csv",
                     "status.json"):
            assert (folder / name).is_file(), name
        aligned = pd.read_parquet(folder / "aligned.parquet")
        assert {"subject", "trial", "window", "t_start", "valence", "arousal"} <= set(aligned.columns)
        assert aligned.groupby("trial").size().nunique() == 1  # no missing windows
    for name in ("metrics.csv", "trials.parquet", "windows.parquet", "importance.csv", "leakage.csv"):
        assert (run_dir / "group" / name).is_file(), name
    assert (run_dir / "models" / "eeg_arousal.skops").is_file()
    from neuromer.models.persistence import load_model

    model, meta = load_model(run_dir / "models" / "eeg_arousal.skops", with_metadata=True)
    assert hasattr(model, "predict_proba")
    # what an online decoder needs to rebuild the features: columns, grid, preprocessing
    assert meta["target"] == "arousal" and meta["features"] == list(model.feature_names_in_)
    assert meta["window_s"] == 1.0 and meta["preprocess"]["l_freq"] == 4.0


def test_report_has_every_section_with_figures(finished_run):
    run_dir, _ = finished_run
    html = (run_dir / "report.html").read_text()
    for title in SECTIONS:
        assert title in html, title
    assert html.count("data:image/webp;base64") >= 6
    assert "could not be built" not in html


@pytest.mark.skipif(not AUDIO, reason="audio features not available")
def test_audio_vs_eeg_agreement_above_chance(finished_run):
    run_dir, _ = finished_run
    comp = pd.read_csv(run_dir / "group" / "comparison.csv")
    assert len(comp)
    trials = pd.read_parquet(run_dir / "group" / "trials.parquet")
    # the audio predictor follows the planted arousal that drives the EEG and the ratings
    r = np.corrcoef(trials.audio_arousal, trials.eeg_arousal)[0, 1]
    assert r > 0.3


def test_shuffled_labels_sit_at_chance(big_study):
    cfg_path = big_study / "shuffled.toml"
    # only the EEG rows are checked: no audio models (19 permutations so p can exceed 0.05 or not)
    cfg_path.write_text(config_text(out="run_shuffled", extra="shuffle_labels = true\nseed = 3", audio=False,
                                    feature_sets='[["eeg"]]'))
    run(read_config(cfg_path), report=False)
    for target in ("valence", "arousal"):
        row = metric(big_study / "run_shuffled", target, "eeg")
        assert row.p_value > 0.05, row
        assert abs(row.score - 0.5) < 0.3, row


def test_rerun_skips_unchanged_subjects_and_redoes_changed_config(big_study, finished_run):
    import shutil

    cfg_path = big_study / "run.toml"
    # on a copy, so the shared finished run stays as it was; a models-only change (no permutation
    # nulls: nothing here checks a p-value) does not touch subjects; a window change does
    shutil.copytree(finished_run[0], big_study / "run_rerun")
    record = run(read_config(cfg_path, study__out="run_rerun", models__n_permutations=0), report=False)
    assert all(s.get("skipped") for s in record["subjects"].values())
    cfg = read_config(cfg_path, windows__hop_s=1.0, study__out="run_hop", models__n_permutations=0)
    rec2 = run(cfg, report=False)
    assert not any(s.get("skipped") for s in rec2["subjects"].values())


def test_changed_stimulus_audio_redoes_subjects(big_study, finished_run, tmp_path):
    """Subjects joined an audio table: if the stimuli's features change, they are not 'done'."""
    import shutil

    from neuromer.pipeline import _is_done

    cfg = read_config(big_study / "run.toml")
    audio = finished_run[0] / "audio" / "audio_features.parquet"
    assert all(_is_done(cfg, p, str(audio)) for p in cfg.inputs)
    edited = tmp_path / "audio_features.parquet"
    table = pd.read_parquet(audio)
    table.loc[0, "audio_rms_db_mean"] += 1.0  # e.g. a stimulus file was re-exported louder
    table.to_parquet(edited, index=False)
    assert not any(_is_done(cfg, p, str(edited)) for p in cfg.inputs)
    shutil.copy(audio, edited)
    assert all(_is_done(cfg, p, str(edited)) for p in cfg.inputs)


def test_killed_run_resumes_without_redoing_completed_subjects(big_study):
    cfg_path = big_study / "killed.toml"
    # nothing here checks a model or audio result: the lightest run that has two subjects to do
    cfg_path.write_text(config_text(out="run_killed", audio=False, feature_sets='[["eeg"]]', n_permutations=0))
    proc = subprocess.Popen([sys.executable, "-m", "neuromer", "run", str(cfg_path), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = big_study / "run_killed" / "subjects" / "sub-01" / "status.json"
    deadline = time.time() + 600  # the loop ends when sub-01 is done; a loaded machine may take minutes
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists()
    done_before = json.loads(first.read_text())
    record = run(read_config(cfg_path), report=False)
    assert record["subjects"]["01"].get("skipped") is True
    assert record["subjects"]["01"]["seconds"] == done_before["seconds"]
    assert record["subjects"]["02"]["status"] == "done" and record["failed"] == []


def test_corrupt_subject_fails_alone_and_exit_status_says_so(big_study, capsys):
    bad = big_study / "study" / "xdf" / "sub-99.xdf"
    bad.write_bytes(b"XDF:" + b"\x00" * 10)
    wav = big_study / "study" / "stimuli" / "stim03.wav"
    good_wav = wav.read_bytes()
    wav.write_bytes(b"RIFF" + b"\x00" * 40)  # a corrupt stimulus: left out with a warning, the run goes on
    try:
        cfg_path = big_study / "corrupt.toml"
        # the agreement summary has its own permutations: the models need none here
        cfg_path.write_text(config_text(out="run_corrupt", feature_sets='[["eeg"]]', n_permutations=0))
        code = main(["run", str(cfg_path), "-q", "--no-report"])
        out = capsys.readouterr().out
        assert code == 1
        rec = json.loads((big_study / "run_corrupt" / "run.json").read_text())
        assert rec["failed"] == ["99"] and "sub-99.xdf" in rec["subjects"]["99"]["error"]
        assert rec["subjects"]["01"]["status"] == rec["subjects"]["02"]["status"] == "done"
        assert "sub-99" in out
        # the pooled audio / EEG / self-report agreement is summarised on the terminal
        assert "agreement over all trials" in out and "audio vs eeg" in out and "eeg vs self" in out
        assert list(rec["audio_failed"]) == ["stim03"] and "stimulus stim03: no audio features" in out
        aligned = pd.read_parquet(big_study / "run_corrupt" / "subjects" / "sub-01" / "aligned.parquet")
        assert aligned.loc[aligned.stimulus_id == "stim03", "audio_rms_db_mean"].isna().all()
        assert aligned.loc[aligned.stimulus_id != "stim03", "audio_rms_db_mean"].notna().all()
    finally:
        bad.unlink()
        wav.write_bytes(good_wav)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(NeuromerError, match="unknown key 'models.estimater'"):
        make_config({"study": {"inputs": ["*.xdf"]}, "models": {"estimater": "x"}}, path=tmp_path / "c.toml")
    with pytest.raises(NeuromerError, match="matches no file"):
        make_config({"study": {"inputs": ["nothing/*.xdf"]}}, path=tmp_path / "c.toml")
    with pytest.raises(NeuromerError, match=r"unknown section \[modles\]"):
        make_config({"modles": {}}, path=tmp_path / "c.toml")
    # two inputs that would write the same subject folder
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "sub-01.xdf").write_bytes(b"XDF:")
    with pytest.raises(NeuromerError, match="both read as subject '01'"):
        make_config({"study": {"inputs": ["a/*.xdf", "b/*.xdf"]}}, path=tmp_path / "c.toml")


@pytest.mark.parametrize("section, key, value, message", [
    ("models", "n_jobs", 0, "'models.n_jobs' must be >= 1"),
    ("models", "n_jobs", "two", "'models.n_jobs' must be an integer"),
    ("models", "estimator", "magic", "'models.estimator' must be one of"),
    ("models", "n_permutations", -3, "'models.n_permutations' must be >= 0"),
    ("windows", "window_s", 0, "'windows.window_s' must be > 0"),
    ("windows", "hop_s", "half", "'windows.hop_s' must be a finite number"),
    ("features", "audio_latency_s", "zero", "'features.audio_latency_s' must be a finite number"),
    ("preprocess", "enabled", "yes", "'preprocess.enabled' must be true or false"),
    ("features", "physio_min_scr_amplitude_us", -0.1, "'features.physio_min_scr_amplitude_us' must be >= 0"),
    ("features", "physio_context_s", "long", "'features.physio_context_s' must be a finite number"),
])
def test_config_values_are_checked(tmp_path, section, key, value, message):
    (tmp_path / "a.xdf").write_bytes(b"")
    with pytest.raises(NeuromerError, match=rf"c\.toml: {re.escape(message)}"):
        make_config({"study": {"inputs": ["*.xdf"]}, section: {key: value}}, path=tmp_path / "c.toml")


def test_run_folder_that_is_a_file(tmp_path):
    (tmp_path / "a.xdf").write_bytes(b"")
    (tmp_path / "run").write_text("a file")
    cfg = make_config({"study": {"inputs": ["*.xdf"], "out": "run"}}, path=tmp_path / "c.toml")
    with pytest.raises(NeuromerError, match="run: cannot use it as the run folder"):
        run(cfg, report=False)


def test_all_nan_subject_fails_with_its_reason_and_one_inf_stays_local(study, tmp_path, capsys):
    """A subject whose EEG is all NaN fails (exit 1, reason in run.json); one Inf sample in another
    subject outside every trial is counted in run.json and leaves its trials finite."""
    xdf = tmp_path / "xdf"
    xdf.mkdir()
    plant_in_eeg(study.xdf[0], xdf / "sub-01.xdf", float("nan"))
    plant_in_eeg(study.xdf[1], xdf / "sub-02.xdf", float("inf"), samples={100})  # 0.2 s in: before trial 1
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[study]
inputs = ["xdf/*.xdf"]
protocol = "{study.protocol}"
out = "run"
[features]
audio = false
physio = false
[models]
targets = ["valence"]
feature_sets = [["eeg"]]
n_permutations = 0
""")
    code = main(["run", str(cfg), "-q", "--no-report"])
    capsys.readouterr()
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert code == 1 and rec["failed"] == ["01"]
    error = rec["subjects"]["01"]["error"]
    assert "sub-01.xdf: every EEG channel is more than 50% NaN or infinite (NaN/inf fraction 1.00 over 32 " \
           "channels); nothing to analyse" in error
    two = rec["subjects"]["02"]
    assert two["status"] == "done"
    assert two["bad_samples"]["n_nonfinite"] == 32 and len(two["bad_samples"]["nonfinite_fraction"]) == 32
    quality = pd.read_csv(tmp_path / "run" / "subjects" / "sub-02" / "quality.csv")
    eeg = quality[quality.type == "eeg"]
    assert (eeg.nan_fraction == 0).all() and (eeg.flag != "nan").all()
    from neuromer.io.xdf import xdf_info

    n_samples = xdf_info(study.xdf[1]).set_index("type").loc["EEG", "n_samples"]
    np.testing.assert_allclose(eeg.nonfinite_recorded, 1 / n_samples)  # QC of the recording as read
    assert two["bad_samples"]["nonfinite_fraction"]["Fp1"] == pytest.approx(1 / n_samples, abs=1e-6)
    features = pd.read_parquet(tmp_path / "run" / "subjects" / "sub-02" / "eeg.parquet")
    assert features.filter(like="eeg_").notna().all().all()
