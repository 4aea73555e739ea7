import numpy as np
import pandas as pd

from neuromer.session import Trials

DEAP_EEG = ["Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1",
            "Oz", "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2",
            "P4", "P8", "PO4", "O2"]


def make_trials(data, sfreq=128.0, ch_names=None, baseline_s=1.0, valence=None, arousal=None):
    n = data.shape[0]
    ch_names = ch_names or DEAP_EEG[:data.shape[1]]
    meta = pd.DataFrame({"trial": np.arange(1, n + 1), "stimulus_id": [f"s{i}" for i in range(n)],
                         "onset_s": np.arange(n) * 100.0})
    if valence is not None:
        meta["valence"] = valence
    if arousal is not None:
        meta["arousal"] = arousal
    return Trials(data, sfreq, ch_names, ["eeg"] * len(ch_names), baseline_s=baseline_s,
                  metadata=meta, subject="01")
