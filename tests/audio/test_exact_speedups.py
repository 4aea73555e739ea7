"""The speed-ups of the melody and timbre_harmony code give the earlier code's numbers bit for bit.

The earlier implementations are kept here as references (they are what the audio cache version 8
and the shipped default predictor were computed with): the faster code must not change a bit.
"""

import librosa
import numpy as np
import pandas as pd
import pytest

from neuromer.audio import _timbre_stats, melody
from neuromer.audio._timbre_stats import _PEAK_BAND_HZ, _PEAK_FLOOR, N_PEAKS
from neuromer.audio.features import SR
from neuromer.simulate import synthesize_music

# --- the earlier implementations ------------------------------------------------------------------


def ref_spectral_peaks(mag, sr, n_fft, n_peaks=N_PEAKS):
    mag = np.asarray(mag, dtype=np.float64)
    n_bins, n = mag.shape
    inner = mag[1:-1]
    is_max = (inner > mag[:-2]) & (inner >= mag[2:])
    bins_hz = np.arange(1, n_bins - 1) * sr / n_fft
    band = (bins_hz >= _PEAK_BAND_HZ[0]) & (bins_hz <= _PEAK_BAND_HZ[1])
    floor = _PEAK_FLOOR * mag.max(axis=0, keepdims=True)
    cand = np.where(is_max & band[:, None] & (inner > floor) & (inner > 0), inner, 0.0)
    k = min(n_peaks, cand.shape[0])
    idx = np.argpartition(-cand, k - 1, axis=0)[:k]
    amps = np.take_along_axis(cand, idx, axis=0)
    b = idx + 1
    cols = np.arange(n)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, mid, hi = (np.log(np.maximum(mag[b + d, cols], 1e-30)) for d in (-1, 0, 1))
        denom = lo - 2 * mid + hi
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (lo - hi) / denom, 0.0)
    freqs = (b + np.clip(shift, -0.5, 0.5)) * sr / n_fft
    return np.where(amps > 0, freqs, 0.0), amps


