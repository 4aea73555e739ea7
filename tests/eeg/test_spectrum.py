"""The periodogram kernel behind every EEG spectral feature, checked against MNE's Welch PSD."""

import mne
import numpy as np
import pytest

from neuromer.eeg import DEFAULT_BANDS, window_band_power, window_psd
from neuromer.eeg import features as ef
from neuromer.windows import WindowGrid, sliding_windows


def _mne_band_power(windows, sfreq, bands):
    """One psd_array_welch segment per window, summed over each band's bins."""
    n = windows.shape[-1]
    psd, freqs = mne.time_frequency.psd_array_welch(windows, sfreq, n_fft=n, n_per_seg=n, n_overlap=0,
                                                    window="hamming", verbose="error")
    df = sfreq / n
    return np.stack([psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) * df for lo, hi in bands.values()], -1)


@pytest.mark.parametrize("sfreq, bands, path", [
    (128.0, DEFAULT_BANDS, "frequency"),  # bins 4..44 of 65: taper applied as a 3-tap spectral filter
    (128.0, {"delta": (1.0, 4.0), "alpha": (8.0, 12.0)}, "frequency"),  # bin 1: mean removed in frequency
    (128.0, {"dc": (0.0, 4.0), "alpha": (8.0, 12.0)}, "time"),  # bin 0 has no lower neighbour
    (128.0, {"top": (40.0, 64.1)}, "time"),  # Nyquist bin has no upper neighbour
    (127.0, {"theta": (4.0, 8.0), "gamma": (30.0, 45.0)}, "frequency"),  # odd window length
    (100.0, {"all": (0.0, 50.1)}, "time"),
])
def test_band_power_equals_mne_welch_on_both_paths(rng, sfreq, bands, path):
    n = int(sfreq)
    # a large DC offset and a slow drift: the mean removal must match MNE's detrend exactly
    t = np.arange(6 * n) / sfreq
    data = 50 + 3 * t + rng.standard_normal((3, 4, t.size))
    win = sliding_windows(data, sfreq, WindowGrid(1.0, 0.5))
    k0, k1 = ef._band_bins(np.fft.rfftfreq(n, 1 / sfreq), bands)
    assert ef._bin_scale(n, sfreq, k0, k1)[1] == (path == "frequency")
    got = window_band_power(win, sfreq, bands)
    assert got.shape == win.shape[:-1] + (len(bands),)
    np.testing.assert_allclose(got, _mne_band_power(win, sfreq, bands), rtol=1e-10)


