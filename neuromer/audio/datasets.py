"""Music-emotion-recognition (MER) datasets as researchers download them, as one tidy table.

Every reader returns a :class:`pandas.DataFrame` with one row per clip (static labels) or one row
per (clip, time) (dynamic labels, long form):

============== ================================================================================
column         meaning
============== ================================================================================
``audio_path`` absolute path of the clip (str); every clip is checked to exist
``song_id``    the dataset's id of the clip (str)
``artist``     performer (str; NaN where the dataset does not say)
``title``      song title (str; NaN where unknown)
``quadrant``   Russell quadrant ``Q1``..``Q4`` (4QAED, or a CSV that has one)
``valence``    valence on the SAM 1-9 scale (midpoint 5; see the scales below)
``arousal``    arousal on the SAM 1-9 scale
``time_s``     dynamic tables only: time of the annotation from the start of the clip (s)
============== ================================================================================

Layouts (each reader searches the folder given and its sub-folders for the files named):

- **4QAED** (Panda, Malheiro & Paiva 2018, IEEE TAFFC): folders ``Q1``..``Q4`` of ``<Song>.mp3``,
  ``panda_dataset_taffc_annotations.csv`` (``Song``, ``Quadrant``) and
  ``panda_dataset_taffc_metadata.csv`` (``Song``, ``Artist``, ``Title``, ``Quadrant``, ...).
- **DEAM** (Aljanaki, Yang & Soleymani 2017, PLoS ONE 12(3)): ``MEMD_audio/<song_id>.mp3``;
  static ``static_annotations_averaged_songs_1_2000.csv`` and ``..._2000_2058.csv`` (``song_id``,
  ``valence_mean``, ``valence_std``, ``arousal_mean``, ``arousal_std``); dynamic ``valence.csv`` and
  ``arousal.csv`` (``song_id`` then ``sample_15000ms``, ``sample_15500ms``, ...: 2 Hz from 15 s);
  optional ``metadata_2013.csv``/``_2014.csv``/``_2015.csv`` for artist and title.
- **PMEmo** (Zhang et al. 2018, ICMR): ``chorus/<musicId>.mp3``, ``static_annotations.csv``
  (``musicId``, ``Arousal(mean)``, ``Valence(mean)``), ``dynamic_annotations.csv`` (``musicId``,
  ``frameTime`` in s, ``Arousal(mean)``, ``Valence(mean)``: 2 Hz from 15 s of the chorus) and an
  optional ``metadata.csv`` (``musicId``, ``fileName``, ``title``, ``artist``, ...).
- **A generic CSV**: an audio path column (``audio``, ``path``, ``file``, ``filename``,
  ``audio_path`` or ``song``; relative to the CSV), ``valence`` + ``arousal`` and/or ``quadrant``
  (``Q1``-``Q4`` or 1-4), optional ``artist``, ``title``, ``song_id`` (default: the file name
  without extension) and, for dynamic annotations, ``time_s``.

Scales
------
neuromer reads valence and arousal on the SAM 1-9 scale with its midpoint 5 (as the quadrant rule
:func:`neuromer.audio.emotion.quadrant` does). The readers map each dataset's scale linearly onto
1-9, so that the scale's ends and midpoint map onto 1, 9 and 5:

- DEAM static (already 1-9): unchanged; the rater ``valence_std``/``arousal_std`` are kept.
- DEAM dynamic ([-1, 1]): ``5 + 4 x``.
- PMEmo static and dynamic ([0, 1]): ``1 + 8 x``.
- a generic CSV: taken as given (no conversion).

A value outside its dataset's range (beyond a 1 % tolerance) is an error: it means the file is
not the layout named. The dynamic and static scales of one dataset come from different rating
procedures; the linear maps make them comparable in range, not calibrated against each other.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_option
from .._logging import logger
from ..errors import DataFormatError
from .emotion import QUADRANTS

#: Dataset layouts the readers understand (``auto`` picks one from the files present).
FORMATS = ("4qaed", "deam", "pmemo", "csv")
#: Accepted names (case-insensitive) of the audio path column of a generic CSV, in order of preference.
PATH_COLUMNS = ("audio_path", "audio", "path", "file", "filename", "song")
_KEYS = ("audio_path", "song_id", "artist", "title")
_4QAED_ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
_4QAED_METADATA = "panda_dataset_taffc_metadata.csv"
_DEAM_STATIC = ("static_annotations_averaged_songs_1_2000.csv", "static_annotations_averaged_songs_2000_2058.csv")
_DEAM_METADATA = ("metadata_2013.csv", "metadata_2014.csv", "metadata_2015.csv")
_TOLERANCE = 0.01  # share of a scale's range a value may overshoot (rounding in the published files)


# ----------------------------------------------------------------------------- helpers
def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV with stripped column names, or a one-line error naming the file."""
    try:
        table = pd.read_csv(path, skipinitialspace=True, **kwargs)
    except Exception as exc:
        raise DataFormatError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc}).") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _column(table: pd.DataFrame, path: Path, *names: str, required: bool = True) -> str | None:
    """The first column of ``table`` matching one of ``names`` case-insensitively."""
    lower = {c.lower(): c for c in table.columns}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    if required:
        raise DataFormatError(f"{path}: no column {names[0]!r}" +
                              (f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else "") +
                              f"; columns are {list(table.columns)}.")
    return None


