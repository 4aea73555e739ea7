"""The "Neural tracking (TRF)" section of the run report, built from ``group/trf_*`` files."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ._logging import logger

SECTION = "Neural tracking (TRF)"


def _figures(run_dir: Path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne

    from .trf import gfp_peaks

    group = run_dir / "group"
    items: list = []
    w_path, s_path, t_path = (group / f"trf_{k}.parquet" for k in ("weights", "scores", "trials"))
    if not s_path.is_file():
        return [("not available", "<p>No TRF outputs (group/trf_scores.parquet); set <code>[trf] enabled = "
                                  "true</code> in the run config.</p>")]
    scores = pd.read_parquet(s_path)
    weights = pd.read_parquet(w_path) if w_path.is_file() else pd.DataFrame()
    trials = pd.read_parquet(t_path) if t_path.is_file() else pd.DataFrame()

    fw = weights[weights.model == "forward"] if len(weights) else weights
    if len(fw):
        feats = list(dict.fromkeys(fw.feature))
        fig, axes = plt.subplots(2, len(feats), figsize=(3.2 * len(feats), 5), squeeze=False, sharex=True)
        for j, f in enumerate(feats):
            m = fw[fw.feature == f].groupby(["channel", "lag_s"]).weight.mean().unstack("lag_s")
            lags = m.columns.to_numpy(float)
            axes[0, j].plot(lags * 1e3, m.to_numpy().T, lw=0.6, color="0.4")
            axes[0, j].axvline(0, color="k", lw=0.5)
            axes[0, j].set(title=f, ylabel="weight (SD/SD)" if j == 0 else "")
            gfp = m.to_numpy().std(axis=0)
            axes[1, j].plot(lags * 1e3, gfp, color="C3")
            # the largest GFP peak, interpolated between lags as the tables' latencies are (trf.gfp_peaks)
            peak = gfp_peaks(m.to_numpy(), lags, [(lags[0], lags[-1])]).iloc[0]
            if np.isfinite(peak.latency_s):
                axes[1, j].annotate(f"{peak.latency_s * 1e3:.0f} ms", (peak.latency_s * 1e3, peak.gfp), fontsize=8)
            axes[1, j].set(xlabel="lag (ms)", ylabel="GFP" if j == 0 else "")
        fig.suptitle("Forward TRF (mean over subjects): channels and global field power")
        fig.tight_layout()
        data = fw.groupby(["feature", "channel", "lag_s"]).weight.mean().reset_index()
        items.append(("TRF waveforms", fig, data, "trf_waveforms"))

    fr = scores[(scores.model == "forward") & (scores.feature_set == "full") & (scores.channel != "all")]
    if len(fr):
        per_ch = fr.groupby("channel").r.mean()
        info = mne.create_info(list(per_ch.index), 128.0, "eeg")
        try:
            from .session import _standard_montage  # the 10-20 template under the name this MNE uses

            info.set_montage(_standard_montage(), on_missing="ignore", match_case=False)
            fig, ax = plt.subplots(figsize=(4, 3.6))
            im, _ = mne.viz.plot_topomap(per_ch.to_numpy(), info, axes=ax, show=False, cmap="Reds")
            fig.colorbar(im, ax=ax, label="prediction r")
            ax.set_title("Forward model: held-out prediction r")
            items.append(("topomap of prediction r", fig, per_ch.rename("r").reset_index(), "trf_prediction_r_topomap"))
        except (RuntimeError, ValueError) as exc:  # channels without positions
            logger.info("TRF topomap skipped: %s", exc)

    bw = scores[(scores.model == "backward")]
    fa = scores[(scores.model == "forward") & (scores.feature_set == "full") & (scores.channel == "all")]
    if len(bw) or len(fa):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for ax, d, title in ((axes[0], fa, "forward (mean over channels)"), (axes[1], bw, "backward (envelope)")):
            x = np.arange(len(d))
            ax.bar(x, d.r, color="C0", label="r")
            ax.scatter(x, d.null_mean, color="k", marker="_", s=200, label="null mean")
            for xi, (r, p) in enumerate(zip(d.r, d.p)):
                ax.annotate(f"p={p:.3g}", (xi, r), ha="center", va="bottom", fontsize=7)
            ax.set_xticks(x, d.subject.astype(str), rotation=90)
            ax.set(title=title, xlabel="subject", ylabel="held-out r")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        data = pd.concat([fa, bw])[["subject", "model", "feature_set", "r", "null_mean", "p"]]
        items.append(("prediction and reconstruction r per subject vs null", fig, data, "trf_r_per_subject"))

    if "onset_offset_s" in trials and trials.onset_offset_s.notna().any():
        off = trials.onset_offset_s.dropna() * 1e3
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(off, bins=20, color="C2")
        ax.axvline(off.mean(), color="k", lw=1)
        ax.set(xlabel="sound onset - marker (ms)", ylabel="trials",
               title=f"Onset offsets: mean {off.mean():.1f} ms, SD {off.std():.1f} ms (n={len(off)})")
        fig.tight_layout()
        cols = [c for c in ("subject", "trial", "onset_offset_s", "onset_confidence") if c in trials]
        items.append(("onset-offset histogram", fig, trials.loc[trials.onset_offset_s.notna(), cols], "trf_onset_offsets"))

    summary = scores[scores.channel == "all"].drop(columns=["channel"])
    items.append(("scores", "<p>Held-out r (mean over channels for the forward model), the mean of the "
                            "circular-shift null and its p; <code>melodic_unique</code> is the r gained by adding "
                            "note onsets and pitch to the acoustic features (sign-flip p over trials).</p>"
                  + summary.to_html(index=False, border=0, float_format=lambda v: f"{v:.3g}", na_rep="-")))
    emo = group / "trf_emotion.csv"
    if emo.is_file():
        e = pd.read_csv(emo)
        items.append(("tracking vs emotion", "<p>Per-trial tracking strength against self-report and "
                      "audio-/EEG-predicted emotion (pooled: permutations within subjects; group: per-subject "
                      "Pearson r against 0).</p>"
                      + e.to_html(index=False, border=0, float_format=lambda v: f"{v:.3g}", na_rep="-")))
    return items


def trf_report_section(report, run_dir, *, fig_dir=None) -> None:
    """Add the TRF section to an :class:`mne.Report` (TRF waveforms with GFP, topomap of prediction r,
    r per subject vs null, onset-offset histogram, score and emotion tables). Never raises: a
    failure becomes a note in the section.

    With ``fig_dir``, each figure is also written there (``trf_*.svg``, 300-dpi ``.png`` and the
    ``.csv`` of its numbers), as every report figure is; with ``report=None`` only that is done.
    """
    import matplotlib.pyplot as plt

    from .figures import save_figure

    try:
        items = _figures(Path(run_dir))
    except Exception as exc:  # a broken section must not cost the whole report
        logger.warning("report section %r failed: %s", SECTION, exc)
        items = [("unavailable", f"<p>This section could not be built: {html.escape(str(exc))}</p>")]
    for name, item, *export in items:
        if isinstance(item, str):
            if report is not None:
                report.add_html(item, title=f"{SECTION}: {name}", section=SECTION, tags=("trf",))
            continue
        if fig_dir is not None and export:
            save_figure(item, export[0], fig_dir, export[1])
        if report is not None:
            # the 300-dpi copies are in figures/; a little under the page width keeps the report small
            item.set_dpi(min(80.0, 720 / item.get_figwidth()))
            report.add_figure(item, title=f"{SECTION}: {name}", section=SECTION, tags=("trf",), image_format="webp")
        plt.close(item)
