"""EEG feature families that cannot be computed are announced once, with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

SF = 128


def test_missing_feature_families_warn_once(caplog):
    from neuromer.eeg.features import eeg_trial_features, eeg_window_features
    from neuromer.session import Trials

    data = np.random.default_rng(6).standard_normal((2, 3, 5 * SF)) * 10
    meta = pd.DataFrame({"trial": [1, 2], "stimulus_id": ["a", "b"], "onset_s": [3.0, 10.0],
                         "duration_s": [2.0, 2.0]})
    trials = Trials(data, SF, ["F3", "Cz", "Pz"], ["eeg"] * 3, baseline_s=3.0, metadata=meta)
    table = eeg_window_features(trials)
    assert "eeg_faa" not in table and not any(c.startswith("eeg_dasm") for c in table)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [
        "no asymmetry features (eeg_dasm_*, eeg_rasm_*): none of the 14 symmetric pairs (Fp1/Fp2, AF3/AF4, F3/F4, "
        "F7/F8, ...) is among the EEG channels (F3, Cz, Pz).",
        "no frontal alpha asymmetry (eeg_faa): channel F4 not found (EEG channels: F3, Cz, Pz)."]
    caplog.clear()
    eeg_window_features(trials, bands={"theta": (4.0, 8.0)})
    assert "the bands (theta) have no 'alpha'" in caplog.text
    caplog.clear()
    eeg_trial_features(trials)
    assert [r.getMessage()[:40] for r in caplog.records] == ["no asymmetry features (eeg_asym_*): none"]


def test_bands_the_rate_or_window_cannot_give_warn(caplog):
    from neuromer.eeg.features import eeg_window_features
    from neuromer.session import Trials
    from neuromer.windows import WindowGrid

    rate = 64  # Nyquist 32 Hz: the default gamma band (30-45 Hz) is half measured, (35, 45) not at all
    data = np.random.default_rng(10).standard_normal((1, 2, 6 * rate)) * 10
    meta = pd.DataFrame({"trial": [1], "stimulus_id": ["a"], "onset_s": [3.0], "duration_s": [3.0]})
    trials = Trials(data, rate, ["F3", "F4"], ["eeg"] * 2, baseline_s=3.0, metadata=meta)
    bands = {"alpha": (8.0, 12.0), "high": (35.0, 45.0), "narrow": (9.2, 9.8)}
    eeg_window_features(trials, bands=bands, grid=WindowGrid(1.0, 0.5))
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [
        "no high power (eeg_*high*): the band (35-45 Hz) lies above the Nyquist frequency (32 Hz at 64 Hz); "
        "its columns are 0/NaN.",
        "no narrow power (eeg_*narrow*): no frequency bin of a 64-sample window (1 Hz apart) lies in 9.2-9.8 Hz; "
        "its columns are 0/NaN (use longer windows)."]
