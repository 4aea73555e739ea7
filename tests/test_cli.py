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


# ------------------------------------------------------------------ no overwrite without --overwrite
def test_run_refuses_a_folder_that_is_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "a.xdf").write_bytes(b"")  # a subject that fails at once: the run itself is quick
    (tmp_path / "c.toml").write_text('[study]\ninputs = ["a.xdf"]\nout = "mine"\n')
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my own report")
    code, _, err = run(capsys, "run", str(tmp_path / "c.toml"), "--no-report", "-q")
    assert code == 2 and "not a run folder (no run.json)" in err and "--overwrite" in err
    assert sorted(p.name for p in mine.iterdir()) == ["report.html"]
    code, _, err = run(capsys, "run", str(tmp_path / "c.toml"), "--no-report", "-q", "--overwrite")
    assert code == 1 and "not a run folder" not in err  # ran (its one subject failed)
    assert (mine / "run.json").is_file() and (mine / "report.html").read_text() == "my own report"
    # now a run folder: resumed without --overwrite; an empty or new folder needs nothing either
    assert run(capsys, "run", str(tmp_path / "c.toml"), "--no-report", "-q")[0] == 1
    assert run(capsys, "run", str(tmp_path / "c.toml"), "--no-report", "-q", "--out", str(tmp_path / "new"))[0] == 1