@pytest.mark.parametrize("n", [128, 127, 100])
def test_window_psd_equals_mne_welch_on_every_bin(rng, n):
    windows = 20 + rng.standard_normal((5, 2, n))  # any leading shape
    freqs, psd = window_psd(windows, float(n))
    ref, ref_freqs = mne.time_frequency.psd_array_welch(windows, float(n), n_fft=n, n_per_seg=n, n_overlap=0,
                                                        window="hamming", verbose="error")
    np.testing.assert_array_equal(freqs, ref_freqs)
    assert psd.shape == (5, 2, n // 2 + 1)
    np.testing.assert_allclose(psd, ref, rtol=1e-9, atol=1e-12 * ref.max())


@pytest.mark.parametrize("n, bands", [(128, DEFAULT_BANDS), (100, DEFAULT_BANDS), (100, {"dc": (0.0, 4.0)})])
@pytest.mark.parametrize("value", [0.0, 0.1, -12345.678, np.pi * 1e-6])
def test_flat_windows_have_exactly_zero_power(rng, n, bands, value):
    # constants whose FFT leaves rounding residue (all but 0 for n = 100), on both kernel paths
    data = rng.standard_normal((1, 2, 4 * n))
    data[0, 1, n:3 * n] = value  # flat from 1 s to 3 s: windows at 1.0, 1.5 and 2.0 s are flat
    win = sliding_windows(data, float(n), WindowGrid(1.0, 0.5))
    power = window_band_power(win, float(n), bands)
    flat = np.zeros(win.shape[:-1], bool)
    flat[0, 1, 2:5] = True
    assert np.all(power[flat] == 0.0)
    assert np.all(power[~flat] > 0.0)
    psd = window_psd(win, float(n))[1]
    assert np.all(psd[flat] == 0.0) and np.all(psd[~flat].sum(-1) > 0)
    _, _, entropy = ef._spectral_features(win, float(n), ef.check_bands(bands))
    assert np.isnan(entropy[flat]).all() and np.isfinite(entropy[~flat]).all()


def test_tiny_signal_on_a_large_offset_is_not_taken_for_flat():
    # power 1e-24 of the DC power: below the flatness check's threshold, but the window is not flat
    n, amp = 128, 1e-9
    t = np.arange(n) / n
    window = 1000.0 + amp * np.sin(2 * np.pi * 20 * t)
    power = window_band_power(window, float(n), {"beta": (12.0, 30.0)})
    assert power[0] == pytest.approx(amp ** 2 / 2, rel=1e-3)  # the whole sine's variance lies in the band


def test_nan_spoils_only_its_windows(rng):
    data = rng.standard_normal((1, 2, 512))
    data[0, 0, 300] = np.nan  # windows starting at 192 and 256 (hop 64, length 128)
    win = sliding_windows(data, 128.0, WindowGrid(1.0, 0.5))
    power = window_band_power(win, 128.0)
    assert np.isnan(power[0, 0]).any(axis=-1).tolist() == [False, False, False, True, True, False, False]
    assert np.isfinite(power[0, 1]).all()


def test_chunking_does_not_change_results(rng, monkeypatch):
    data = rng.standard_normal((3, 5, 8 * 128))
    win = sliding_windows(data, 128.0, WindowGrid(1.0, 0.5))
    whole = window_band_power(win, 128.0)
    monkeypatch.setattr(ef, "_FFT_CHUNK_VALUES", 3 * 128)  # three windows per chunk
    np.testing.assert_array_equal(window_band_power(win, 128.0), whole)


def test_bad_windows_argument():
    with pytest.raises(ef.NeuromerError, match="got a scalar"):
        window_band_power(np.float64(1.0), 128.0)
    with pytest.raises(ef.NeuromerError, match="Invalid band"):
        window_band_power(np.zeros(128), 128.0, {"x": (10.0, 5.0)})


def test_float32_and_integer_windows_are_transformed_in_float64(rng):
    data = (100 * rng.standard_normal((2, 3, 640))).astype(np.float32)
    win = sliding_windows(data, 128.0, WindowGrid(1.0, 0.5))
    ref = window_band_power(win.astype(np.float64), 128.0)
    np.testing.assert_allclose(window_band_power(win, 128.0), ref, rtol=1e-12)
    ints = np.round(data).astype(np.int16)
    np.testing.assert_allclose(window_band_power(ints[0, 0, :128], 128.0),
                               _mne_band_power(ints[0, 0, :128].astype(float), 128.0, DEFAULT_BANDS), rtol=1e-10)


def test_hamming_taper_is_scipys_bit_for_bit():
    import scipy.signal

    for n in range(1, 600):
        assert np.array_equal(ef._hamming(n), scipy.signal.get_window("hamming", n)), n


def test_spectral_entropy_equals_the_xlogy_formula(rng):
    import scipy.special

    n = 128
    win = sliding_windows(rng.standard_normal((2, 3, 6 * n)), float(n), WindowGrid(1.0, 0.5)).copy()
    win[0, 1, 2] = 7.0  # a flat window: zero power, NaN entropy
    bands = ef.check_bands(DEFAULT_BANDS)
    _, _, entropy = ef._spectral_features(win, float(n), bands)
    freqs, psd = window_psd(win, float(n))
    k0, k1 = ef._band_bins(freqs, bands)
    psd = psd[..., k0:k1]
    with np.errstate(invalid="ignore"):
        p = psd / psd.sum(-1, keepdims=True)
        want = -scipy.special.xlogy(p, p).sum(-1) / np.log(k1 - k0)
    finite = np.ones(entropy.shape, bool)
    finite[0, 1, 2] = False
    assert np.isnan(entropy[0, 1, 2]) and np.isfinite(entropy[finite]).all()
    np.testing.assert_allclose(entropy[finite], want[finite], rtol=1e-12)