def _find(root: Path, name: str, what: str, *, folder: bool = False, required: bool = True) -> Path | None:
    """``root/name`` or the shallowest match below ``root``."""
    direct = root / name
    if (direct.is_dir() if folder else direct.is_file()):
        return direct
    hits = [p for p in root.rglob(name) if (p.is_dir() if folder else p.is_file())]
    if hits:
        return min(hits, key=lambda p: (len(p.parts), str(p)))
    if required:
        raise DataFormatError(f"{root}: no {name} {'folder' if folder else 'file'} found in it or below "
                              f"it (the {what} layout needs one).")
    return None


def _numeric(values: pd.Series, path: Path, column: str, lo: float, hi: float) -> np.ndarray:
    """Numbers within [lo, hi] (plus the tolerance), or an error naming the row."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path}: row {k + 2} has a missing or non-numeric {column} "
                              f"({values.iloc[k]!r}).")
    _check_range(x, path, column, lo, hi, rows=np.arange(len(x)) + 2)
    return x


def _check_range(x: np.ndarray, path: Path, column: str, lo: float, hi: float, rows) -> None:
    """Error naming the first value outside [lo, hi] (NaN ignored) and its CSV row."""
    slack = _TOLERANCE * (hi - lo) if np.isfinite(hi - lo) else 0.0
    with np.errstate(invalid="ignore"):
        out = (x < lo - slack) | (x > hi + slack)
    if out.any():
        k = int(np.argmax(out))
        raise DataFormatError(f"{path}: row {rows[k]} has {column} {x[k]:g}; this layout's values lie "
                              f"in [{lo:g}, {hi:g}].")


def _quadrants(values: pd.Series, path: Path, column: str) -> np.ndarray:
    raw = values.astype(str).str.strip().str.upper()
    q = raw.where(raw.str.startswith("Q"), "Q" + raw)
    bad = ~q.isin(QUADRANTS).to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path}: row {k + 2} has {column} {values.iloc[k]!r}; "
                              "expected Q1-Q4 or 1-4.")
    return q.to_numpy(dtype=object)


def _text(values) -> pd.Series:
    """Strings stripped of blanks and tabs (the DEAM metadata has both); empty -> NaN."""
    s = pd.Series(values, dtype=object).map(lambda v: v.strip() if isinstance(v, str) else v)
    return s.mask(s.isna() | (s == ""), np.nan)


def _ids(values) -> pd.Series:
    """Song ids as strings; whole numbers stored as floats (``12.0``) become ``"12"``."""
    def one(v):
        if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()
    return pd.Series(values, dtype=object).map(one)


def _check_clips(files, ids, source: Path) -> list[str]:
    files = [Path(f).resolve() for f in files]
    missing = [(i, f) for i, f in zip(ids, files) if not f.is_file()]
    if missing:
        (i, f), n = missing[0], len(missing)
        raise DataFormatError(f"{source}: clip {i} not found: {f}" +
                              (f" ({n - 1} more clips are missing)." if n > 1 else "."))
    return [str(f) for f in files]


def _tidy(table: pd.DataFrame, labels) -> pd.DataFrame:
    for c in ("artist", "title"):
        if c not in table:
            table[c] = np.nan
    return table[list(_KEYS) + [c for c in labels if c in table]].reset_index(drop=True)


# ----------------------------------------------------------------------------- 4QAED
def read_4qaed(root: str | os.PathLike) -> pd.DataFrame:
    """Read the 4QAED dataset (Panda, Malheiro & Paiva 2018): 900 clips with Russell quadrants.

    Parameters
    ----------
    root : path-like
        The dataset folder (holding ``Q1``..``Q4`` and the two ``panda_dataset_taffc_*.csv``), or
        a folder above it.

    Returns
    -------
    DataFrame
        ``audio_path``, ``song_id``, ``artist``, ``title``, ``quadrant``; one row per annotated clip.
        Without the metadata file, ``artist`` and ``title`` are NaN (a warning says so).

    Notes
    -----
    A clip is looked for in the folder of its quadrant, then in the other ``Q`` folders.
    """
    root = _folder(root, "4QAED")
    ann_path = _find(root, _4QAED_ANNOTATIONS, "4QAED", required=False)
    meta_path = _find(root, _4QAED_METADATA, "4QAED", required=False)
    if ann_path is None and meta_path is None:
        raise DataFormatError(f"{root}: no {_4QAED_ANNOTATIONS} (or {_4QAED_METADATA}) found in it or below it.")
    base = (ann_path or meta_path).parent
    labels_from = ann_path or meta_path
    ann = _read_csv(labels_from, dtype=str)
    song_col, quad_col = _column(ann, labels_from, "Song"), _column(ann, labels_from, "Quadrant")
    table = pd.DataFrame({"song_id": _ids(ann[song_col]), "quadrant": _quadrants(ann[quad_col], labels_from, quad_col)})
    dup = table["song_id"].duplicated()
    if dup.any():
        raise DataFormatError(f"{labels_from}: song {table['song_id'][dup].iloc[0]} is listed twice.")
    if meta_path is not None:
        meta = _read_csv(meta_path, dtype=str)
        m_song = _column(meta, meta_path, "Song")
        info = pd.DataFrame({"song_id": _ids(meta[m_song]),
                             "artist": _text(meta[_column(meta, meta_path, "Artist")]),
                             "title": _text(meta[_column(meta, meta_path, "Title")])}).drop_duplicates("song_id")
        table = table.merge(info, on="song_id", how="left")
        unknown = table["artist"].isna() & ~table["song_id"].isin(info["song_id"])
        if unknown.any():
            logger.warning("%s: %d annotated song(s) have no metadata row (e.g. %s): artist unknown.",
                           meta_path, int(unknown.sum()), table["song_id"][unknown].iloc[0])
    else:
        logger.warning("%s: no %s beside it: artist and title unknown (no artist-grouped folds).",
                       ann_path, _4QAED_METADATA)
    files = []
    for sid, q in zip(table["song_id"], table["quadrant"]):
        candidates = [base / q / f"{sid}.mp3"] + [base / o / f"{sid}.mp3" for o in QUADRANTS if o != q]
        files.append(next((c for c in candidates if c.is_file()), candidates[0]))
    table["audio_path"] = _check_clips(files, table["song_id"], labels_from)
    return _tidy(table, ["quadrant"])


# ----------------------------------------------------------------------------- DEAM
def _deam_audio(root: Path, audio_dir) -> Path:
    if audio_dir is not None:
        return _folder(audio_dir, "DEAM audio")
    return _find(root, "MEMD_audio", "DEAM", folder=True)


def _deam_metadata(root: Path) -> pd.DataFrame:
    """Artist and title per song id from DEAM's optional metadata files (tab-padded; varied headers)."""
    parts = []
    for name in _DEAM_METADATA:
        path = _find(root, name, "DEAM", required=False)
        if path is None:
            continue
        try:
            meta = _read_csv(path, dtype=str, sep=None, engine="python")
            sid = _column(meta, path, "song_id", "id")
            art = _column(meta, path, "Artist")
            tit = _column(meta, path, "Song title", "title", "Track")
        except DataFormatError as exc:
            logger.warning("DEAM metadata skipped: %s", exc)
            continue
        parts.append(pd.DataFrame({"song_id": _ids(meta[sid]), "artist": _text(meta[art]),
                                   "title": _text(meta[tit])}))
    if not parts:
        logger.warning("%s: no DEAM metadata_20xx.csv found: artist and title unknown.", root)
        return pd.DataFrame(columns=["song_id", "artist", "title"])
    return pd.concat(parts, ignore_index=True).drop_duplicates("song_id")