def test_report_out_refuses_an_existing_file(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{}")
    mine = tmp_path / "mine.html"
    mine.write_text("my page")
    code, _, err = run(capsys, "report", str(tmp_path), "--out", str(mine))
    assert code == 2 and "mine.html: file exists; refusing to overwrite it" in err
    assert mine.read_text() == "my page"
    assert run(capsys, "report", str(tmp_path), "--out", str(mine), "--overwrite")[0] == 0
    assert "<html" in mine.read_text().lower()
    # the run's own report.html is rebuilt without asking
    (tmp_path / "report.html").write_text("old")
    assert run(capsys, "report", str(tmp_path))[0] == 0 and "<html" in (tmp_path / "report.html").read_text().lower()


@pytest.mark.parametrize("which", ["--out", "--report"])
def test_audio_train_refuses_existing_outputs(tmp_path, capsys, which):
    ann = tmp_path / "ann.csv"
    ann.write_text("audio,valence,arousal\nmissing.wav,5,5\n")
    model, report = tmp_path / "m.skops", tmp_path / "r.csv"
    (model if which == "--out" else report).write_text("mine")
    code, _, err = run(capsys, "audio", "train", str(ann), "--out", str(model), "--report", str(report))
    assert code == 2 and "file exists; refusing to overwrite it" in err and "internal error" not in err
    assert (model if which == "--out" else report).read_text() == "mine"
    code, _, err = run(capsys, "audio", "train", str(ann), "--out", str(model), "--report", str(report),
                       "--overwrite")
    assert code == 2 and "refusing to overwrite" not in err  # past the check: the CSV's audio is missing


def test_demo_refuses_a_folder_with_the_users_files(tmp_path, capsys):
    (tmp_path / "demo.toml").write_text("# my own config\n")
    code, _, err = run(capsys, "demo", str(tmp_path))
    assert code == 2 and "not a neuromer demo folder" in err and "--overwrite" in err
    assert (tmp_path / "demo.toml").read_text() == "# my own config\n"
    other = tmp_path / "other"
    (other / "study").mkdir(parents=True)
    (other / "study" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "demo", str(other))
    assert code == 2 and (other / "study" / "notes.txt").read_text() == "mine"


def test_deeply_nested_run_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "deep.toml"
    cfg.write_text('[study]\ninputs = ["a.xdf"]\nx = ' + "[" * 50000 + "]" * 50000 + "\n")
    code, _, err = run(capsys, "run", str(cfg))
    assert code == 2 and "deep.toml: not valid TOML for neuromer (arrays or tables nested too deeply)" in err
    assert "internal error" not in err and err.count("\n") == 1


# ------------------------------------------------------------------ a machine that will not take the write
_LIMITED = """
import contextlib, io, json, resource, signal, sys
limit, commands = int(sys.argv[1]), json.loads(sys.argv[2])
# write() past the limit fails with EFBIG (File too large) instead of killing the process: a real
# OSError from the real write path, as a full disk gives ENOSPC
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from neuromer.cli import main
results = []
for argv in commands:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    results.append((code, err.getvalue()))
print(json.dumps(results))
"""


def _cli_limited(commands, *, fsize, cwd, drop_root_override=False, tiny_disk=None):
    """Run CLI commands in one child process with a file-size limit (and, as root, without the
    capability that lets root write into read-only folders, or with a 64 kB tmpfs mounted on
    ``tiny_disk`` in a private mount namespace); returns [(exit code, stderr)]."""
    import json
    import os
    import shlex
    import shutil

    cmd = [sys.executable, "-c", _LIMITED, str(fsize), json.dumps([[str(a) for a in c] for c in commands])]
    if drop_root_override:
        cmd = [shutil.which("setpriv"), "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    if tiny_disk is not None:
        cmd = [shutil.which("unshare"), "--mount", "sh", "-c",
               f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(tiny_disk))} && exec {shlex.join(cmd)}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=os.environ, timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_read_only_folder_and_full_disk_are_one_line_errors(tmp_path, study):
    import os
    import shutil

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        pytest.skip("running as root, where a read-only folder is still writable, and setpriv is missing")
    full = tmp_path / "full"
    full.mkdir()
    trials = study.deap[0]  # ~1 MB of trials: every output is larger than the 32 kB limit
    cases = [  # (argv, file named in the error, cause)
        (["epochs", trials, "--out", ro / "x.dat"], "ro/x.dat", "ermission denied"),
        (["features", "eeg", trials, "--out", ro / "sub" / "x.parquet"], "x.parquet", "ermission denied"),
        (["simulate", ro / "sim", "--subjects", "1", "--trials", "1"], "ro/sim", "ermission denied"),
        (["epochs", trials, "--out", full / "x.dat"], "x.dat", "File too large"),
        (["epochs", trials, "--out", full / "x-epo.fif"], "x-epo.fif", "File too large"),
        (["features", "eeg", trials, "--out", full / "x.parquet"], "x.parquet", "File too large"),
        (["simulate", full / "sim", "--subjects", "1", "--trials", "1", "--stimulus-s", "4"], "stim01.wav",
         "File too large"),
    ]
    results = _cli_limited([c[0] for c in cases], fsize=32_000, cwd=tmp_path, drop_root_override=as_root)
    for (argv, target, cause), (code, err) in zip(cases, results):
        assert code == 2, (argv, err)
        assert err.startswith("neuromer: error:") and err.count("\n") == 1, (argv, err)
        assert target in err and cause in err and "internal error" not in err, (argv, err)
    # atomic writes: no partial output and no temporary file left behind
    assert list(ro.iterdir()) == []
    left = sorted(str(p.relative_to(full)) for p in full.rglob("*") if p.is_file())
    assert left == [], left


@pytest.mark.slow
def test_run_says_each_warning_once(tmp_path, capsys, study):
    # a demo-sized run on the small shared study: before, the leakage demonstration's WindowKFold
    # warning alone was printed once per fold and permutation (93 times in `make demo`)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[study]
inputs = ["{study.root}/xdf/*.xdf"]
protocol = "{study.protocol}"
out = "{tmp_path / 'run'}"
[features]
audio = false
physio = false
[models]
targets = ["valence", "arousal"]
feature_sets = [["eeg"]]
n_permutations = 3
""")
    code, out, err = run(capsys, "run", str(cfg), "-q", "--no-report")
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == len(set(lines)), err  # no line twice
    assert not any("RuntimeWarning:" in ln and ln.split("RuntimeWarning: ", 1)[-1] in err.replace(ln, "")
                   for ln in lines)  # neuromer's warnings.warn copy is not printed beside its log line
    leak = [ln for ln in lines if "WindowKFold: windows of the same trial" in ln]
    assert len(leak) == 2 and leak[1].startswith("WARNING: said ") and " times in all: WindowKFold" in leak[1], err
    assert len(lines) <= 12, err


def test_demo_reuses_its_own_folder(tmp_path, capsys):
    from neuromer.cli import DEMO_CONFIG

    (tmp_path / "demo.toml").write_text(DEMO_CONFIG.format(permutations=5))
    (tmp_path / "run").mkdir()
    # past the folder check (it stops at the subject count, before anything is written)
    code, _, err = run(capsys, "demo", str(tmp_path), "--subjects", "0")
    assert code == 2 and "not a neuromer demo folder" not in err and "n_subjects" in err
    code, _, err = run(capsys, "demo", str(tmp_path / "new"), "--subjects", "0")  # a new folder
    assert code == 2 and "not a neuromer demo folder" not in err


def _can_mount_tmpfs(folder) -> bool:
    import shutil

    if not shutil.which("unshare"):
        return False
    res = subprocess.run([shutil.which("unshare"), "--mount", "sh", "-c",
                          f"mount -t tmpfs -o size=64k tmpfs '{folder}'"], capture_output=True)
    return res.returncode == 0


@pytest.mark.slow
def test_disk_full_is_one_line_error(tmp_path, study):
    # a real full disk (ENOSPC): a 64 kB tmpfs, mounted in a private mount namespace
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_tmpfs(disk):
        pytest.skip("cannot mount a small tmpfs here (needs unshare and CAP_SYS_ADMIN)")
    trials = study.deap[0]
    cases = [(["epochs", trials, "--out", disk / "x.dat"], "x.dat"),
             (["features", "eeg", trials, "--out", disk / "x.parquet"], "x.parquet"),
             (["simulate", disk / "sim", "--subjects", "1", "--trials", "1", "--stimulus-s", "4"], "stim01.wav")]
    results = _cli_limited([c[0] for c in cases], fsize=0, cwd=tmp_path, tiny_disk=disk)
    for (argv, target), (code, err) in zip(cases, results):
        assert code == 2, (argv, err)
        assert err.startswith("neuromer: error:") and err.count("\n") == 1, (argv, err)
        assert target in err and "the disk is full (No space left on device)" in err, (argv, err)
