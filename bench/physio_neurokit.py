"""Real data: neuromer's physio features on NeuroKit2's example recordings, against neurokit2's own.

Needs the CSV files of the public repository ``neuropsychology/NeuroKit`` (folder ``data/``):
``bio_eventrelated_100hz.csv`` (ECG, EDA, photosensor, RSP; 150 s, 4 events) and
``bio_resting_5min_100hz.csv`` (ECG, PPG, RSP; 5 min at rest), in ``--data`` (default
``/work/data/neurokit``). Nothing is downloaded.

Prints, per trial:

1. SCRs in each event's 10 s stimulus (3 s baseline): per trial with no minimum (the old path),
   per trial with the 0.01 µS minimum, over the whole recording (the new path), and neurokit2's
   own ``eda_process`` on the whole recording.
2. Heart rate from ECG and respiration rate over each stimulus, against the mean of neurokit2's
   ``ECG_Rate``/``RSP_Rate`` from ``ecg_process``/``rsp_process`` on the whole recording.
3. On the resting recording cut into four 60 s "trials": SDNN/RMSSD over each against
   neurokit2's ``hrv_time`` on the R peaks of ``ecg_process``; heart rate from ECG and from PPG.

Run: ``python bench/physio_neurokit.py [--data DIR]``.
"""

import argparse
import warnings
from pathlib import Path

import mne
import neurokit2 as nk
import numpy as np
import pandas as pd

from neuromer.epochs import make_trials
from neuromer.physio import physio_trial_features, physio_window_features
from neuromer.session import Session

warnings.simplefilter("ignore")


def _session(frame: pd.DataFrame, columns: dict[str, str], sfreq: float, onsets_s, duration_s) -> Session:
    names = list(columns)
    types = [columns[n] for n in names]
    # ECG values are taken as microvolts (a Trials' unit); a Session holds volts
    data = np.array([frame[n].to_numpy(float) * (1e-6 if t == "ecg" else 1.0) for n, t in zip(names, types)])
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, types), verbose="error")
    table = pd.DataFrame({"trial": np.arange(1, len(onsets_s) + 1),
                          "stimulus_id": [f"e{i + 1}" for i in range(len(onsets_s))],
                          "onset_s": np.asarray(onsets_s, float), "duration_s": float(duration_s)})
    return Session(raw, trials=table, subject="nk")


def event_related(path: Path) -> None:
    sf = 100.0
    frame = pd.read_csv(path)
    events = nk.events_find(frame["Photosensor"], threshold_keep="below")
    onsets = np.asarray(events["onset"]) / sf
    session = _session(frame, {"EDA": "gsr", "ECG": "ecg", "RSP": "resp"}, sf, onsets, 10.0)
    trials = make_trials(session, sfreq=None, baseline_s=3.0, duration_s=10.0)
    old = physio_trial_features(trials.pick("gsr"), min_scr_amplitude_us=0.0)
    minimum = physio_trial_features(trials.pick("gsr"))
    new = physio_trial_features(trials, session=session)
    windows = physio_window_features(trials, session=session)
    eda_sig, eda_info = nk.eda_process(frame["EDA"].to_numpy(), sampling_rate=int(sf))
    ecg_sig, _ = nk.ecg_process(frame["ECG"].to_numpy(), sampling_rate=int(sf))
    rsp_sig, _ = nk.rsp_process(frame["RSP"].to_numpy(), sampling_rate=int(sf))
    peaks = np.asarray(eda_info["SCR_Peaks"])
    print(f"{path.name}: {len(frame) / sf:.0f} s, events at {np.round(onsets, 2).tolist()} s")
    print(" trial  SCRs: per-trial  per-trial>=0.01  session  nk-whole |  HR: ours    nk   | RSP: ours    nk")
    for i, on in enumerate(onsets):
        a, b = int(round(on * sf)), int(round((on + 10.0) * sf))
        nk_scr = int(((peaks >= a) & (peaks < b)).sum())
        hr_nk = ecg_sig["ECG_Rate"].iloc[a:b].mean()
        rsp_nk = rsp_sig["RSP_Rate"].iloc[a:b].mean()
        print(f" {i + 1:5d}  {old['physio_scr_count'][i]:16.0f} {minimum['physio_scr_count'][i]:16.0f} "
              f"{new['physio_scr_count'][i]:8.0f} {nk_scr:9d} | {new['physio_hr_bpm'][i]:8.4f} {hr_nk:8.4f} | "
              f"{new['physio_resp_rate_bpm'][i]:7.4f} {rsp_nk:7.4f}")
    amps = np.asarray(eda_info["SCR_Amplitude"])
    old_amp = old["physio_scr_amplitude"]
    print(f"  old per-trial SCR amplitudes (mean per trial, µS): {np.round(old_amp.to_numpy(), 4).tolist()}")
    print(f"  nk whole-recording SCR amplitudes (µS): {np.round(amps, 4).tolist()}")
    print(f"  1 s windows: {len(windows)}; NaN HRV SDNN {windows['physio_hrv_sdnn_ms'].isna().sum()}, "
          f"NaN RSP irregularity {windows['physio_resp_irregularity'].isna().sum()}; "
          f"heart from {windows.attrs['physio_sources']['physio_hr_bpm']}")


def resting(path: Path) -> None:
    sf = 100.0
    frame = pd.read_csv(path)
    onsets = np.array([10.0, 80.0, 150.0, 220.0])
    session = _session(frame, {"ECG": "ecg", "PPG": "bio", "RSP": "resp"}, sf, onsets, 60.0)
    trials = make_trials(session, sfreq=None, baseline_s=3.0, duration_s=60.0)
    both = physio_trial_features(trials, session=session, context_s=0.0)
    ppg = physio_trial_features(trials.pick("bio"), session=session, context_s=0.0)
    _, ecg_info = nk.ecg_process(frame["ECG"].to_numpy(), sampling_rate=int(sf))
    ppg_sig, _ = nk.ppg_process(frame["PPG"].to_numpy(), sampling_rate=int(sf))
    rpeaks = np.asarray(ecg_info["ECG_R_Peaks"])
    print(f"{path.name}: {len(frame) / sf:.0f} s; four 60 s 'trials' at {onsets.tolist()} s")
    print(" trial | SDNN ours    nk hrv_time | RMSSD ours   nk hrv_time | HR ECG   HR PPG  nk PPG_Rate")
    for i, on in enumerate(onsets):
        a, b = int(round(on * sf)), int(round((on + 60.0) * sf))
        ref = nk.hrv_time(rpeaks[(rpeaks >= a) & (rpeaks < b)], sampling_rate=int(sf))
        print(f" {i + 1:5d} | {both['physio_hrv_sdnn_ms'][i]:9.4f} {ref['HRV_SDNN'].iloc[0]:12.4f} | "
              f"{both['physio_hrv_rmssd_ms'][i]:9.4f} {ref['HRV_RMSSD'].iloc[0]:12.4f} | "
              f"{both['physio_hr_bpm'][i]:7.3f} {ppg['physio_hr_bpm'][i]:7.3f} "
              f"{ppg_sig['PPG_Rate'].iloc[a:b].mean():9.3f}")
    print(f"  heart columns from {both.attrs['physio_sources']['physio_hr_bpm']} (ECG preferred over PPG)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/data/neurokit", type=Path)
    args = parser.parse_args()
    event_related(args.data / "bio_eventrelated_100hz.csv")
    print()
    resting(args.data / "bio_resting_5min_100hz.csv")


if __name__ == "__main__":
    main()
