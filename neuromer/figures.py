"""The answer figures of a run's report, one function per figure (layer: report).

Every function takes the run's tables and returns ``(fig, data)``: a matplotlib Figure and a
DataFrame of exactly the numbers it plots. The HTML report embeds the figure; ``RUN/figures/``
gets it as SVG, 300-dpi PNG and ``data`` as CSV (:func:`save_figure`), so a figure in a paper and
the report never disagree. The statistics come from :mod:`neuromer.compare` and the evaluation
files; nothing here computes a new statistic except means and intervals of what it draws.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from .compare import DIMENSIONS, PAIRS, headline_agreement  # noqa: E402
from .errors import NeuromerError  # noqa: E402
from .io._atomic import atomic_path  # noqa: E402

#: Display names of the sources and pairs.
SOURCE_LABEL = {"audio": "audio", "eeg": "EEG", "self": "self-report"}
PAIR_LABEL = {f"{a}-{b}": f"{SOURCE_LABEL[a]} vs {SOURCE_LABEL[b]}" for a, b in PAIRS}
_STAT_LABEL = {"pearson": "Pearson r", "accuracy": "accuracy (same quadrant)"}
_COLORS = {"audio": "tab:orange", "eeg": "tab:green", "self": "tab:blue"}


def save_figure(fig, data: pd.DataFrame | None, folder: str | os.PathLike, name: str, *,
                dpi: int = 300) -> list[Path]:
    """Write ``<name>.svg``, ``<name>.png`` (``dpi``) and ``<name>.csv`` (``data``) into ``folder``.

    Returns the paths written. Files of the same name are replaced (the folder belongs to the run).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("svg", "png"):
        path = folder / f"{name}.{ext}"
        with atomic_path(path, overwrite=True) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        out.append(path)
    if data is not None:
        path = folder / f"{name}.csv"
        with atomic_path(path, overwrite=True) as tmp:
            data.to_csv(tmp, index=False)
        out.append(path)
    return out


def tick_label_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of visible tick labels (same axis) whose rendered boxes overlap.

    Uses the renderer's text extents, so rotation and font size count. Empty = readable.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]):
                        bad.append((labels[i].get_text(), labels[j].get_text()))
    return bad


def _pairs_dims(head: pd.DataFrame):
    pairs = [p for p in PAIR_LABEL if p in set(head.pair)]
    dims = [d for d in DIMENSIONS if d in set(head.dimension)]
    return pairs, dims


