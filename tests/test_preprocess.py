import mne
import numpy as np
import pytest

from neuromer.errors import NeuromerError
from neuromer.preprocess import find_bad_channels, preprocess
from neuromer.session import Session, set_standard_montage

SF = 256.0
EEG = ["Fp1", "Fp2", "F3", "F4", "Fz", "C3", "C4", "Cz", "P3", "P4", "Pz", "O1", "O2"]
LEAK = {"Fp1": 0.4, "Fp2": 0.4, "F3": 0.15, "F4": 0.15, "Fz": 0.2}


def _session(seed=0, blinks=True, dur=60.0):
    rng = np.random.default_rng(seed)
    n = int(dur * SF)
    t = np.arange(n) / SF
    clean = 10e-6 * rng.standard_normal((len(EEG), n))
    clean += 8e-6 * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6, (len(EEG), 1)))
    blink = np.zeros(n)
    if blinks:
        for b in np.arange(1.0, dur - 1, 2.7):
            blink += 300e-6 * np.exp(-0.5 * ((t - b) / 0.06) ** 2)
    eog = blink + 2e-6 * rng.standard_normal(n)
    eeg = clean + np.array([LEAK.get(c, 0.02) for c in EEG])[:, None] * blink
    gsr = 2 + 0.2 * np.sin(2 * np.pi * 0.05 * t) + 0.01 * rng.standard_normal(n)
    info = mne.create_info(EEG + ["vEOG", "GSR"], SF, ["eeg"] * len(EEG) + ["eog", "gsr"])
    raw = mne.io.RawArray(np.vstack([eeg, eog, gsr]), info, verbose="error")
    set_standard_montage(raw)
    return Session(raw, subject="01"), clean


def _frontal_error(session, clean, **kw):
    out = preprocess(session, **kw)
    ref, _ = _session(blinks=False)
    truth = preprocess(ref, **{**kw, "eog": None})
    i = out.raw.ch_names.index("Fp1")
    return out, np.mean((out.raw.get_data()[i] - truth.raw.get_data()[i]) ** 2)


def test_steps_recorded_and_eog_regression_reduces_blinks():
    session, clean = _session()
    out, err_reg = _frontal_error(session, clean)
    _, err_none = _frontal_error(session, clean, eog=None)
    assert err_reg < err_none / 5
    steps = [s["step"] for s in out.provenance["steps"]]
    assert steps == ["bad_channels", "resample", "filter", "reference", "eog_regression", "physio_clean"]
    assert out.sfreq == 128.0 and session.sfreq == SF  # input untouched
    resample = out.provenance["steps"][1]
    assert resample["sfreq"] == 128.0 and resample["from_sfreq"] == SF
    assert out.provenance["steps"][2]["l_freq"] == 4.0 and out.provenance["steps"][-1]["channels"] == {"GSR": "eda_clean"}
    assert session.provenance["steps"] == []
    # average reference: EEG sums to zero at every sample
    eeg = out.raw.get_data(picks="eeg")
    assert np.abs(eeg.mean(axis=0)).max() < 1e-12


def test_eog_ica_runs_and_reduces_blinks():
    session, clean = _session()
    out, err_ica = _frontal_error(session, clean, eog="ica")
    _, err_none = _frontal_error(session, clean, eog=None)
    assert "eog_ica" in [s["step"] for s in out.provenance["steps"]]
    assert err_ica < err_none


def test_bad_channels_detected_and_interpolated():
    session, _ = _session(blinks=False, dur=20.0)
    data = session.raw._data
    data[EEG.index("P3")] = 0.0
    data[EEG.index("O2"), 100:200] = np.nan
    data[EEG.index("C4")] *= 200
    found = find_bad_channels(session.raw)
    assert found == {"flat": ["P3"], "nonfinite": ["O2"], "noisy": ["C4"]}
    # 100 NaN samples stay local (neuromer.badsamples); a channel more than half NaN is bad
    n = data.shape[1]
    data[EEG.index("O2"), : n // 2 + 1] = np.nan
    out = preprocess(session, eog=None, physio=False)
    assert [s["step"] for s in out.provenance["steps"][:2]] == ["bad_samples", "bad_channels"]
    step = out.provenance["steps"][1]
    assert step["bads"] == ["C4", "O2", "P3"] and step["nonfinite"] == ["O2"]
    assert len(out.raw.annotations) == 0  # O2's BAD_nonfinite span went with its interpolation
    assert "interpolate_bads" in [s["step"] for s in out.provenance["steps"]]
    x = out.raw.get_data(picks=["P3", "O2", "C4"])
    assert np.isfinite(x).all() and (x.std(axis=1) > 0).all() and out.raw.info["bads"] == []
    assert x.std(axis=1).max() < 5 * out.raw.get_data(picks=["Pz"]).std()


def test_options_and_errors():
    session, _ = _session(blinks=False, dur=10.0)
    out = preprocess(session, sfreq=None, l_freq=None, h_freq=None, reference=None, eog=None,
                     bad_channels=None, physio=False)
    assert out.provenance["steps"] == []
    np.testing.assert_array_equal(out.raw.get_data(), session.raw.get_data())
    with pytest.warns(RuntimeWarning, match="Nyquist"):
        preprocess(session, sfreq=64.0, eog=None, physio=False)
    with pytest.raises(NeuromerError, match="'eog'"):
        preprocess(session, eog="pca")
    with pytest.raises(NeuromerError, match="Xyz"):
        preprocess(session, bad_channels=["Xyz"])
    no_eog = Session(session.raw.copy().pick(["eeg", "gsr"]))
    with pytest.warns(RuntimeWarning, match="no EOG channel"):
        preprocess(no_eog, physio=False)