def read_deam(root: str | os.PathLike, *, dynamic: bool = False,
              audio_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read DEAM (MediaEval Database for Emotional Analysis in Music; Aljanaki et al. 2017).

    Parameters
    ----------
    root : path-like
        Folder holding the unpacked DEAM annotations (and audio, metadata) anywhere below it.
    dynamic : bool
        ``False``: per-song averaged static ratings; ``True``: the 2 Hz per-song averaged curves.
    audio_dir : path-like | None
        The folder of ``<song_id>.mp3`` clips, if it is not a ``MEMD_audio`` folder below ``root``.

    Returns
    -------
    DataFrame
        Static: ``audio_path``, ``song_id``, ``artist``, ``title``, ``valence``, ``arousal`` (1-9, as
        published), ``valence_std``, ``arousal_std``. Dynamic (long form, one row per song and
        annotated time): ``audio_path``, ``song_id``, ``artist``, ``title``, ``time_s``, ``valence``,
        ``arousal`` (mapped from [-1, 1] onto 1-9 as ``5 + 4 x``); samples that are empty in the
        published table (songs shorter than the longest) are left out.
    """
    root = _folder(root, "DEAM")
    if dynamic:
        table = _deam_dynamic(root)
        labels = ["time_s", "valence", "arousal"]
    else:
        paths = [p for p in (_find(root, n, "DEAM", required=False) for n in _DEAM_STATIC) if p is not None]
        if not paths:
            raise DataFormatError(f"{root}: no {_DEAM_STATIC[0]} (or {_DEAM_STATIC[1]}) found in it or below it.")
        parts = []
        for path in paths:
            t = _read_csv(path)
            sid = _column(t, path, "song_id")
            part = pd.DataFrame({"song_id": _ids(t[sid])})
            for dim in ("valence", "arousal"):
                col = _column(t, path, f"{dim}_mean")
                part[dim] = _numeric(t[col], path, col, 1.0, 9.0)
                std = _column(t, path, f"{dim}_std", required=False)
                part[f"{dim}_std"] = pd.to_numeric(t[std], errors="coerce") if std else np.nan
            parts.append(part)
        table = pd.concat(parts, ignore_index=True).drop_duplicates("song_id")
        labels = ["valence", "arousal", "valence_std", "arousal_std"]
    table = table.merge(_deam_metadata(root), on="song_id", how="left")
    audio = _deam_audio(root, audio_dir)
    songs = table.drop_duplicates("song_id")
    paths = dict(zip(songs["song_id"], _check_clips([audio / f"{s}.mp3" for s in songs["song_id"]],
                                                     songs["song_id"], audio)))
    table["audio_path"] = table["song_id"].map(paths)
    return _tidy(table, labels)


_SAMPLE_MS = re.compile(r"^sample_(\d+)ms$", re.IGNORECASE)


def _deam_dynamic(root: Path) -> pd.DataFrame:
    curves = {}
    for dim in ("valence", "arousal"):
        path = _find(root, f"{dim}.csv", "DEAM dynamic")
        t = _read_csv(path)
        sid = _column(t, path, "song_id")
        cols = [c for c in t.columns if _SAMPLE_MS.match(c)]
        if not cols:
            raise DataFormatError(f"{path}: no 'sample_<ms>ms' columns (DEAM's 2 Hz layout: song_id, "
                                  "sample_15000ms, sample_15500ms, ...).")
        wide = t[cols].apply(pd.to_numeric, errors="coerce")
        junk = wide.isna().to_numpy() & t[cols].notna().to_numpy()
        if junk.any():
            r, c = map(int, np.argwhere(junk)[0])
            raise DataFormatError(f"{path}: row {r + 2} has a non-numeric {cols[c]} ({t[cols[c]].iloc[r]!r}).")
        for c in cols:
            _check_range(wide[c].to_numpy(dtype=float), path, c, -1.0, 1.0, rows=np.arange(len(t)) + 2)
        wide.insert(0, "song_id", _ids(t[sid]).to_numpy())
        long = wide.melt(id_vars="song_id", var_name="sample", value_name=dim).dropna(subset=[dim])
        long["time_s"] = long["sample"].map(lambda c: int(_SAMPLE_MS.match(c).group(1)) / 1000.0)
        curves[dim] = long[["song_id", "time_s", dim]]
    table = curves["valence"].merge(curves["arousal"], on=["song_id", "time_s"], how="inner")
    table[["valence", "arousal"]] = 5.0 + 4.0 * table[["valence", "arousal"]]
    return table.sort_values(["song_id", "time_s"], key=_natural).reset_index(drop=True)


def _natural(col: pd.Series) -> pd.Series:
    """Sort key: numeric ids in numeric order (``"2"`` before ``"10"``)."""
    if col.name == "song_id":
        num = pd.to_numeric(col, errors="coerce")
        return num if num.notna().all() else col
    return col


# ----------------------------------------------------------------------------- PMEmo
def read_pmemo(root: str | os.PathLike, *, dynamic: bool = False) -> pd.DataFrame:
    """Read PMEmo (Zhang et al. 2018, "The PMEmo dataset for music emotion recognition", ICMR).

    Parameters
    ----------
    root : path-like
        The ``PMEmo2019`` folder (``annotations/``, ``chorus/``, ``metadata.csv``) or one above it.
    dynamic : bool
        ``False``: the static per-clip means; ``True``: the 2 Hz curves (``dynamic_annotations.csv``).

    Returns
    -------
    DataFrame
        ``audio_path``, ``song_id``, ``artist``, ``title``, (``time_s``,) ``valence``, ``arousal``,
        mapped from [0, 1] onto 1-9 as ``1 + 8 x``.
    """
    root = _folder(root, "PMEmo")
    name = "dynamic_annotations.csv" if dynamic else "static_annotations.csv"
    path = _find(root, name, "PMEmo")
    t = _read_csv(path)
    sid = _column(t, path, "musicId", "music_id", "song_id")
    table = pd.DataFrame({"song_id": _ids(t[sid])})
    if dynamic:
        col = _column(t, path, "frameTime", "time_s")
        table["time_s"] = _numeric(t[col], path, col, 0.0, np.inf)
    for dim in ("valence", "arousal"):
        col = _column(t, path, f"{dim}(mean)", dim)
        table[dim] = 1.0 + 8.0 * _numeric(t[col], path, col, 0.0, 1.0)
    chorus = _find(root, "chorus", "PMEmo", folder=True)
    files = {}
    meta_path = _find(root, "metadata.csv", "PMEmo", required=False)
    if meta_path is not None:
        meta = _read_csv(meta_path, dtype=str)
        m_id = _column(meta, meta_path, "musicId", "music_id", "song_id")
        info = pd.DataFrame({"song_id": _ids(meta[m_id])})
        for c, names in (("artist", ("artist", "artists")), ("title", ("title", "song title"))):
            col = _column(meta, meta_path, *names, required=False)
            info[c] = _text(meta[col]) if col else np.nan
        fcol = _column(meta, meta_path, "fileName", "file_name", required=False)
        if fcol:
            files = {s: chorus / str(f).strip() for s, f in zip(info["song_id"], meta[fcol]) if pd.notna(f)}
        table = table.merge(info.drop_duplicates("song_id"), on="song_id", how="left")
    else:
        logger.warning("%s: no PMEmo metadata.csv found: artist and title unknown.", root)
    songs = table["song_id"].drop_duplicates()
    clips = _check_clips([files.get(s, chorus / f"{s}.mp3") for s in songs], songs, chorus)
    table["audio_path"] = table["song_id"].map(dict(zip(songs, clips)))
    return _tidy(table, ["time_s", "valence", "arousal"] if dynamic else ["valence", "arousal"])


# ----------------------------------------------------------------------------- generic CSV
def read_csv_annotations(path: str | os.PathLike) -> pd.DataFrame:
    """Read a generic annotations CSV (one row per clip, or per clip and time with ``time_s``).

    Parameters
    ----------
    path : path-like
        CSV with an audio path column (see :data:`PATH_COLUMNS`; paths relative to the CSV) and
        ``valence`` + ``arousal`` (taken as given, no conversion) and/or ``quadrant`` (``Q1``-``Q4``
        or 1-4); optional ``artist``, ``title``, ``song_id`` and ``time_s``.

    Returns
    -------
    DataFrame
        ``audio_path``, ``song_id`` (the file name without extension unless given), ``artist``,
        ``title``, then ``time_s`` (if present), ``valence``, ``arousal`` and/or ``quadrant``.
    """
    from .._checks import check_file

    path = check_file(path, "annotations")
    t = _read_csv(path)
    col = _column(t, path, *PATH_COLUMNS, required=False)
    if col is None:
        raise DataFormatError(f"{path}: no audio path column; expected one of {list(PATH_COLUMNS)}, "
                              f"got {list(t.columns)}.")
    empty = t[col].isna().to_numpy()
    if empty.any():
        raise DataFormatError(f"{path}: column {col!r} is empty in row {int(np.argmax(empty)) + 2}.")
    files = [path.parent / str(f).strip() for f in t[col]]
    sid = _column(t, path, "song_id", required=False)
    table = pd.DataFrame({"song_id": _ids(t[sid]) if sid else pd.Series([f.stem for f in files], dtype=object)})
    for c in ("artist", "title"):
        src = _column(t, path, c, required=False)
        table[c] = _text(t[src]) if src else np.nan
    labels = []
    tcol = _column(t, path, "time_s", required=False)
    if tcol:
        table["time_s"] = _numeric(t[tcol], path, tcol, 0.0, np.inf)
        labels.append("time_s")
    has_va = _column(t, path, "valence", required=False) and _column(t, path, "arousal", required=False)
    if has_va:
        for dim in ("valence", "arousal"):
            c = _column(t, path, dim)
            table[dim] = _numeric(t[c], path, c, -np.inf, np.inf)
        labels += ["valence", "arousal"]
    qcol = _column(t, path, "quadrant", required=False)
    if qcol:
        table["quadrant"] = _quadrants(t[qcol], path, qcol)
        labels.append("quadrant")
    if not (has_va or qcol):
        raise DataFormatError(f"{path}: needs 'valence' and 'arousal' columns or a 'quadrant' column; "
                              f"columns are {list(t.columns)}.")
    if tcol and not has_va:
        raise DataFormatError(f"{path}: a 'time_s' column (dynamic annotations) needs 'valence' and 'arousal'.")
    table["audio_path"] = _check_clips(files, table["song_id"], path)
    return _tidy(table, labels)


# ----------------------------------------------------------------------------- dispatch
def _folder(path, what: str) -> Path:
    from .._checks import validate_type

    validate_type(path, (str, os.PathLike), f"{what} folder")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFormatError(f"{p}: folder not found.")
    if not p.is_dir():
        raise DataFormatError(f"{p}: expected the {what} dataset folder, got a file.")
    return p.resolve()


def detect_format(path: str | os.PathLike) -> str:
    """Which layout ``path`` holds: ``"4qaed"``, ``"deam"``, ``"pmemo"`` or ``"csv"``.

    A CSV file is ``csv`` (one of 4QAED's own tables is ``4qaed``); a folder is recognised by the
    annotation files found in it or below it. A folder with none of them is an error naming it.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFormatError(f"{p}: file or folder not found.")
    if p.is_file():
        return "4qaed" if p.name in (_4QAED_ANNOTATIONS, _4QAED_METADATA) else "csv"
    probes = (("4qaed", (_4QAED_ANNOTATIONS, _4QAED_METADATA)),
              ("deam", _DEAM_STATIC + ("MEMD_audio",)),
              ("pmemo", ("static_annotations.csv", "dynamic_annotations.csv")))
    for fmt, names in probes:
        if any(next(p.rglob(n), None) is not None for n in names):
            return fmt
    raise DataFormatError(f"{p}: not a known MER dataset layout (4QAED, DEAM or PMEmo annotation files "
                          "not found in it or below it); pass an annotations CSV or --format.")


def read_mer_dataset(path: str | os.PathLike, *, format: str = "auto", dynamic: bool = False) -> pd.DataFrame:
    """Read a MER dataset or annotations CSV into the tidy table of this module.

    Parameters
    ----------
    path : path-like
        A dataset folder (4QAED, DEAM, PMEmo) or an annotations CSV.
    format : ``"auto"`` | ``"4qaed"`` | ``"deam"`` | ``"pmemo"`` | ``"csv"``
        The layout; ``auto`` detects it (:func:`detect_format`).
    dynamic : bool
        Read the time-varying annotations (DEAM, PMEmo; a CSV with ``time_s``) instead of the static ones.

    Returns
    -------
    DataFrame
        See the module docstring.
    """
    check_option(format, ("auto",) + FORMATS, "format")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "4qaed":
        if dynamic:
            raise DataFormatError(f"{path}: 4QAED has no dynamic (time-varying) annotations.")
        p = Path(path).expanduser()
        return read_4qaed(p.parent if p.is_file() else p)
    if fmt == "deam":
        return read_deam(path, dynamic=dynamic)
    if fmt == "pmemo":
        return read_pmemo(path, dynamic=dynamic)
    table = read_csv_annotations(path)
    if dynamic != ("time_s" in table):
        raise DataFormatError(f"{path}: " + ("dynamic annotations need a 'time_s' column." if dynamic else
                                             "has a 'time_s' column (dynamic annotations); use the dynamic model."))
    return table
