"""The report's answer figures, their exported copies and the collapsed tables (no browser needed)."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from report_run import make_run, trial_table, window_table

from neuromer import compare, figures
from neuromer.cli import main
from neuromer.report import make_report

#: figure name -> the section function that makes it (the stable file names in RUN/figures/)
ANSWER_FIGURES = ("comparison_forest", "comparison_subjects", "comparison_stimuli", "decoding_scores",
                  "decoding_leakage", "timecourse_lag_summary", "timecourse_examples", "va_plane",
                  "confusion_matrices")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("report"))
    make_report(run)
    return run


def test_forest_plot_numbers_equal_the_comparison_table():
    comp = compare.compare_trials(trial_table(), n_permutations=50, n_boot=300)
    fig, data = figures.forest_plot(comp)
    pooled = comp[comp.subject == "all"]
    assert len(data) == 9  # 3 pairs x 3 dimensions
    for _, row in data.iterrows():
        src = pooled[(pooled.source_a + "-" + pooled.source_b == row.pair) & (pooled.dimension == row.dimension)]
        stat = "accuracy" if row.dimension == "quadrant" else "pearson"
        assert row.statistic == stat
        assert row.value == src[stat].iloc[0] and row.p == src[f"p_{stat}"].iloc[0]
        assert row.ci_low == src[f"ci_low_{stat}"].iloc[0] and row.ci_high == src[f"ci_high_{stat}"].iloc[0]
        assert row.ci_low <= row.value <= row.ci_high  # the CI covers its estimate
    # what is drawn is what is in the table: the points of each panel, top to bottom
    for ax, dim in zip(fig.axes, ("valence", "arousal", "quadrant")):
        drawn = np.asarray(ax.lines[0].get_xdata(), float)
        want = data[data.dimension == dim].set_index("pair").reindex(
            ["audio-eeg", "audio-self", "eeg-self"]).value.to_numpy()
        np.testing.assert_allclose(drawn, want)
    plt.close(fig)


def test_subject_heatmap_cells_are_the_per_subject_values():
    comp = compare.compare_trials(trial_table(), n_permutations=0, n_boot=0)
    fig, data = figures.subject_heatmap(comp)
    arousal = fig.axes[1].images[0].get_array()
    want = data[data.dimension == "arousal"].pivot(index="subject", columns="pair", values="value")
    np.testing.assert_allclose(np.asarray(arousal), want[["audio-eeg", "audio-self", "eeg-self"]].to_numpy())
    plt.close(fig)


def test_lag_summary_finds_the_planted_lag():
    w = window_table(trial_table(n_subjects=2), lag_windows=2)
    tc = compare.time_course_agreement(w, x="audio_pred_arousal", y="eeg_p_arousal", max_lag_s=3.0)
    fig, data = figures.lag_summary(tc.attrs["trial_curves"])
    best = data.loc[data.r_mean.idxmax()]
    assert best.lag_s == pytest.approx(1.0)  # 2 windows x 0.5 s hop
    ok = data.dropna()
    assert (ok.ci_low <= ok.r_mean).all() and (ok.r_mean <= ok.ci_high).all()
    assert best.n_trials == 16
    plt.close(fig)


def test_tick_overlap_check_catches_the_old_strip():
    # the old 'scores vs chance' bars: 16 two-line labels on 8 inches overlap
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(range(16), np.ones(16))
    ax.set_xticks(range(16), [f"valence\neeg+physio{i}" for i in range(16)], fontsize=8)
    assert figures.tick_label_overlaps(fig)
    plt.close(fig)


@pytest.mark.parametrize("n_subjects,n_stimuli", [(4, 8), (12, 30)])
def test_no_tick_labels_overlap_in_any_answer_figure(tmp_path, n_subjects, n_stimuli):
    trials = trial_table(n_subjects, n_stimuli)
    comp = compare.compare_trials(trials, n_permutations=0, n_boot=50)
    tc = compare.time_course_agreement(window_table(trials), x="audio_pred_arousal", y="eeg_p_arousal")
    run = make_run(tmp_path, n_subjects=3, feature_sets=("eeg", "physio", "eeg+physio", "audio", "eeg+audio"))
    g = run / "group"
    made = {"forest": figures.forest_plot(comp), "heatmap": figures.subject_heatmap(comp),
            "stimuli": figures.stimulus_panel(trials, compare.stimulus_consistency(trials)),
            "decoding": figures.decoding_bars(pd.read_csv(g / "metrics.csv"), g / "eval"),
            "leakage": figures.leakage_bars(pd.read_csv(g / "leakage.csv")),
            "lag": figures.lag_summary(tc.attrs["trial_curves"])}
    for name, (fig, _) in made.items():
        assert figures.tick_label_overlaps(fig) == [], name
        plt.close(fig)


def test_decoding_bars_error_bars_and_chance_band(run_dir):
    fig, data = figures.decoding_bars(pd.read_csv(run_dir / "group" / "metrics.csv"), run_dir / "group" / "eval")
    assert len(data) == 8 and data.n_subjects.eq(4).all()
    per = pd.read_parquet(run_dir / "group" / "eval" / "arousal__eeg" / "metrics.parquet")
    row = data[(data.target == "arousal") & (data.features == "eeg")].iloc[0]
    assert row.sd_subjects == pytest.approx(per.balanced_accuracy.std(ddof=1))
    null = pd.read_parquet(run_dir / "group" / "eval" / "arousal__eeg" / "null.parquet").balanced_accuracy
    assert (row.null_low, row.null_high) == pytest.approx(tuple(np.percentile(null, [2.5, 97.5])))
    # two x tick labels (the targets), feature sets in the legend
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["valence", "arousal"]
    plt.close(fig)


def test_figures_folder_has_svg_300dpi_png_and_matching_csv(run_dir):
    from PIL import Image

    folder = run_dir / "figures"
    for name in ANSWER_FIGURES:
        for ext in ("svg", "png", "csv"):
            assert (folder / f"{name}.{ext}").is_file(), f"{name}.{ext}"
        dpi = Image.open(folder / f"{name}.png").info["dpi"]
        assert dpi == pytest.approx((300, 300), abs=0.5)
        assert (folder / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    forest = pd.read_csv(folder / "comparison_forest.csv", dtype={"subject": str})
    _, data = figures.forest_plot(pd.read_csv(run_dir / "group" / "comparison.csv", dtype={"subject": str}))
    pd.testing.assert_frame_equal(forest, data, check_dtype=False)


def test_report_tables_are_collapsed_with_links_and_figures_come_first(run_dir):
    html = (run_dir / "report.html").read_text()
    assert "could not be built" not in html
    assert html.count("<details class='nm-details'>") >= 5
    for name in ("comparison.csv", "metrics.csv", "leakage.csv", "stimulus_consistency.csv"):
        assert f"href='group/{name}'" in html, name
    assert ".nm-table" in html and "overflow-x: auto" in html
    # in the Comparison section the forest plot comes before any table
    comp = html[html.index("Comparison: agreement between sources"):]
    assert comp.index("data:image/webp") < comp.index("<details")
    # self-contained: nothing is loaded from the network (plain <a href> links are not loads)
    assert not re.search(r"src=['\"]https?://|<link[^>]+href=['\"]https?://|url\(['\"]?https?://", html)


def test_figures_only_writes_only_figures(tmp_path, capsys):
    run = make_run(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert main(["report", str(run), "--figures-only"]) == 0
    assert capsys.readouterr().out.strip().endswith("figures")
    assert not (run / "report.html").exists()
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if "figures" not in p.relative_to(run).parts}
    assert after == before
    names = sorted(p.stem for p in (run / "figures").glob("*.png"))
    assert set(ANSWER_FIGURES) <= set(names)
    for stem in names:
        assert (run / "figures" / f"{stem}.csv").is_file() and (run / "figures" / f"{stem}.svg").is_file()


def test_no_figures_flag_writes_only_the_html(tmp_path):
    run = make_run(tmp_path)
    assert main(["report", str(run), "--no-figures"]) == 0
    assert (run / "report.html").is_file() and not (run / "figures").exists()


def test_forest_plot_of_an_older_table_without_cis():
    comp = compare.compare_trials(trial_table(), n_permutations=0, n_boot=0)
    comp = comp.drop(columns=[c for c in comp if c.startswith("ci_")])  # a run from before the CIs
    fig, data = figures.forest_plot(comp)
    assert len(data) == 9 and data.ci_low.isna().all() and data.value.notna().all()
    plt.close(fig)
