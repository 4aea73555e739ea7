"""The faster exact paths of the frame features give librosa's/scipy's numbers bit for bit."""

import functools

import librosa
import numpy as np
import pytest
import scipy.ndimage as ndi
from librosa.core import constantq

from neuromer.audio import _fast
from neuromer.audio.features import _chroma, _hp_ratio_db

from ._signals import SR, click_track, progression


@pytest.mark.parametrize("shape", [(9, 9), (10, 13), (64, 40), (300, 9)])
@pytest.mark.parametrize("axis", [0, 1])
def test_median9_is_scipys_reflect_median_filter(shape, axis):
    rng = np.random.default_rng(sum(shape) + axis)
    x = rng.random(shape).astype(np.float32)
    x[x < 0.3] = 0.0  # ties, as in a spectrogram with silent bins
    size = [1, 1]
    size[axis] = 9
    out = _fast.median9(x, axis)
    want = ndi.median_filter(x, size=size, mode="reflect")
    assert out.dtype == want.dtype and np.array_equal(out, want)


@pytest.mark.parametrize("order", ["C", "F"])
def test_hpss_sums_equal_librosa_hpss_bit_for_bit(order):
    # a music-like spectrogram: harmonic lines, clicks and exact zeros (the masks' even split)
    y = (progression("major", bars=2) + click_track(120, 3.0)).astype(np.float32)
    mag = np.abs(librosa.stft(y, n_fft=512, hop_length=256))
    mag[-20:] = 0.0
    spec = np.asarray(mag, order=order)
    harm, perc = librosa.decompose.hpss(spec, kernel_size=(9, 9))
    h, p = _fast.hpss_sums(spec)
    # the sums add in memory-layout order, so the layout must be librosa's too
    assert np.array_equal(h, (harm ** 2).sum(0)) and np.array_equal(p, (perc ** 2).sum(0))
    assert h.dtype == np.float32


def test_hpss_sums_fall_back_to_librosa_on_tiny_spectrograms():
    spec = np.random.default_rng(0).random((8, 30)).astype(np.float32)
    harm, perc = librosa.decompose.hpss(spec, kernel_size=(9, 9))
    h, p = _fast.hpss_sums(spec)
    assert np.array_equal(h, (harm ** 2).sum(0)) and np.array_equal(p, (perc ** 2).sum(0))


