"""Audio vs EEG vs self-report on a simulated study, step by step with the Python API.

Simulates one listener, reads the XDF session, cuts DEAP-style trials, computes the music features
of the stimuli and the EEG window features on one shared window grid, aligns them, and compares
per trial the valence/arousal the audio conveys with frontal alpha asymmetry, beta power and the
listener's ratings; then looks for the lag at which the EEG follows the music's loudness.

    python examples/audio_vs_eeg.py [OUT_DIR]      # default: example_out/
"""

import sys
from pathlib import Path

import neuromer

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example_out")
if not (out / "study" / "protocol.toml").is_file():  # simulated once; reruns reuse it
    neuromer.simulate_study(out / "study", n_subjects=1, n_trials=6, stimulus_s=10.0, seed=1)
XDF, PROTOCOL = out / "study" / "xdf" / "sub-01.xdf", out / "study" / "protocol.toml"
protocol = neuromer.read_protocol(PROTOCOL)
trials = neuromer.make_trials(neuromer.read_xdf(XDF, protocol=protocol))
print(trials)

grid = neuromer.WindowGrid(window_s=1.0, hop_s=0.5)
audio = neuromer.stimulus_table({s.id: s.file for s in protocol.stimuli}, window_s=grid.window_s,
                                hop_s=grid.hop_s, cache_dir=out / "audio_cache")
eeg = neuromer.eeg_window_features(trials, grid=grid)
aligned = neuromer.align(trials, audio, eeg=eeg, physio=False, grid=grid)
aligned.to_parquet(out / "aligned.parquet")
print(f"aligned table: {aligned.shape[0]} windows x {aligned.shape[1]} columns -> {out / 'aligned.parquet'}")

beta = [c for c in aligned if c.startswith("eeg_beta_")]
aligned["eeg_beta_mean"] = aligned[beta].mean(axis=1)
per_trial = (aligned.groupby(["trial", "stimulus_id"])
             [["audio_pred_valence", "audio_pred_arousal", "eeg_faa", "eeg_beta_mean"]].mean()
             .join(trials.metadata.set_index(["trial", "stimulus_id"])[["valence", "arousal"]]))
print(per_trial.round(2).to_string())
print("correlation across trials:")
print(f"  audio valence vs EEG frontal alpha asymmetry: {per_trial.audio_pred_valence.corr(per_trial.eeg_faa):+.2f}")
print(f"  audio arousal vs EEG beta power:              {per_trial.audio_pred_arousal.corr(per_trial.eeg_beta_mean):+.2f}")
print(f"  audio arousal vs self-reported arousal:       {per_trial.audio_pred_arousal.corr(per_trial.arousal):+.2f}")

lags = neuromer.lag_analysis(aligned, "audio_rms_db_mean", "eeg_beta_mean", max_lag_s=3.0)
best = lags[lags.peak & lags.trial.isna()]
print("lag of best agreement, loudness -> beta power (s):", best[["lag_s", "r"]].round(2).to_dict("records"))
