"""Emotion perceived from the audio: a transparent default predictor from musical cues.

Default predictor
-----------------
A weighted sum of standardised musical cues, squashed onto the 1-9 SAM scale::

    score = sum_i w_i * clip((x_i - centre_i) / scale_i, -3, 3) / sum_i |w_i|
    value = 5 + 4 * tanh(1.5 * score)

over the cues available (NaN cues are left out and the weights renormalised). The cues and their
signs follow the music-psychology literature; the weights are ordinal (stronger, more consistent
cues weigh more), not fitted:

=========  =========================  ======  ===============  ======  ============================
dimension  cue (column)               weight  centre           scale   source
=========  =========================  ======  ===============  ======  ============================
arousal    tempo_bpm                  +1.0    110 BPM          30      [GL10], [ER13]: tempo is the
                                                                       strongest arousal cue
arousal    rms_db_mean (loudness)     +1.0    -22 dB           6       [GL10], [JL04]
arousal    onset_rate                 +0.8    3 /s             2       [GL10] (note density), [JL04]
arousal    centroid_hz_mean           +0.6    1500 Hz          700     [JL04] (bright timbre), [ER13]
arousal    entropy_mean               +0.4    0.45             0.15    spectral complexity/noisiness,
                                                                       [PMP18]
valence    mode_strength              +1.0    0                0.1     [GL10], [ER13]: major > minor
valence    key_clarity                +0.5    0.6              0.15    [GL10] (tonal clarity/
                                                                       consonance)
valence    rms_db_std (loudness var.) -0.5    4 dB             2       [JL04]: large loudness
                                                                       variability -> fear/anger
=========  =========================  ======  ===============  ======  ============================

[GL10] Gabrielsson & Lindström (2010), "The role of structure in the musical expression of emotions",
Handbook of Music and Emotion. [JL04] Juslin & Laukka (2004), "Expression, perception, and induction
of musical emotions", J. New Music Research 33(3). [ER13] Eerola, Friberg & Bresin (2013),
"Emotional expression in music: contribution, linearity, and additivity of primary musical cues",
Frontiers in Psychology 4:487. [PMP18] Panda, Malheiro & Paiva (2018), IEEE Trans. Affective
Computing.

The quadrant follows Russell's circumplex with the 5 midpoint: Q1 high valence/high arousal, Q2
low/high, Q3 low/low, Q4 high/low.

The trainable models (XGBoost and a linear baseline on clip features, from an annotations CSV)
are in :mod:`neuromer.audio.emotion_model`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: (cue column without the ``audio_`` prefix, weight, centre, scale) per dimension; see the table above.
CUES = {
    "arousal": (("tempo_bpm", 1.0, 110.0, 30.0), ("rms_db_mean", 1.0, -22.0, 6.0),
                ("onset_rate", 0.8, 3.0, 2.0), ("centroid_hz_mean", 0.6, 1500.0, 700.0),
                ("entropy_mean", 0.4, 0.45, 0.15)),
    "valence": (("mode_strength", 1.0, 0.0, 0.1), ("key_clarity", 0.5, 0.6, 0.15),
                ("rms_db_std", -0.5, 4.0, 2.0)),
}
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")


def quadrant(valence, arousal, midpoint: float = 5.0) -> np.ndarray:
    """Russell quadrant labels (``Q1``..``Q4``; empty string where either value is NaN)."""
    v, a = np.asarray(valence, dtype=float), np.asarray(arousal, dtype=float)
    q = np.where(a > midpoint, np.where(v > midpoint, "Q1", "Q2"), np.where(v > midpoint, "Q4", "Q3"))
    return np.where(np.isfinite(v) & np.isfinite(a), q, "")


def _score(table: pd.DataFrame, cues) -> np.ndarray:
    num = np.zeros(len(table))
    den = np.zeros(len(table))
    for name, weight, centre, scale in cues:
        col = f"audio_{name}"
        if col not in table:
            continue
        z = np.clip((table[col].to_numpy(dtype=float) - centre) / scale, -3, 3)
        ok = np.isfinite(z)
        num[ok] += weight * z[ok]
        den[ok] += abs(weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, num / den, np.nan)
    return 5.0 + 4.0 * np.tanh(1.5 * score)


def predict_default(table: pd.DataFrame) -> pd.DataFrame:
    """Default valence/arousal (1-9) and quadrant from a table of ``audio_*`` summaries.

    Parameters
    ----------
    table : DataFrame
        Rows of clip or window summaries (:func:`neuromer.audio.audio_features`).

    Returns
    -------
    DataFrame
        ``audio_pred_valence``, ``audio_pred_arousal`` (1-9, NaN when no cue is available) and
        ``audio_pred_quadrant``, with ``table``'s index.
    """
    val, aro = _score(table, CUES["valence"]), _score(table, CUES["arousal"])
    return pd.DataFrame({"audio_pred_valence": val, "audio_pred_arousal": aro,
                         "audio_pred_quadrant": quadrant(val, aro)}, index=table.index)