# --------------------------------------------------------------------------------- comparison
def forest_plot(comparison: pd.DataFrame):
    """Pooled agreement of each pair of sources per dimension, with 95 % CI, chance and p.

    Parameters
    ----------
    comparison : DataFrame
        :func:`neuromer.compare.compare_trials`' table (``group/comparison.csv``).

    Returns
    -------
    fig, data
        ``data``: the pooled rows of :func:`neuromer.compare.headline_agreement`.
    """
    head = headline_agreement(comparison)
    data = head[head.subject == "all"].reset_index(drop=True)
    if data.empty:
        raise NeuromerError("The comparison table has no pooled ('all') rows to plot.")
    pairs, dims = _pairs_dims(data)
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims), 0.55 * len(pairs) + 1.5),
                             sharey=True, squeeze=False)
    for ax, dim in zip(axes[0], dims):
        d = data[data.dimension == dim].set_index("pair").reindex(pairs)
        y = np.arange(len(pairs))[::-1]
        err = np.vstack([d.value - d.ci_low, d.ci_high - d.value])
        ax.errorbar(d.value, y, xerr=np.where(np.isnan(err), 0, err), fmt="o", color="k", capsize=3,
                    label="estimate, 95 % CI")
        ax.scatter(d.chance, y, marker="|", s=200, color="tab:red", zorder=3, label="chance")
        for yi, (_, r) in zip(y, d.iterrows()):
            ax.annotate(f"p={r.p:.2g}", (1.0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=8)
        stat = d.statistic.dropna().iloc[0] if d.statistic.notna().any() else "pearson"
        ax.set_xlim((-1, 1) if stat == "pearson" else (0, 1))
        ax.axvline(0 if stat == "pearson" else 0.5, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel(_STAT_LABEL[stat])
        ax.set_title(dim)
        ax.set_ylim(-0.6, len(pairs) - 0.4)
    axes[0, 0].set_yticks(np.arange(len(pairs))[::-1], [PAIR_LABEL[p] for p in pairs])
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=2, frameon=False)
    n = int(data.n.max())
    fig.suptitle(f"Agreement between sources, pooled over subjects ({n} trials; CI resamples subjects)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig, data


def subject_heatmap(comparison: pd.DataFrame):
    """Per-subject agreement (rows subjects, columns pairs) per dimension, values written in cells.

    Returns
    -------
    fig, data
        ``data``: the per-subject rows of :func:`neuromer.compare.headline_agreement`.
    """
    head = headline_agreement(comparison)
    data = head[head.subject != "all"].reset_index(drop=True)
    if data.empty:
        raise NeuromerError("The comparison table has no per-subject rows to plot.")
    pairs, dims = _pairs_dims(data)
    subjects = list(pd.unique(data.subject))
    fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims), 0.35 * len(subjects) + 1.9),
                             squeeze=False)
    for ax, dim in zip(axes[0], dims):
        mat = data[data.dimension == dim].pivot(index="subject", columns="pair", values="value") \
            .reindex(index=subjects, columns=pairs)
        r = dim != "quadrant"
        im = ax.imshow(mat.to_numpy(float), aspect="auto", cmap="RdBu_r" if r else "Blues",
                       vmin=-1 if r else 0, vmax=1)
        for (i, j), v in np.ndenumerate(mat.to_numpy(float)):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if abs(v) > 0.7 else "k")
        ax.set_xticks(range(len(pairs)), [PAIR_LABEL[p].replace(" vs ", "\nvs ") for p in pairs], fontsize=7)
        ax.set_yticks(range(len(subjects)), [f"sub-{s}" for s in subjects],
                      fontsize=7 if len(subjects) <= 30 else 5)
        ax.set_title(f"{dim}: {'r' if r else 'accuracy'}", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig, data


def stimulus_panel(trials: pd.DataFrame, consistency: pd.DataFrame | None = None):
    """Per stimulus: audio-predicted, EEG-decoded and self-reported valence and arousal.

    Mean +- SD over subjects on the 1-9 scale (EEG probabilities of "high" shown as 1 + 8 P),
    and, when ``consistency`` (:func:`neuromer.compare.stimulus_consistency`) is given, the share
    of listener pairs reporting the same quadrant.

    Returns
    -------
    fig, data
        ``data``: one row per (stimulus, dimension, source) with ``mean, sd, n``, plus
        ``agreement_quadrant`` rows (source ``listeners``) when available.
    """
    rows = []
    for dim in ("valence", "arousal"):
        for src in ("audio", "eeg", "self"):
            col = f"{src}_{dim}"
            if col not in trials:
                continue
            v = pd.to_numeric(trials[col], errors="coerce")
            if src == "eeg":
                v = 1 + 8 * v
            g = v.groupby(trials["stimulus_id"].astype(str))
            rows.append(pd.DataFrame({"stimulus_id": g.mean().index, "dimension": dim, "source": src,
                                      "mean": g.mean().to_numpy(), "sd": g.std(ddof=1).to_numpy(),
                                      "n": g.count().to_numpy()}))
    if not rows:
        raise NeuromerError("The trial table has no audio, EEG or self-report columns to plot.")
    data = pd.concat(rows, ignore_index=True)
    stims = sorted(data.stimulus_id.unique())
    has_cons = consistency is not None and "agreement_quadrant" in consistency
    n_panels = 3 if has_cons else 2
    fig, axes = plt.subplots(n_panels, 1, figsize=(max(7.0, 0.45 * len(stims) + 2), 2.0 * n_panels + 0.6),
                             sharex=True, gridspec_kw={"height_ratios": [3, 3, 1.6][:n_panels]})
    x = np.arange(len(stims))
    for ax, dim in zip(axes, ("valence", "arousal")):
        for k, src in enumerate(("audio", "eeg", "self")):
            d = data[(data.dimension == dim) & (data.source == src)].set_index("stimulus_id").reindex(stims)
            if d["mean"].isna().all():
                continue
            ax.errorbar(x + (k - 1) * 0.22, d["mean"], yerr=d["sd"].fillna(0), fmt="o", ms=4, capsize=2,
                        color=_COLORS[src], label={"eeg": "EEG decoded (1 + 8 P)"}.get(src, SOURCE_LABEL[src]))
        ax.axhline(5, color="0.8", lw=0.8, zorder=0)
        ax.set(ylim=(0.5, 9.5), ylabel=dim)
    axes[0].legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, 1.25), frameon=False)
    if has_cons:
        c = consistency.assign(stimulus_id=consistency.stimulus_id.astype(str)).set_index("stimulus_id") \
            .reindex(stims)
        axes[2].bar(x, c["agreement_quadrant"], color="0.55")
        axes[2].set(ylim=(0, 1), ylabel="listeners\nagree")
        cons = pd.DataFrame({"stimulus_id": stims, "dimension": "quadrant", "source": "listeners",
                             "mean": c["agreement_quadrant"].to_numpy(float), "sd": np.nan,
                             "n": c["n_listeners"].to_numpy() if "n_listeners" in c else np.nan})
        data = pd.concat([data, cons], ignore_index=True)
    rot = 0 if len(stims) <= 10 else 90
    axes[-1].set_xticks(x, stims, rotation=rot, fontsize=8 if len(stims) <= 30 else 6)
    axes[-1].set_xlabel("stimulus (mean +- SD over subjects)")
    fig.tight_layout()
    return fig, data


