"""make_trials / trials_from_markers: the DEAP layout cut from markers, and every marker problem."""

import mne
import numpy as np
import pandas as pd
import pytest

from neuromer.epochs import make_trials, trials_from_markers
from neuromer.errors import MarkerError
from neuromer.protocol import Protocol, Stimulus, Timing
from neuromer.session import Session

PROTO = Protocol(name="t", timing=Timing(baseline_s=1.0, stimulus_s=4.0),
                 stimuli=(Stimulus("a"), Stimulus("b"), Stimulus("c")))


def markers(*events):
    return pd.DataFrame({"onset_s": [e[0] for e in events], "description": [e[1] for e in events]})


def session(events, sfreq=256.0, seconds=40.0):
    n = int(sfreq * seconds)
    t = np.arange(n) / sfreq
    # channel 0 carries the time itself, so we can check where each trial was cut
    data = np.vstack([t * 1e-6, np.sin(2 * np.pi * 10 * t) * 1e-6, t])
    raw = mne.io.RawArray(data, mne.create_info(["Fz", "Cz", "GSR"], sfreq, ["eeg", "eeg", "gsr"]), verbose="error")
    m = markers(*events)
    raw.set_annotations(mne.Annotations(m.onset_s, 0, m.description))
    return Session(raw, subject="01")


GOOD = [(2.0, "trial_start"), (2.0, "baseline_start"), (3.0, "stim_on/a"), (7.0, "stim_off/a"),
        (8.0, "rating/valence/7"), (9.0, "rating/arousal/3"), (10.0, "trial_start"),
        (11.0, "stim_on/c"), (15.0, "stim_off/c"), (16.0, "rating/valence/2")]


def test_good_markers():
    table, dropped = trials_from_markers(markers(*GOOD), PROTO)
    assert table.trial.tolist() == [1, 2] and table.stimulus_id.tolist() == ["a", "c"]
    assert table.onset_s.tolist() == [3.0, 11.0] and table.duration_s.tolist() == [4.0, 4.0]
    assert table.valence.tolist() == [7.0, 2.0]
    assert table.arousal.iloc[0] == 3.0 and np.isnan(table.arousal.iloc[1])
    assert dropped.empty


def test_make_trials_cuts_at_the_markers_and_resamples():
    trials = make_trials(session(GOOD), protocol=PROTO, sfreq=128.0)
    assert trials.data.shape == (2, 3, 5 * 128)
    assert trials.sfreq == 128.0 and trials.baseline_s == 1.0
    # channel 0 holds time in microvolts: sample 0 of trial 1 is 1 s before onset 3 s
    assert trials.data[0, 0, 0] == pytest.approx(2.0, abs=0.02)
    assert trials.data[1, 0, 128] == pytest.approx(11.0, abs=0.02)
    # GSR is not scaled, EEG is in microvolts
    assert trials.data[1, 2, 128] == pytest.approx(11.0, abs=0.02)
    assert trials.ch_types == ["eeg", "eeg", "gsr"]
    np.testing.assert_array_equal(trials.labels[0], [7.0, 3.0, np.nan, np.nan])


@pytest.mark.parametrize("events, message", [
    (GOOD[:3] + GOOD[4:], "no stimulus_off"),                                       # missing off
    (GOOD[:3] + [(4.0, "stim_on/a")] + GOOD[3:], "second stimulus_on"),             # duplicated on
    ([(1.0, "stim_off/a")] + GOOD, "no matching stimulus_on"),                       # out of order
    (GOOD + [(20.0, "stim_on/zzz"), (24.0, "stim_off/zzz")], "unknown stimulus id 'zzz'"),
    ([(0.5, "rating/valence/5")] + GOOD, "before any trial"),
    (GOOD + [(17.0, "rating/valence/12")], "outside 1-9"),
    (GOOD + [(17.0, "rating/happiness/5")], "unknown scale 'happiness'"),
    (GOOD + [(17.0, "rating/valence/4")], "rated twice"),
])
def test_marker_problems_warn_naming_the_trial_or_raise(events, message):
    with pytest.warns(RuntimeWarning, match=message):
        trials_from_markers(markers(*events), PROTO)
    with pytest.raises(MarkerError, match=message):
        trials_from_markers(markers(*events), PROTO, on_problem="raise")


def test_unknown_stimulus_is_dropped_and_listed():
    with pytest.warns(RuntimeWarning):
        trials = make_trials(session(GOOD + [(20.0, "stim_on/zzz"), (24.0, "stim_off/zzz")]), protocol=PROTO)
    assert trials.metadata.stimulus_id.tolist() == ["a", "c"]
    assert trials.dropped.trial.tolist() == [3] and "unknown stimulus id" in trials.dropped.reason[0]


def test_trial_past_the_end_is_dropped_with_warning():
    events = GOOD + [(38.0, "stim_on/b")]
    with pytest.warns(RuntimeWarning, match=r"trial 3 \(stimulus 'b'\) ends after the recording"):
        trials = make_trials(session(events), protocol=PROTO)
    assert trials.n_trials == 2 and trials.dropped.reason.tolist()[-1] == "ends after the recording"


def test_duplicate_keeps_first_onset():
    with pytest.warns(RuntimeWarning):
        table, _ = trials_from_markers(markers(*(GOOD[:3] + [(4.0, "stim_on/a")] + GOOD[3:])), PROTO)
    assert table.onset_s.tolist() == [3.0, 11.0]


def test_trial_longer_than_the_recording_is_one_error(study, study_protocol):
    # timing.stimulus_s = 3000 on a recording of about a minute: one clear error, not one warning
    # per trial followed by arrays sized by the impossible trial
    import dataclasses

    from neuromer.io import read_session

    proto = dataclasses.replace(study_protocol, timing=dataclasses.replace(study_protocol.timing, stimulus_s=3000.0))
    session = read_session(study.xdf[0], protocol=proto)
    with pytest.raises(MarkerError, match=r"stimulus duration 3000 s is longer than the whole recording"):
        make_trials(session, protocol=proto)