def ref_crest_db(y, n_fft, hop_length, n_frames):
    y = np.asarray(y, dtype=np.float64)
    padded = np.pad(y, n_fft // 2)
    need = (n_frames - 1) * hop_length + n_fft
    if len(padded) < need:
        padded = np.pad(padded, (0, need - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    peak = np.abs(frames).max(axis=1)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rms > 1e-5, 20 * np.log10(peak / rms), np.nan)


def ref_runs(mask):
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def ref_boxcar(x, n):
    n = min(n, len(x))
    if n <= 1 or len(x) < 2:
        return x.astype(float)
    k = np.ones(n)
    return np.convolve(x, k, "same") / np.convolve(np.ones(len(x)), k, "same")


def ref_split_at_valleys(s, e, level_db, k):
    lv = level_db[s:e]
    n = len(lv)
    cuts = []
    for i in range(1, n - 1):
        if lv[i] > lv[i - 1] or lv[i] > lv[i + 1]:
            continue
        left, right = lv[max(0, i - k):i].max(), lv[i + 1:i + 1 + k].max()
        if min(left, right) - lv[i] >= melody._REATTACK_DIP_DB and (not cuts or i - cuts[-1] > 1):
            cuts.append(i)
    bounds = [0, *cuts, n]
    return [(s + a + (1 if a else 0), s + b) for a, b in zip(bounds[:-1], bounds[1:]) if b - a > 1]


def ref_split_piece(p, hop, *, min_frames, jump_st, smooth_n, glide_slope, glide_min_st, glide_min_n):
    n = len(p)
    ps = ref_boxcar(p, smooth_n)
    slope = np.gradient(ps) / hop if n > 1 else np.zeros(n)
    # 0.20 s then 0.25 s moving averages null 4, 5 and 8 Hz and keep < 4% of any 4-8 Hz
    # vibrato: a steep run only counts if this vibrato-free pitch moves as well
    n_a, n_b = max(1, int(round(0.2 / hop))), max(1, int(round(0.25 / hop)))
    pv = ref_boxcar(ref_boxcar(p, n_a), n_b)
    reach = (n_a + n_b) // 2
    items, pos = [], 0
    moving = np.sign(slope) * (np.abs(slope) > glide_slope)
    events, period = [], None
    for a, b in ref_runs(moving != 0):
        for a2, b2 in ref_runs(moving[a:b] > 0) + ref_runs(moving[a:b] < 0):
            a2, b2 = a + a2, a + b2
            extent = ps[b2 - 1] - ps[a2]
            steady_move = pv[min(n - 1, b2 - 1 + reach)] - pv[max(0, a2 - reach)]
            if abs(steady_move) <= jump_st or np.sign(steady_move) != np.sign(extent):
                continue  # vibrato or a wobble, not a change of note
            lo, hi = max(0, a2 - smooth_n), min(n, b2 + smooth_n)
            back = (-np.sign(extent) * np.diff(p[lo:hi])).max(initial=0.0)
            if abs(extent) > jump_st and n > 2 * smooth_n and back > jump_st / 2:
                # a note change within a wide vibrato (the pitch swings back steeply around it):
                # the change is where the pitch averaged over one vibrato period steps most
                if period is None:
                    period = melody._vibrato_period(p - pv, hop)
                c = melody._step_frame(p, max(1, a2 - smooth_n // 2), min(n - 1, b2 + smooth_n // 2),
                                np.sign(extent), period)
                events.append((c, c, "cut", 0.0))
            elif abs(extent) >= glide_min_st and b2 - a2 >= glide_min_n:
                # measured on the (median-filtered) pitch: the run ends lie on the steady parts
                events.append((a2, b2, "glide", float(p[b2 - 1] - p[a2])))
            elif abs(extent) > jump_st:
                events.append(((a2 + b2) // 2, (a2 + b2) // 2, "cut", 0.0))
    for a, b, kind, extent in sorted(events):
        if a > pos:
            items.append(["steady", pos, a, None])
        if kind == "glide":
            items.append(["glide", a, b, (b - a, extent)])
        pos = max(pos, b)
    if pos < n:
        items.append(["steady", pos, n, None])
    steady = [it for it in items if it[0] == "steady" and it[2] - it[1] >= min_frames]
    notes = {id(it): [it[1], it[2], it[1], it[2], None] for it in steady}  # start, stop, steady, glide
    for i, it in enumerate(items):
        if it[0] != "glide":
            continue
        after = items[i + 1] if i + 1 < len(items) else None
        before = items[i - 1] if i > 0 else None
        if after is not None and id(after) in notes and notes[id(after)][4] is None:
            notes[id(after)][0], notes[id(after)][4] = it[1], it[3]
        elif before is not None and id(before) in notes and notes[id(before)][4] is None:
            notes[id(before)][1], notes[id(before)][4] = it[2], it[3]
        elif it[2] - it[1] >= min_frames:
            notes[id(it)] = [it[1], it[2], it[1], it[2], it[3]]
    return sorted(notes.values(), key=lambda v: v[0])


def ref_transitions(p: np.ndarray, jump_st: float) -> list[tuple[int, int, float, float]]:
    d = np.diff(p)
    out, done = [], 0
    for k in np.flatnonzero(np.abs(d) > jump_st / 2):
        if k < done:
            continue  # inside the previous transition
        sign = np.sign(d[k])
        a = b = k
        while b + 1 < len(d) and sign * d[b + 1] > sign * d[b]:
            b += 1  # on to the steepest frame
        for _ in range(2):
            peak = abs(d[b])
            while a > done and sign * d[a - 1] > peak / 4:
                a -= 1
            while b + 1 < len(d) and sign * d[b + 1] > peak / 4:
                b += 1
            m = a + int(np.argmax(sign * d[a: b + 1]))
            if sign * d[m] <= peak:
                break
            # a local peak (a vibrato's swing) ran into a steeper frame (a note change moving
            # the same way): measure the transition around that frame instead
            a = b = m
        done = b + 1
        peak = max(peak, float(np.abs(d[a: b + 1]).max()))
        span = p[b + 1] - p[a]
        if abs(span) > jump_st and b + 1 - a <= melody._TRANSITION_MAX_N:
            out.append((a, b + 1, peak, span))
    return out


# --- the tests ---------------------------------------------------------------------------------------


def music(seed, seconds=12.0, **kw):
    opts = dict(tempo_bpm=96 + 12 * seed, mode=("major", "minor")[seed % 2], loudness_db=-18.0,
                brightness=0.6, articulation=0.7)
    opts.update(kw)
    return synthesize_music(duration_s=seconds, seed=seed, **opts).astype(np.float32)


@pytest.mark.parametrize("seed", [1, 2])
def test_spectral_peaks_bit_for_bit(seed):
    y = music(seed, seconds=6.0, dissonance=0.5 * seed, percussion=0.8)
    mag = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    mag[:, :5] = 0.0  # digital silence: no peaks at all
    mag[:, 5:8] = 1e-3  # flat frames: ties everywhere, no local maximum
    for args in ((SR, 2048), (44100, 2048), (8000, 2048), (SR, 2048, 400), (SR, 2048, 3)):
        got = _timbre_stats.spectral_peaks(mag, *args)
        want = ref_spectral_peaks(mag, *args)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.flags.c_contiguous and np.array_equal(g, w)
    # quantised magnitudes: many equal peaks, the selection among ties must be the same too
    rough = np.round(mag * 20) / 20
    for g, w in zip(_timbre_stats.spectral_peaks(rough, SR, 2048), ref_spectral_peaks(rough, SR, 2048)):
        assert np.array_equal(g, w)


def test_crest_db_bit_for_bit():
    y = music(3, seconds=5.0)
    y[: 4 * 512] = 0.0  # silent frames: NaN
    for n_fft, hop in ((2048, 512), (1024, 256), (2048, 300)):
        n = 1 + len(y) // hop
        got, want = _timbre_stats.crest_db(y, n_fft, hop, n), ref_crest_db(y, n_fft, hop, n)
        assert np.array_equal(got, want, equal_nan=True)
    short = y[:1000]  # shorter than one frame: zero-padded at the end
    assert np.array_equal(_timbre_stats.crest_db(short, 2048, 512, 3), ref_crest_db(short, 2048, 512, 3),
                          equal_nan=True)


def test_runs_and_boxcar_bit_for_bit():
    rng = np.random.default_rng(0)
    for length in (0, 1, 2, 3, 7, 40, 301):
        for p in (0.1, 0.5, 0.9):
            mask = rng.random(length) < p
            assert melody._runs(mask) == [(int(a), int(b)) for a, b in ref_runs(mask)]
        x = rng.standard_normal(length) * 3 + 60
        for n in (1, 2, 3, 5, 17, 25, 400):
            assert np.array_equal(melody._boxcar(x, n), ref_boxcar(x, n))
    assert melody._runs(np.ones(5, bool)) == [(0, 5)] and melody._runs(np.zeros(5, bool)) == []


def test_split_at_valleys_bit_for_bit():
    rng = np.random.default_rng(1)
    level = rng.normal(-20, 3, 2000)
    level[rng.choice(2000, 60, replace=False)] -= rng.uniform(10, 30, 60)  # dips, some deep
    level[500:503] = -70.0  # a flat-bottomed valley (ties)
    for s, e in ((0, 2000), (3, 40), (490, 520), (0, 1), (0, 2), (10, 13)):
        for k in (3, 13):
            assert melody._split_at_valleys(s, e, level, k) == ref_split_at_valleys(s, e, level, k)


def contour_zoo(hop=256 / SR, seconds=20.0, seed=0):
    """A contour with what note segmentation handles: steps, trills, glides, wide vibrato,
    repeated notes at level dips and sharp attacks, voicing gaps and octave glitches."""
    rng = np.random.default_rng(seed)
    n = int(seconds / hop)
    t = np.arange(n) * hop
    midi = np.full(n, 60.0)
    pos, parts = 0, []
    while pos < n:
        kind = rng.choice(["step", "trill", "glide", "vibrato", "repeat"])
        length = int(rng.integers(20, 160))
        seg = slice(pos, min(n, pos + length))
        base = 48 + rng.integers(0, 24)
        tt = t[seg] - t[seg][0]
        if kind == "step":
            midi[seg] = base + (tt > tt[-1] / 2) * rng.choice([-3, 2, 5])
        elif kind == "trill":
            midi[seg] = base + (np.floor(tt * 9) % 2)
        elif kind == "glide":
            midi[seg] = base + np.clip((tt - 0.1) * 12, 0, rng.uniform(1, 5))
        elif kind == "vibrato":
            midi[seg] = base + rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * rng.uniform(4, 8) * tt)
        else:
            midi[seg] = base
        parts.append((kind, seg))
        pos += length
    midi += rng.normal(0, 0.02, n)
    glitch = rng.choice(n, 15, replace=False)
    midi[glitch] += 12
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    voiced = rng.random(n) > 0.01
    for a in rng.choice(n - 20, 12, replace=False):
        voiced[a: a + rng.integers(1, 15)] = False
    rms = 0.1 * np.ones(n)
    attack = np.zeros(n)
    for kind, seg in parts:
        if kind == "repeat":
            k = np.arange(seg.start, seg.stop)
            rms[k] = 0.1 * 10 ** (-((k - seg.start) % 40) * 0.15 / 20)
            attack[k[(k - seg.start) % 40 == 0]] = rng.uniform(0.5, 4.0)
            rms[k[(k - seg.start) % 40 == 39]] = 1e-3  # now and then a deep valley
    f0 = np.where(voiced, f0, np.nan)
    return melody.Contour(times=t, f0_hz=f0, voiced=voiced, salience=rng.uniform(0.5, 1, n), rms=rms,
                          layers=voiced.astype(int), hop_s=hop, attack_db=attack)


@pytest.fixture
def reference_helpers(monkeypatch):
    """note_events with the earlier helpers in place."""
    def use():
        monkeypatch.setattr(melody, "_runs", ref_runs)
        monkeypatch.setattr(melody, "_boxcar", ref_boxcar)
        monkeypatch.setattr(melody, "_split_piece", ref_split_piece)
        monkeypatch.setattr(melody, "_split_at_valleys", ref_split_at_valleys)
        monkeypatch.setattr(melody, "_transitions", ref_transitions)
    return use


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_note_events_bit_for_bit(seed, reference_helpers):
    contours = [contour_zoo(seed=seed), melody.f0_contour(music(seed + 1), SR)]
    got = [melody.note_events(c) for c in contours]
    got += [melody.note_events(contours[0], min_note_s=0.03, jump_st=0.3, glide_min_s=0.05)]
    reference_helpers()
    want = [melody.note_events(c) for c in contours]
    want += [melody.note_events(contours[0], min_note_s=0.03, jump_st=0.3, glide_min_s=0.05)]
    for g, w in zip(got, want):
        assert len(w) > 10  # the zoo and the music have notes, glides and vibrato to compare
        pd.testing.assert_frame_equal(g, w, check_exact=True)
    assert want[0]["glissando_extent_st"].notna().any() and want[0]["vibrato"].any()


def test_strongest_peaks_rank_as_the_selection_did():
    from neuromer.audio import _pitch

    rng = np.random.default_rng(4)
    sal = rng.random((400, 120)).astype(np.float32) ** 4
    sal[:40] = np.round(sal[:40] * 8) / 8  # coarse values: equal peaks, in and at the edge of the top k
    sal[40:45] = 0.0  # silent frames: no peak
    sal[45, -2:] = 0.0  # a zero "peak" at the top end of the range
    peaks = np.zeros(sal.shape, bool)
    peaks[:, 1:-1] = (sal[:, 1:-1] > sal[:, :-2]) & (sal[:, 1:-1] >= sal[:, 2:])
    peaks[:, 0], peaks[:, -1] = sal[:, 0] > sal[:, 1], sal[:, -1] >= sal[:, -2]
    for k in (1, 3, 8, 120):
        top, val = _pitch._strongest_peaks(sal, peaks, k)
        ref_top, ref_val = _pitch._ranked_by_selection(sal, peaks, k)
        assert val.dtype == ref_val.dtype and np.array_equal(val, ref_val)
        used = ref_val > 0  # unused slots carry no bin
        assert np.array_equal(top[used], ref_top[used])


@pytest.mark.parametrize("seed", [1, 4])
def test_salient_lines_bit_for_bit(seed, monkeypatch):
    from neuromer.audio import _pitch

    y = music(seed, seconds=8.0, density=0.8, dissonance=0.5)
    got = melody.multi_pitch(y, SR, max_lines=4)
    monkeypatch.setattr(_pitch, "_strongest_peaks", _pitch._ranked_by_selection)
    want = melody.multi_pitch(y, SR, max_lines=4)
    assert (np.isfinite(want[1]).sum(axis=0) >= 2).any()  # frames with several lines
    assert all(np.array_equal(g, w, equal_nan=True) for g, w in zip(got, want))


def ref_contrast_bands(mag, freqs, fmin_hz=200.0, n_bands=6, quantile=0.02):
    edges = np.concatenate([[0.0], fmin_hz * 2.0 ** np.arange(n_bands + 1)])
    peak = np.zeros((n_bands + 1, mag.shape[1]))
    valley = np.zeros_like(peak)
    for k in range(n_bands + 1):
        inside = np.flatnonzero((freqs >= edges[k]) & (freqs <= edges[k + 1]))
        lo = inside[0] - 1 if k > 0 else inside[0]
        hi = len(freqs) if k == n_bands else inside[-1] + 1
        n_take = max(1, int(np.rint(quantile * (hi - lo))))
        band = np.sort(mag[np.arange(lo, hi if k == n_bands else hi - 1)], axis=0)
        valley[k] = band[:n_take].mean(axis=0)
        peak[k] = band[-n_take:].mean(axis=0)
    return peak, valley


@pytest.mark.parametrize("n_fft", [2048, 4096])
def test_spectral_shape_bit_for_bit(n_fft):
    from neuromer.audio.features import _contrast_bands, local_frames

    y = music(5, seconds=5.0, percussion=0.9)
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=512))
    freqs = librosa.fft_frequencies(sr=SR, n_fft=n_fft)
    for m in (mag, np.ascontiguousarray(mag)):  # the STFT's Fortran order and C order
        got, want = _contrast_bands(m, freqs), ref_contrast_bands(m, freqs)
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
    v = local_frames(y, SR, n_fft=n_fft)
    total = mag.sum(axis=0) + 1e-10
    centroid = freqs @ mag / total  # as numpy computes the float64 product of the float32 spectrum
    assert np.array_equal(v["centroid_hz"], centroid)
    assert np.array_equal(v["bandwidth_hz"], np.sqrt(np.maximum((freqs ** 2) @ mag / total - centroid ** 2, 0.0)))


@pytest.mark.parametrize("n_windows", [1, 7])
def test_window_stats_frame_as_before(n_windows):
    from neuromer.audio import summary
    from neuromer.audio.features import frame_features

    ff = frame_features(music(6, seconds=5.0), SR)
    names = [k for k in ff.values if k not in summary._NO_STATS]
    mat = np.vstack([ff.values[k] for k in names])
    wins = np.array([(a, a + 1.5) for a in np.linspace(0, 3.5, n_windows)])
    got = summary._stats_of(ff, names, mat, wins)
    # the earlier construction: a dict of columns, name-major
    cols = {c: got[c].to_numpy(copy=True) for c in got.columns}
    want = pd.DataFrame(cols)
    assert list(got.columns) == [f"{n}_{s}" for n in names for s in ("mean", "std", "p10", "p50", "p90", "slope")]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # held as pandas held the dict's columns (one C-ordered block), so later products round alike
    block = got._mgr.blocks[0].values
    assert len(got._mgr.blocks) == 1 and block.flags.c_contiguous
    assert np.allclose(got["rms_db_mean"].to_numpy(), np.nanmean(
        np.where((ff.times[None] >= wins[:, :1]) & (ff.times[None] < wins[:, 1:]), ff.values["rms_db"], np.nan),
        axis=1), rtol=1e-12, atol=0)


def test_strongest_peaks_in_float64_too():
    from neuromer.audio import _pitch

    rng = np.random.default_rng(5)
    sal = np.round(rng.random((300, 50)) * 16) / 16  # float64, with ties
    peaks = np.zeros(sal.shape, bool)
    peaks[:, 1:-1] = (sal[:, 1:-1] > sal[:, :-2]) & (sal[:, 1:-1] >= sal[:, 2:])
    top, val = _pitch._strongest_peaks(sal, peaks, 5)
    ref_top, ref_val = _pitch._ranked_by_selection(sal, peaks, 5)
    assert np.array_equal(val, ref_val) and np.array_equal(top[ref_val > 0], ref_top[ref_val > 0])


def test_median_is_numpys():
    rng = np.random.default_rng(6)
    for n in (1, 2, 3, 4, 5, 10, 11, 64, 257):
        for x in (rng.standard_normal(n) * 5 + 60, np.round(rng.standard_normal(n)), np.full(n, 61.5)):
            got, want = melody._median(x), np.median(x)
            assert type(got) is type(want) and np.array_equal(got, want)
            x32 = x.astype(np.float32)
            assert np.array_equal(melody._median(x32), np.median(x32)) and melody._median(x32).dtype == np.float32
        if n > 1:
            x[n // 3] = np.nan
            assert np.isnan(melody._median(x))