# --------------------------------------------------------------------------------- decoding
def decoding_bars(metrics: pd.DataFrame, eval_dir: str | os.PathLike | None = None, *,
                  level: str = "trial"):
    """Grouped bars of decoding scores (target x feature set) against the permutation chance band.

    Parameters
    ----------
    metrics : DataFrame
        ``group/metrics.csv``.
    eval_dir : path | None
        ``group/eval``: per-subject scores (error bars: SD across subjects) and the permutation
        null (chance band: its 2.5-97.5 percentiles) come from ``<target>__<features>/``.
    level : str
        ``"trial"`` or ``"window"`` rows of ``metrics``.

    Returns
    -------
    fig, data
        One row per bar: ``target, features, metric, score, sd_subjects, n_subjects, chance,
        null_low, null_high, p_value``.
    """
    m = metrics
    if "level" in m:
        m = m[m.level == level]
    m = m.dropna(subset=["score"]).reset_index(drop=True)
    if m.empty:
        raise NeuromerError(f"metrics.csv has no {level}-level scores to plot.")
    rows = []
    for _, r in m.iterrows():
        row = {"target": r.target, "features": r.features, "metric": r.get("metric", "score"),
               "score": float(r.score), "sd_subjects": np.nan, "n_subjects": 0,
               "chance": float(r.get("chance", np.nan)), "null_low": np.nan, "null_high": np.nan,
               "p_value": float(r.get("p_value", np.nan))}
        folder = Path(eval_dir) / f"{r.target}__{r.features}" if eval_dir is not None else None
        if folder is not None and (folder / "metrics.parquet").is_file():
            per = pd.read_parquet(folder / "metrics.parquet")
            per = per[(per.scope == "subject") & (per.level == level)]
            if row["metric"] in per and len(per) >= 2:
                row["sd_subjects"] = float(per[row["metric"]].std(ddof=1))
                row["n_subjects"] = len(per)
        if folder is not None and (folder / "null.parquet").is_file():
            null = pd.read_parquet(folder / "null.parquet")
            null = null[null.level == level] if "level" in null else null
            if row["metric"] in null and len(null):
                row["null_low"], row["null_high"] = np.nanpercentile(null[row["metric"]], [2.5, 97.5])
        rows.append(row)
    data = pd.DataFrame(rows)
    targets = list(pd.unique(data.target))
    fsets = list(pd.unique(data.features))
    width = 0.8 / len(fsets)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(targets) * len(fsets) ** 0.5 + 2.5), 3.6))
    cmap = plt.get_cmap("tab10")
    for k, fs in enumerate(fsets):
        d = data[data.features == fs].set_index("target").reindex(targets)
        x = np.arange(len(targets)) - 0.4 + width * (k + 0.5)
        ax.bar(x, d.score, width * 0.9, yerr=d.sd_subjects, capsize=2, color=cmap(k), label=fs,
               error_kw={"lw": 0.8})
        for xi, (_, r) in zip(x, d.iterrows()):
            if not np.isnan(r.null_low):
                ax.fill_between([xi - width * 0.45, xi + width * 0.45], r.null_low, r.null_high,
                                color="k", alpha=0.18, lw=0, zorder=3)
            ax.plot([xi - width * 0.45, xi + width * 0.45], [r.chance] * 2, color="k", lw=1, zorder=4)
    ax.fill_between([], [], [], color="k", alpha=0.18, lw=0, label="chance (permutation 95 %)")
    ax.set_xticks(np.arange(len(targets)), targets)
    ax.set_ylim(0, max(1.05, float(np.nanmax(data.score + data.sd_subjects.fillna(0))) + 0.03))
    ax.set_ylabel(f"{data.metric.iloc[0]} ({level} level)")
    ax.legend(fontsize=7, title="features", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Decoding: score per target and feature set (bars: SD across subjects)", fontsize=9)
    fig.tight_layout()
    return fig, data


def leakage_bars(leakage: pd.DataFrame):
    """Paired bars: the same model scored with trial-wise CV and with a leaky window-level split.

    Returns
    -------
    fig, data
        Long table ``cv, metric, score``.
    """
    if "cv" not in leakage:
        raise NeuromerError("leakage.csv has no 'cv' column.")
    metrics = [c for c in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc") if c in leakage]
    data = leakage.melt(id_vars="cv", value_vars=metrics, var_name="metric", value_name="score")
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    x = np.arange(len(metrics))
    for k, (cv, color) in enumerate((("trial", "tab:blue"), ("window", "tab:red"))):
        d = data[data.cv == cv].set_index("metric").reindex(metrics)
        label = "trial-wise CV (honest)" if cv == "trial" else "random window split (leaky)"
        ax.bar(x + (k - 0.5) * 0.38, d.score, 0.36, color=color, label=label)
    ax.set_xticks(x, [m.replace("_", " ") for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Leakage check: the gap is what a leaky split would overstate", fontsize=9)
    fig.tight_layout()
    return fig, data


# --------------------------------------------------------------------------------- time courses
def lag_summary(curves: pd.DataFrame):
    """Agreement of two curves against lag across trials: mean r with 95 % CI, best lag marked.

    Parameters
    ----------
    curves : DataFrame
        ``subject, trial, lag_s, r`` (``time_course_agreement(...).attrs["trial_curves"]``).

    Returns
    -------
    fig, data
        ``lag_s, r_mean, ci_low, ci_high, n_trials``: mean of Fisher z across trials, back to r,
        with a t interval on z.
    """
    rows = []
    for lag, d in curves.groupby("lag_s"):
        z = np.arctanh(np.clip(d["r"].dropna().to_numpy(float), -0.999999, 0.999999))
        n = len(z)
        mean = float(np.tanh(z.mean())) if n else np.nan
        lo = hi = np.nan
        if n >= 2:
            h = stats.t.ppf(0.975, n - 1) * z.std(ddof=1) / np.sqrt(n)
            lo, hi = float(np.tanh(z.mean() - h)), float(np.tanh(z.mean() + h))
        rows.append({"lag_s": float(lag), "r_mean": mean, "ci_low": lo, "ci_high": hi, "n_trials": n})
    data = pd.DataFrame(rows)
    if data.empty or data.r_mean.isna().all():
        raise NeuromerError("No trial has enough windows for a lagged correlation.")
    best = data.loc[data.r_mean.idxmax()]
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.fill_between(data.lag_s, data.ci_low, data.ci_high, color="tab:green", alpha=0.25, lw=0,
                    label="95 % CI across trials")
    ax.plot(data.lag_s, data.r_mean, color="tab:green", label="mean r")
    ax.axvline(best.lag_s, color="k", ls="--", lw=0.8)
    # written in a corner: a best lag at the edge of the range would push a label out of the axes
    ax.text(0.01, 0.97, f"best lag {best.lag_s:+.1f} s (r = {best.r_mean:.2f}, dashed)", transform=ax.transAxes,
            va="top", fontsize=8)
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.set(xlabel="lag of EEG after audio (s)", ylabel="within-trial r")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Audio-predicted vs EEG-decoded arousal over time ({int(data.n_trials.max())} trials)",
                 fontsize=9)
    fig.tight_layout()
    return fig, data