def test_hp_ratio_matches_the_plain_librosa_computation():
    y = (progression("minor", bars=2) + click_track(100, 3.0)).astype(np.float32)
    mag = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    f2, t2 = mag.shape[0] // 2 * 2, mag.shape[1] // 2 * 2
    small = mag[:f2, :t2].reshape(f2 // 2, 2, t2 // 2, 2).mean(axis=(1, 3))  # as _hp_ratio_db decimates
    harm, perc = librosa.decompose.hpss(small, kernel_size=(9, 9))
    ratio = 10 * np.log10((harm ** 2).sum(0) + 1e-10) - 10 * np.log10((perc ** 2).sum(0) + 1e-10)
    want = np.pad(np.repeat(ratio, 2), (0, mag.shape[1] - 2 * len(ratio)), mode="edge")
    assert np.array_equal(_hp_ratio_db(mag), want)


@pytest.fixture()
def plain_cqt_filters():
    """librosa's own filter-bank function for the test, the memo (if any) put back afterwards."""
    current = vars(constantq)["__vqt_filter_fft"]
    original = getattr(current, "__wrapped__", current)
    setattr(constantq, "__vqt_filter_fft", original)
    yield original
    setattr(constantq, "__vqt_filter_fft", current)


def test_memoised_cqt_filters_give_librosas_chroma_bit_for_bit(plain_cqt_filters):
    y = (progression("minor", bars=2) + 0.1 * click_track(90, 3.0)).astype(np.float32)
    n_frames = 1 + len(y) // 512

    def chroma():
        return librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=2048, tuning=0.0,
                                          fmin=librosa.note_to_hz("C2"), n_octaves=5)

    plain = chroma()  # librosa's own filters
    built = []

    @functools.wraps(plain_cqt_filters)  # librosa's signature, which the memo keys by
    def counting(*args, **kwargs):
        built.append(1)
        return plain_cqt_filters(*args, **kwargs)

    setattr(constantq, "__vqt_filter_fft", counting)
    assert _fast.memoise_cqt_filters() and _fast.memoise_cqt_filters()  # idempotent
    wrapped = vars(constantq)["__vqt_filter_fft"]
    assert wrapped is not counting and wrapped.__wrapped__ is counting
    for _ in range(3):  # the first call fills the memo, the next ones read it (librosa rescales a copy)
        assert np.array_equal(chroma(), plain)
    assert len(built) == 5  # one filter bank per octave, built once
    ours = _chroma(y, SR, 512, n_frames)  # what frame_features uses: the same chroma, 4 frames a step
    assert np.array_equal(ours[:, ::4], plain[:, :ours[:, ::4].shape[1]])
    other = librosa.cqt(y, sr=SR // 2, hop_length=512, n_bins=24, fmin=librosa.note_to_hz("C3"))
    setattr(constantq, "__vqt_filter_fft", plain_cqt_filters)
    assert np.array_equal(other, librosa.cqt(y, sr=SR // 2, hop_length=512, n_bins=24,
                                             fmin=librosa.note_to_hz("C3")))  # another rate: another key


def test_memo_key_tells_arrays_and_settings_apart():
    a = np.array([1.0, 2.0])
    assert _fast._key(22050, a, 1, "hann") == _fast._key(22050, a.copy(), 1, "hann")
    assert _fast._key(22050, a, 1, "hann") != _fast._key(22050, a.astype(np.float32), 1, "hann")
    assert _fast._key(22050, a, 1, "hann") != _fast._key(22050.0, a, 1, "hann")  # int vs float rate
    assert _fast._key(22050, a, 1, np.hanning(4)) is not None
    assert _fast._key(22050, a, 1, lambda n: np.ones(n)) is None  # a function: not memoised


def _music(seconds=3.0, seed=0):
    """A generated clip with chords, clicks, exact digital silence and tiny values near zero."""
    y = progression("major", bars=2)[: int(seconds * SR)] + click_track(110, seconds)[: int(seconds * SR)]
    y = y.astype(np.float32)
    y[SR // 2: SR // 2 + 3000] = 0.0  # silence: no crossings
    y[SR: SR + 500] = np.random.default_rng(seed).normal(0, 1e-10, 500).astype(np.float32)  # at the threshold
    return y


@pytest.mark.parametrize("frame_length, hop_length", [(2048, 512), (1024, 256), (2048, 2048)])
def test_zero_crossing_rate_equals_librosa(frame_length, hop_length):
    y = _music()
    want = librosa.feature.zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length)[0]
    got = _fast.zero_crossing_rate(y, frame_length, hop_length)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(_fast.zero_crossing_rate(-y, frame_length, hop_length),
                          librosa.feature.zero_crossing_rate(-y, frame_length=frame_length,
                                                             hop_length=hop_length)[0])


def test_spectral_rolloff_equals_librosa():
    mag = np.abs(librosa.stft(_music(), n_fft=2048, hop_length=512))
    mag[:, :3] = 0.0  # silent frames roll off at 0 Hz
    freqs = librosa.fft_frequencies(sr=SR, n_fft=2048)
    for share in (0.85, 0.5, 0.99):
        want = librosa.feature.spectral_rolloff(S=mag, sr=SR, roll_percent=share)[0]
        assert np.array_equal(_fast.spectral_rolloff(mag, freqs, roll_percent=share), want)


def test_stereo_file_reads_as_numpys_channel_mean(tmp_path):
    from neuromer.audio.features import load_audio

    rng = np.random.default_rng(3)
    stereo = rng.uniform(-1, 1, (SR, 2)).astype(np.float32)
    stereo[:100] = [[-0.0, 0.0]] * 100  # signed zeros
    got, _ = load_audio((stereo, SR))
    want = stereo.mean(axis=1)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert np.array_equal(load_audio((stereo.astype(np.float64), SR))[0],
                          stereo.astype(np.float64).mean(axis=1).astype(np.float32))


def test_one_thread_limits_blas_and_restores_it():
    import threadpoolctl

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outer = blas_threads()
        with _fast.one_thread():
            assert all(n == 1 for n in blas_threads())
            with _fast.one_thread():  # reused scan, nested
                assert all(n == 1 for n in blas_threads())
            assert all(n == 1 for n in blas_threads())
        assert blas_threads() == outer
    assert blas_threads() == before
