"""Run configs with wrong values are refused at load, with the key named (found by the damaged-input sweep)."""

import pytest

from neuromer.cli import main
from neuromer.errors import NeuromerError
from neuromer.pipeline import make_config


@pytest.fixture()
def raw(tmp_path):
    (tmp_path / "sub-01.xdf").write_bytes(b"")  # only globbed here, never read
    return tmp_path, {"study": {"inputs": ["sub-01.xdf"]}}


@pytest.mark.parametrize("section, key, value, message", [
    ("study", "inputs", 3, "'study.inputs' must be a file pattern or a list of them, got 3"),
    ("study", "inputs", [1, 2], "'study.inputs' must be a file pattern or a list of them, got [1, 2]"),
    ("study", "protocol", 5, "'study.protocol' must be text, got 5"),
    ("study", "name", {"a": 1}, "'study.name' must be text"),
    ("models", "targets", ["happiness"], "'models.targets' must be one of 'valence', 'arousal', 'quadrant'"),
    ("models", "targets", "valence", "'models.targets' must be a non-empty list"),
    ("models", "feature_sets", [["telepathy"]], "'models.feature_sets' must be one of 'eeg', 'physio'"),
    ("models", "feature_sets", "eeg", "'models.feature_sets' must be a list of lists"),
    ("models", "feature_sets", [[]], "'models.feature_sets' must be a list of lists"),
    ("models", "cv", "sometimes", "'models.cv' must be one of 'trial', 'loto', 'subject', 'window', got 'sometimes'"),
    ("models", "threshold", "mean", "'models.threshold' must be one of 'fixed', 'median'"),
    ("features", "eeg_baseline", "divide", "'features.eeg_baseline' must be one of 'none', 'subtract', 'ratio'"),
    ("features", "audio_latency_s", 1e300, "'features.audio_latency_s' = 1e+300 s is over one day"),
    ("windows", "window_s", 1e6, "'windows.window_s' = 1000000.0 s is over one day"),
])
def test_wrong_config_values_are_refused_at_load(raw, section, key, value, message):
    root, cfg = raw
    cfg.setdefault(section, {})[key] = value
    with pytest.raises(NeuromerError) as err:
        make_config(cfg, path=root / "config.toml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_feature_sets_may_name_one_family_as_text(raw):
    root, cfg = raw
    cfg["models"] = {"feature_sets": ["eeg", ["eeg", "physio"]], "targets": ["valence", "quadrant"]}
    assert make_config(cfg, path=root / "config.toml")["models"]["feature_sets"][0] == "eeg"


def test_cli_run_with_a_wrong_value_is_one_line(tmp_path, capsys):
    (tmp_path / "sub-01.xdf").write_bytes(b"")
    config = tmp_path / "config.toml"
    config.write_text('[study]\ninputs = 3\n', encoding="utf-8")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuromer: error: ") and "'study.inputs' must be" in err and err.count("\n") == 1
