"""The HTML report of a run (``neuromer report RUN_DIR``), built with :class:`mne.Report`.

Everything comes from the run folder's files (``run.json``, ``subjects/*``, ``group/*``), so a
report can be rebuilt without recomputing anything. Figures are embedded in the HTML: the file
opens offline. A section whose inputs are missing says so instead of failing.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mne  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ._logging import logger  # noqa: E402
from .errors import NeuromerError  # noqa: E402
from .io._atomic import atomic_path  # noqa: E402

#: Sections in reading order: the study's answers first, then the checks behind them.
SECTIONS = ("Study summary", "Comparison", "Decoding evaluation", "Time courses", "Valence-arousal plane",
            "Confusion matrices", "Feature importance", "Music (stimuli)", "Signal quality")
BANDS = ("theta", "slow_alpha", "alpha", "beta", "gamma")
_EMBED_WIDTH_PX = 800

#: Tables never widen the page: they scroll inside their own block; collapsed tables stay small.
_CSS = """
.nm-table { max-width: 100%; overflow-x: auto; }
.nm-table table { font-size: 0.8rem; white-space: nowrap; }
details.nm-details { margin: 0.4rem 0 1rem 0; }
details.nm-details > summary { cursor: pointer; color: #0d6efd; }
img { max-width: 100%; height: auto; }
pre, code { white-space: pre-wrap; word-break: break-word; }
"""


@dataclass
class Figure:
    """A report figure with the numbers it plots and a stable file name for ``RUN/figures/``."""

    fig: Any
    data: pd.DataFrame | None
    name: str


def make_report(run_dir: str | os.PathLike, *, out: str | os.PathLike | None = None,
                overwrite: bool = False, figures: bool = True, figures_only: bool = False) -> Path:
    """Write ``report.html`` for a run folder and return its path.

    ``RUN_DIR/report.html`` (the default) is the run's own file and is always rebuilt; another
    ``out`` that exists is refused unless ``overwrite``. With ``figures`` every report figure is
    also written to ``RUN_DIR/figures/`` (``<name>.svg``, 300-dpi ``<name>.png`` and
    ``<name>.csv`` of the plotted numbers); ``figures_only`` writes just those and returns the
    folder.
    """
    run_dir = Path(run_dir)
    if not figures_only and out is not None and not overwrite and Path(out).exists() and \
            Path(out).resolve() != (run_dir / "report.html").resolve():
        raise NeuromerError(f"{out}: file exists; refusing to overwrite it (pass --overwrite).")
    if not (run_dir / "run.json").is_file():
        raise NeuromerError(f"{run_dir}: not a run folder (no run.json).")
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NeuromerError(f"{run_dir / 'run.json'}: not valid JSON ({exc}); rerun `neuromer run` to "
                            "rewrite it.") from None
    if not isinstance(record, dict):
        raise NeuromerError(f"{run_dir / 'run.json'}: expected a JSON object, got {type(record).__name__}.")
    group = run_dir / "group"
    out = Path(out) if (out and not figures_only) else run_dir / "report.html"
    own = out.resolve() == (run_dir / "report.html").resolve()
    links = _Links(run_dir, out.parent)
    fig_dir = run_dir / "figures"
    report = None if figures_only else mne.Report(
        title=f"neuromer report: {record.get('config', {}).get('study', {}).get('name') or run_dir.name}",
        verbose="error")
    if report is not None:
        report.add_custom_css(_CSS)
    for title, builder in zip(SECTIONS, (_summary, _comparison, _evaluation, _time_courses, _va_plane,
                                         _confusion, _importance, _music, _quality)):
        if figures_only and builder is _summary:
            continue
        try:
            items = builder(run_dir, group, record, links)
        except Exception as exc:  # a broken section must not cost the whole report
            logger.warning("report section %r failed: %s", title, exc)
            items = [("unavailable", f"<p>This section could not be built: {html.escape(str(exc))}</p>")]
        for name, item in items:
            if isinstance(item, Figure):
                if figures or figures_only:
                    from .figures import save_figure

                    save_figure(item.fig, item.data, fig_dir, item.name)
                item = item.fig
            if report is None:
                if not isinstance(item, str):
                    plt.close(item)
                continue
            if isinstance(item, str):
                report.add_html(item, title=f"{title}: {name}", section=title, tags=(_tag(title),))
            else:
                # the page column is ~900-1000 px wide at a 1280 px window: more pixels only add megabytes
                # (the 300-dpi copies are in figures/)
                item.set_dpi(min(100.0, _EMBED_WIDTH_PX / item.get_figwidth()))
                report.add_figure(item, title=f"{title}: {name}", section=title, tags=(_tag(title),),
                                  image_format="webp")
                plt.close(item)
    if (group / "trf_scores.parquet").is_file():
        from .trf_report import trf_report_section

        trf_report_section(report, run_dir, fig_dir=fig_dir if (figures or figures_only) else None)
    if report is None:
        logger.info("wrote figures to %s", fig_dir)
        return fig_dir
    with atomic_path(out, overwrite=overwrite or own) as tmp:
        report.save(tmp, open_browser=False, overwrite=True, verbose="error")
    logger.info("wrote %s", out)
    return out


class _Links:
    """Links from the report to files of the run folder, relative to where the report is written."""

    def __init__(self, run_dir: Path, html_dir: Path):
        self.run_dir, self.html_dir = run_dir, html_dir

    def __call__(self, path: Path) -> str:
        rel = os.path.relpath(path.resolve(), self.html_dir.resolve())
        return f"<a href='{html.escape(Path(rel).as_posix(), quote=True)}'>{html.escape(path.name)}</a>"


def _tag(title: str) -> str:
    return re.sub(r"\W+", "-", title.lower()).strip("-")


def _table(df: pd.DataFrame, *, floatfmt: str = "{:.3g}") -> str:
    return "<div class='nm-table'>" + df.to_html(index=False, border=0, classes="table table-sm table-striped",
                                                 na_rep="-", float_format=lambda v: floatfmt.format(v)) + "</div>"


def _details(df: pd.DataFrame, summary: str, link: str = "", note: str = "") -> str:
    """A collapsed table: ``summary`` is the line shown, the table (and a link to its file) inside."""
    where = f" Full table: {link}." if link else ""
    return (f"<details class='nm-details'><summary>{html.escape(summary)} ({len(df)} rows)</summary>"
            f"<p>{note}{where}</p>{_table(df)}</details>")


def _read(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _missing(what: str) -> list:
    return [("not available", f"<p>{html.escape(what)} not found in the run folder.</p>")]


# --------------------------------------------------------------------------- sections
def _summary(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    subs = record.get("subjects", {})
    trials = _read(group / "trials.parquet")
    rows = [("subjects", len(subs)), ("completed", sum(s.get("status") == "done" for s in subs.values())),
            ("failed", len(record.get("failed", []))),
            ("trials analysed", len(trials) if trials is not None else "-"),
            ("stimuli", trials["stimulus_id"].nunique() if trials is not None else "-"),
            ("neuromer", record.get("versions", {}).get("neuromer", "?")),
            ("mne", record.get("versions", {}).get("mne", "?"))]
    out = ["<table class='table table-sm'>" + "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>"
                                                      for k, v in rows) + "</table>"]
    failed = [(k, v.get("error", "")) for k, v in subs.items() if v.get("status") != "done"]
    if failed:
        out.append("<h4>Failed subjects</h4>" + _table(pd.DataFrame(failed, columns=["subject", "error"])))
    dropped = [dict(d, subject=k) for k, v in subs.items() for d in (v.get("dropped") or [])]
    if dropped:
        out.append("<h4>Dropped trials and why</h4>"
                   + _table(pd.DataFrame(dropped)[["subject", "trial", "stimulus_id", "reason"]]))
    else:
        out.append("<p>No trial was dropped.</p>")
    return [("overview", "".join(out))]


def _quality(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    frames = [pd.read_csv(p, dtype={"subject": str}) for p in sorted(run_dir.glob("subjects/sub-*/quality.csv"))]
    if not frames:
        return _missing("Per-subject signal quality (quality.csv)")
    q = pd.concat(frames, ignore_index=True)
    eeg = q[q["type"] == "eeg"]
    fig, ax = plt.subplots(figsize=(10, 0.4 * eeg["subject"].nunique() + 1.5))
    mat = eeg.pivot(index="subject", columns="channel", values="std").reindex(columns=eeg["channel"].unique())
    im = ax.imshow(np.log10(mat.to_numpy() + 1e-12), aspect="auto", cmap="viridis")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(mat.shape[0]), [f"sub-{s}" for s in mat.index], fontsize=8)
    fig.colorbar(im, ax=ax, label="log10 SD (µV)")
    ax.set_title("EEG channel amplitude per subject (flat or noisy channels stand out)")
    fig.tight_layout()
    flagged = q[q["flag"].fillna("") != ""] if "flag" in q else q.iloc[:0]
    text = ("<p>No channel was flagged (flat, NaN or extreme amplitude).</p>" if flagged.empty
            else "<h4>Flagged channels</h4>" + _table(flagged[["subject", "channel", "type", "std", "flag"]]))
    return [("EEG amplitude", Figure(fig, mat.reset_index(), "quality_eeg_amplitude")), ("flags", text)]


def _to_scale(p):
    """Probability of 'high' -> a 1-9 position (for plotting decoded emotion on the SAM plane)."""
    return 1 + 8 * np.asarray(p, float)


def _va_plane(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    t = _read(group / "trials.parquet")
    if t is None:
        return _missing("Per-trial predictions (group/trials.parquet)")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.axhline(5, color="0.7", lw=0.8)
    ax.axvline(5, color="0.7", lw=0.8)
    ax.scatter(t["self_valence"], t["self_arousal"], s=25, c="tab:blue", label="self-report", alpha=0.7)
    if {"audio_valence", "audio_arousal"} <= set(t):
        ax.scatter(t["audio_valence"], t["audio_arousal"], s=30, marker="^", c="tab:orange",
                   label="audio (perceived)", alpha=0.7)
    if {"eeg_valence", "eeg_arousal"} <= set(t):
        ax.scatter(_to_scale(t["eeg_valence"]), _to_scale(t["eeg_arousal"]), s=25, marker="s", c="tab:green",
                   label="EEG decoded (1 + 8 P(high))", alpha=0.7)
    for q, (x, y) in {"Q1": (8.5, 8.7), "Q2": (1.2, 8.7), "Q3": (1.2, 1.2), "Q4": (8.5, 1.2)}.items():
        ax.text(x, y, q, color="0.5")
    ax.set(xlim=(0.8, 9.2), ylim=(0.8, 9.2), xlabel="valence", ylabel="arousal",
           title="Valence-arousal plane, one point per trial and source")
    ax.legend(loc="center", fontsize=8, framealpha=0.9)  # the plane's centre is where points are rarest
    fig.tight_layout()
    cols = [c for c in ("subject", "trial", "stimulus_id", "self_valence", "self_arousal", "audio_valence",
                        "audio_arousal", "eeg_valence", "eeg_arousal") if c in t]
    return [("per trial", Figure(fig, t[cols], "va_plane"))]


def _evaluation(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    from .figures import decoding_bars, leakage_bars

    m = _read(group / "metrics.csv")
    if m is None:
        return _missing("Evaluation metrics (group/metrics.csv)")
    out = []
    if {"score", "chance", "target", "features"} <= set(m):
        fig, data = decoding_bars(m, group / "eval")
        out.append(("scores vs chance", Figure(fig, data, "decoding_scores")))
    note = ("Cross-validated scores; chance is the mean score under label permutations and p the permutation "
            "p-value. Windows of one trial never straddle train and test.")
    shown = m.drop(columns=[c for c in ("estimator", "cv", "n_permutations") if c in m])
    out.append(("table", _details(shown, "Scores, chance and p per target, feature set and level",
                                  links(group / "metrics.csv"), note)))
    leak = _read(group / "leakage.csv")
    if leak is not None and "cv" in leak:
        fig, data = leakage_bars(leak)
        out.append(("leakage", Figure(fig, data, "decoding_leakage")))
        out.append(("leakage table", _details(leak, "Leakage comparison", links(group / "leakage.csv"),
                                              "The same model scored with trial-wise CV and with a window-level "
                                              "random split: the gap is the inflation a leaky split would report.")))
    gs = _read(group / "group_stats.csv")
    if gs is not None:
        out.append(("group level", _details(gs, "Per-subject decoding against chance (t, sign and Wilcoxon tests)",
                                            links(group / "group_stats.csv"))))
    return out


def _confusion(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    t = _read(group / "trials.parquet")
    if t is None or "eeg_arousal" not in t:
        return _missing("EEG-decoded per-trial predictions")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    mid = 5.0
    cells = []
    for ax, dim in zip(axes[:2], ("valence", "arousal")):
        ok = t[[f"self_{dim}", f"eeg_{dim}"]].dropna()
        cm = pd.crosstab(ok[f"self_{dim}"] > mid, ok[f"eeg_{dim}"] > 0.5).reindex(
            index=[False, True], columns=[False, True], fill_value=0)
        _cm_plot(ax, cm.to_numpy(), ["low", "high"], f"{dim}: self-report vs EEG")
        cells.append(_cells(cm, dim, ["low", "high"]))
    if {"self_quadrant", "eeg_quadrant"} <= set(t):
        qs = ["Q1", "Q2", "Q3", "Q4"]
        cm = pd.crosstab(t["self_quadrant"], t["eeg_quadrant"]).reindex(index=qs, columns=qs, fill_value=0)
        _cm_plot(axes[2], cm.to_numpy(), qs, "quadrant: self-report vs EEG")
        cells.append(_cells(cm, "quadrant", qs))
    else:
        axes[2].axis("off")
    fig.tight_layout()
    return [("EEG decoded vs self-report", Figure(fig, pd.concat(cells, ignore_index=True), "confusion_matrices"))]


def _cells(cm: pd.DataFrame, dim: str, labels) -> pd.DataFrame:
    """A confusion matrix as rows ``dimension, self_report, eeg_decoded, n_trials``."""
    return pd.DataFrame([{"dimension": dim, "self_report": labels[i], "eeg_decoded": labels[j], "n_trials": int(v)}
                         for (i, j), v in np.ndenumerate(cm.to_numpy())])


def _cm_plot(ax, cm, labels, title):
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, int(v), ha="center", va="center")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="EEG decoded", ylabel="self-report", title=title)


#: Per-stimulus columns shown in the music section (mean over the stimulus' windows).
_MUSIC_COLUMNS = {"audio_tempo_bpm": "tempo (BPM)", "audio_onset_rate": "onsets/s",
                  "audio_rms_db_mean": "loudness (dB)", "audio_centroid_hz_mean": "brightness (Hz)",
                  "audio_mode_strength": "mode (+major)", "audio_key_clarity": "key clarity",
                  "audio_melody_staccato_ratio": "staccato", "audio_texture_layers_mean": "layers",
                  "audio_pred_valence": "audio valence", "audio_pred_arousal": "audio arousal"}


def _music(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    a = _read(run_dir / "audio" / "audio_features.parquet")
    if a is None or "stimulus_id" not in a:
        return _missing("Stimulus audio features (audio/audio_features.parquet)")
    cols = [c for c in _MUSIC_COLUMNS if c in a]
    per = a.groupby("stimulus_id")[cols].mean().reset_index()
    if {"audio_pred_valence", "audio_pred_arousal"} <= set(per):
        from .audio.emotion import quadrant

        per["audio quadrant"] = quadrant(per.audio_pred_valence, per.audio_pred_arousal)
    table = per.rename(columns=_MUSIC_COLUMNS)
    intro = ("<p>Mean over each stimulus' windows of a few music features and of the default audio-emotion "
             "predictor (1-9; cues and sources in <code>neuromer/audio/emotion.py</code>). Every feature is in "
             "<code>audio/audio_features.parquet</code>.</p>")
    out = [("per stimulus", intro + _details(table, "Music features per stimulus",
                                             links(run_dir / "audio" / "audio_features.parquet")))]
    if "audio_pred_arousal" in a:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharex=True)
        for sid, d in a.sort_values("t_start").groupby("stimulus_id"):
            for ax, dim in zip(axes, ("arousal", "valence")):
                ax.plot(d.t_start, d[f"audio_pred_{dim}"], lw=1, label=str(sid))
        for ax, dim in zip(axes, ("arousal", "valence")):
            ax.set(ylim=(1, 9), xlabel="time in the stimulus (s)", ylabel=f"audio-predicted {dim}")
        axes[1].legend(fontsize=7, ncol=2, loc="lower right")
        fig.tight_layout()
        cols = ["stimulus_id", "t_start", "audio_pred_arousal"] + (["audio_pred_valence"] if "audio_pred_valence" in a
                                                                   else [])
        # the answer figure first: how the music's emotion moves over each stimulus
        out.insert(0, ("audio-predicted emotion over time",
                       Figure(fig, a[cols].sort_values(["stimulus_id", "t_start"]), "music_emotion_over_time")))
    return out


def _time_courses(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    w = _read(group / "windows.parquet")
    if w is None or "audio_pred_arousal" not in w or "eeg_p_arousal" not in w:
        return _missing("Window-level audio and EEG predictions")
    from .compare import time_course_agreement
    from .figures import lag_summary

    out = []
    tc = time_course_agreement(w, x="audio_pred_arousal", y="eeg_p_arousal", max_lag_s=5.0)
    fig, data = lag_summary(tc.attrs["trial_curves"])
    out.append(("agreement vs lag", Figure(fig, data, "timecourse_lag_summary")))
    keys = w[["subject", "trial"]].drop_duplicates().head(4)
    fig, axes = plt.subplots(len(keys), 1, figsize=(9, 1.6 * len(keys) + 0.6), squeeze=False, sharex=True)
    shown = []
    for ax, (_, k) in zip(axes[:, 0], keys.iterrows()):
        d = w[(w.subject == k.subject) & (w.trial == k.trial)].sort_values("t_start")
        ax.plot(d.t_start, d.audio_pred_arousal, label="audio-predicted arousal (1-9)", color="tab:orange")
        ax.plot(d.t_start, _to_scale(d.eeg_p_arousal), label="EEG-decoded arousal (1 + 8 P)", color="tab:green")
        ax.set(ylim=(1, 9), ylabel=f"sub-{k.subject} t{k.trial}")
        shown.append(d[["subject", "trial", "t_start", "audio_pred_arousal", "eeg_p_arousal"]])
    axes[-1, 0].set_xlabel("time from stimulus onset (s)")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    out.append(("example trials", Figure(fig, pd.concat(shown, ignore_index=True), "timecourse_examples")))
    saved = _read(group / "timecourse.csv")
    table = saved if saved is not None else tc
    out.append(("per trial", _details(table, "Per-trial lag and r (audio vs EEG arousal)",
                                      links(group / "timecourse.csv") if saved is not None else "")))
    return out


def _importance(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    imp = _read(group / "importance.csv")
    if imp is None:
        return _missing("Feature importance (group/importance.csv)")
    from .session import _standard_montage

    montage = _standard_montage()
    out = []
    for target, d in imp.groupby("target"):
        parsed = d["feature"].str.extract(r"^eeg_(" + "|".join(BANDS) + r")_([A-Za-z0-9]+)$")
        d = d.assign(band=parsed[0], channel=parsed[1]).dropna(subset=["band"])
        bands = [b for b in BANDS if b in set(d.band)]
        if not bands:
            continue
        fig, axes = plt.subplots(1, len(bands), figsize=(2.6 * len(bands), 2.8), squeeze=False)
        for ax, band in zip(axes[0], bands):
            b = d[d.band == band]
            info = mne.create_info(list(b.channel), 128.0, "eeg")
            info.set_montage(montage, match_case=False, on_missing="ignore")
            mne.viz.plot_topomap(b["weight"].to_numpy(), info, axes=ax, show=False, cmap="RdBu_r")
            ax.set_title(band)
        fig.suptitle(f"{target}: EEG band-power weights (standardised, positive = higher for 'high')")
        fig.tight_layout()
        out.append((target, Figure(fig, d[["target", "feature", "band", "channel", "weight"]],
                                   f"importance_topomap_{target}")))
    return out or _missing("Band-power feature weights")


def _comparison(run_dir: Path, group: Path, record: dict, links: _Links) -> list:
    from .compare import headline_agreement
    from .figures import forest_plot, stimulus_panel, subject_heatmap

    comp = _read(group / "comparison.csv")
    out = []
    if comp is not None:
        comp["subject"] = comp["subject"].astype(str)
        fig, data = forest_plot(comp)
        out.append(("agreement between sources", Figure(fig, data, "comparison_forest")))
        if (comp.subject != "all").any():
            fig, data = subject_heatmap(comp)
            out.append(("per subject", Figure(fig, data, "comparison_subjects")))
        head = headline_agreement(comp)
        note = ("Audio-perceived vs EEG-decoded vs self-reported emotion: Pearson r for valence and arousal, "
                "accuracy for quadrant; 95 % bootstrap CI (over trials; over whole subjects for 'all'), chance "
                "and one-sided permutation p. Kappa, Spearman and CCC are in the full table.")
        out.append(("table", _details(head, "Agreement per subject, pair and dimension",
                                      links(group / "comparison.csv"), note)))
    trials = _read(group / "trials.parquet")
    cons = _read(group / "stimulus_consistency.csv")
    if trials is not None and "stimulus_id" in trials:
        fig, data = stimulus_panel(trials, cons)
        out.append(("per stimulus", Figure(fig, data, "comparison_stimuli")))
    if cons is not None:
        out.append(("stimulus consistency", _details(cons, "Per stimulus: listeners vs audio and each other",
                                                     links(group / "stimulus_consistency.csv"))))
    return out or _missing("Comparison tables")
