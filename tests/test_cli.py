"""Every core command end to end, through the real entry point and in-process."""

import subprocess
import sys

import numpy as np
import pytest

from neuromer.cli import build_parser, main
from neuromer.io.deap import read_deap
from neuromer.io import read_trials


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_help():
    res = subprocess.run([sys.executable, "-m", "neuromer", "--help"], capture_output=True, text=True, check=True)
    assert "simulate" in res.stdout and "epochs" in res.stdout and "info" in res.stdout


def _commands(parser, prefix=()):
    """Every (sub-)command path of the parser, nested groups included."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _commands(sub, prefix + (name,))


def test_every_command_has_help(capsys):
    paths = list(_commands(build_parser()))
    top = {p[0] for p in paths}
    assert {"simulate", "info", "epochs", "demo", "run", "report", "audio", "features", "align",
            "streams", "record", "play", "present", "online"} <= top
    assert {("audio", "features"), ("audio", "train"), ("audio", "predict"), ("audio", "separate")} <= set(paths)
    for path in paths:
        with pytest.raises(SystemExit) as info:
            main([*path, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert "usage: neuromer" in text and len(text.splitlines()) > 3, path


def test_simulate_info_epochs(tmp_path, capsys):
    out = tmp_path / "s"
    code, text, _ = run(capsys, "simulate", str(out), "--subjects", "1", "--trials", "2", "--stimulus-s", "4",
                        "--seed", "1")
    assert code == 0 and "Simulated 1 subjects x 2 trials" in text
    xdf, proto = out / "xdf" / "sub-01.xdf", out / "protocol.toml"

    code, text, _ = run(capsys, "info", str(xdf), "--protocol", str(proto))
    assert code == 0
    assert "EEG" in text and "Markers" in text and "Fp1 (eeg)" in text and "GSR (gsr)" in text
    assert "stim_on/stim01" in text or "stim_on/stim02" in text
    assert "stimulus_id" in text  # the trials table

    for ext in (".dat", ".mat", "-epo.fif"):
        dest = tmp_path / f"sub-01{ext}"
        code, text, _ = run(capsys, "epochs", str(xdf), "--protocol", str(proto), "--out", str(dest))
        assert code == 0 and dest.exists(), text
        trials = read_trials(dest)
        assert trials.data.shape == (2, 40, 7 * 128)
        assert sorted(trials.metadata.stimulus_id) == ["stim01", "stim02"]
    a, b = read_deap(tmp_path / "sub-01.dat"), read_deap(tmp_path / "sub-01.mat")
    np.testing.assert_array_equal(a.data, b.data)

    code, text, _ = run(capsys, "info", str(tmp_path / "sub-01.dat"))
    assert code == 0 and "2 trials x 40 ch" in text
    code, text, _ = run(capsys, "info", str(proto))
    assert code == 0 and "simulated_music" in text and "stim01" in text
    code, text, _ = run(capsys, "info", str(out / "deap" / "s01.dat"))
    assert code == 0 and "128 Hz" in text


def test_errors_are_one_line_with_status_2(tmp_path, capsys):
    code, out, err = run(capsys, "info", str(tmp_path / "missing.xdf"))
    assert code == 2 and err.strip().count("\n") == 0
    assert err.startswith("neuromer: error:") and "missing.xdf" in err and "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[timing]\nbasline_s = 1\n")
    code, _, err = run(capsys, "info", str(bad))
    assert code == 2 and "timing.basline_s" in err
    code, _, err = run(capsys, "--debug", "info", str(tmp_path / "missing.xdf"))
    assert code == 2 and "Traceback" in err


def test_epochs_refuses_overwrite(tmp_path, capsys, study, study_protocol):
    dest = tmp_path / "x.dat"
    dest.write_bytes(b"user data")
    code, _, err = run(capsys, "epochs", str(study.xdf[0]), "--protocol", str(study.protocol), "--out", str(dest))
    assert code == 2 and "refusing to overwrite" in err
    assert dest.read_bytes() == b"user data"


def test_out_path_is_a_directory_or_under_a_file(tmp_path, capsys, study):
    trials = str(study.deap[0])
    folder = tmp_path / "x.parquet"
    folder.mkdir()
    code, _, err = run(capsys, "features", "eeg", trials, "--out", str(folder), "--overwrite")
    assert code == 2 and "internal error" not in err and "x.parquet: is a directory" in err
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    code, _, err = run(capsys, "epochs", trials, "--out", str(blocker / "x.dat"))
    assert code == 2 and "internal error" not in err and "blocker" in err and "a file is in the way" in err


def test_epochs_without_trials_writes_nothing(tmp_path, capsys, study):
    dest = tmp_path / "x.dat"
    code, _, err = run(capsys, "epochs", str(study.xdf[0]), "--protocol", "deap", "--out", str(dest))
    assert code == 2 and "no complete trial found" in err and study.xdf[0].name in err
    assert not dest.exists()


def test_epochs_sfreq_checked(tmp_path, capsys, study):
    code, _, err = run(capsys, "epochs", str(study.xdf[0]), "--protocol", str(study.protocol),
                       "--out", str(tmp_path / "a.dat"), "--sfreq", "nan")
    assert code == 2 and "'sfreq'" in err and not (tmp_path / "a.dat").exists()
    code, _, err = run(capsys, "epochs", str(study.deap[0]), "--out", str(tmp_path / "b.dat"), "--sfreq", "64")
    assert code == 2 and "--sfreq 64" in err and study.deap[0].name in err
    code, _, err = run(capsys, "epochs", str(study.deap[0]), "--out", str(tmp_path / "c-epo.fif"))
    assert code == 0 and (tmp_path / "c-epo.fif").exists()


def test_report_with_corrupt_run_json(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{bad json")
    code, _, err = run(capsys, "report", str(tmp_path))
    assert code == 2 and "internal error" not in err and "run.json: not valid JSON" in err


def test_align_rejects_a_table_of_the_wrong_modality(tmp_path, capsys, study):
    trials, physio = str(study.deap[0]), tmp_path / "physio.parquet"
    code, _, _ = run(capsys, "features", "physio", trials, "--out", str(physio))
    assert code == 0
    code, _, err = run(capsys, "align", trials, "--out", str(tmp_path / "a.parquet"), "--eeg", str(physio))
    assert code == 2 and "physio.parquet: the --eeg table has no eeg_* feature columns" in err
