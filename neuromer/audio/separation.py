"""Voice / accompaniment separation by repeating-structure soft masks (REPET-SIM).

Accompaniment repeats (the same chords and beats come back), a sung or played melody varies. For
each frame of the magnitude spectrogram, the median of its most similar frames (cosine similarity,
at least ``min_gap_s`` apart so a held note is not its own neighbour) estimates the repeating
background; soft masks built from it split the mixture (Rafii & Pardo 2012, "Music/voice
separation using the similarity matrix", ISMIR; Wiener-style masks as in FitzGerald 2012). The
melody features of :mod:`neuromer.audio.melody` can then be computed on the vocal part.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_positive
from .features import HOP_LENGTH, N_FFT


def separate_vocals(y: np.ndarray, sr: int, *, min_gap_s: float = 1.0, margin_vocal: float = 10.0,
                    margin_background: float = 2.0, power: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Split a mono mixture into a vocal/lead part and an accompaniment part.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono signal.
    sr : int
        Sampling rate in Hz.
    min_gap_s : float
        Frames closer than this (seconds) are not used as repetitions of each other; a lead note
        held longer than this would be taken for background (1 s suits sung phrases).
    margin_vocal, margin_background : float
        How much stronger (ratio) a component must be than the other to be kept; larger margins
        give cleaner but quieter parts.
    power : float
        Exponent of the soft masks.

    Returns
    -------
    vocals, accompaniment : ndarray, shape (n_samples,)
        Float32 signals at ``sr`` Hz whose sum approximates ``y`` (exactly when margins are 1).

    Examples
    --------
    >>> vocals, backing = separate_vocals(y, 22050)  # doctest: +SKIP
    """
    import librosa

    check_positive(min_gap_s, "min_gap_s")
    y = np.ascontiguousarray(y, dtype=np.float32)
    n = len(y)
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)
    mag, phase = np.abs(stft), np.exp(1j * np.angle(stft))
    gap = max(1, int(librosa.time_to_frames(min_gap_s, sr=sr, hop_length=HOP_LENGTH)))
    if mag.shape[1] <= 2 * gap:  # too short to find repetitions: everything is "vocal"
        return y.copy(), np.zeros_like(y)
    background = librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=gap)
    background = np.minimum(mag, background)
    foreground = mag - background
    mask_v = librosa.util.softmask(foreground, margin_vocal * background, power=power)
    mask_b = librosa.util.softmask(background, margin_background * foreground, power=power)
    vocals = librosa.istft(mask_v * mag * phase, hop_length=HOP_LENGTH, length=n)
    backing = librosa.istft(mask_b * mag * phase, hop_length=HOP_LENGTH, length=n)
    return vocals.astype(np.float32), backing.astype(np.float32)
