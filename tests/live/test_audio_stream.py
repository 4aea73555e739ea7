"""``neuromer present --audio-stream`` on real loopback LSL: the recorded sound places every onset."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

from neuromer.errors import DataFormatError, NeuromerError  # noqa: E402
from neuromer.live.present import present  # noqa: E402

from .test_present import EegNoise  # noqa: E402

SR = 8000

PROTOCOL = """[protocol]
name = "sound"

[timing]
baseline_s = 0.3
stimulus_s = 2.0
rating_s = 0.1
inter_trial_s = 0.3

[markers]
trial_start = "trial_start"
stimulus_on = "stim_on/{stimulus_id}"
stimulus_off = "stim_off/{stimulus_id}"
rating = "rating/{scale}/{value}"

[[streams]]
type = "EEG"
kind = "eeg"

[[streams]]
type = "Markers"
"""


def make_sound_protocol(folder, ids=("a", "b", "c"), *, sr=SR, dur_s=2.0):
    """Noise bursts under a slow envelope (a sharp GCC-PHAT peak, unlike a pure tone); stereo
    files for 'b' so the stream's mono mix is exercised."""
    import soundfile as sf

    (folder / "stim").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(int(dur_s * sr)) / sr
    text = PROTOCOL
    for k, sid in enumerate(ids):
        y = 0.2 * rng.normal(size=len(t)) * (1 + 0.8 * np.sin(2 * np.pi * (1.5 + k) * t))
        y = np.clip(y, -0.99, 0.99)
        sf.write(folder / "stim" / f"{sid}.wav", np.column_stack([y, y]) if sid == "b" else y, sr,
                 subtype="FLOAT")
        text += f'\n[[stimuli]]\nid = "{sid}"\nfile = "stim/{sid}.wav"\n'
    path = folder / "sound.toml"
    path.write_text(text, encoding="utf-8")
    ratings = "stimulus_id,valence,arousal,dominance,liking\n" + "".join(f"{s},5,5,5,5\n" for s in ids)
    (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    return path


@pytest.mark.slow
def test_recorded_audio_stream_refines_onsets_to_1ms(tmp_path):
    """present (null player, speed 2) + EEG outlet + neuromer's Recorder -> XDF -> read_xdf ->
    refine_onsets on the audio stream recovers planted marker jitter within 1 ms (8 kHz stream)."""
    import soundfile as sf

    from neuromer.io.xdf import read_xdf
    from neuromer.live.record import Recorder
    from neuromer.onsets import read_recorded_sound, refine_session_onsets
    from neuromer.protocol import read_protocol

    path = make_sound_protocol(tmp_path)
    tag = uuid.uuid4().hex[:8]
    names = {"eeg": f"neuromer-test-eeg-{tag}", "markers": f"neuromer-test-markers-{tag}",
             "audio": f"neuromer-test-audio-{tag}"}
    eeg = EegNoise(names["eeg"])
    done = {}

    def run_present():
        done["log"] = present(path, audio="null", ratings=tmp_path / "ratings.csv", speed=2.0,
                              stream_name=names["markers"], audio_stream=names["audio"], wait_for_consumers_s=10.0)

    presenter = threading.Thread(target=run_present, daemon=True)
    presenter.start()
    xdf = tmp_path / "sub-01.xdf"
    rec = Recorder(xdf, [f"name={n}" for n in names.values()], pull_interval_s=0.1).start()
    try:
        while presenter.is_alive():
            rec.poll()
            presenter.join(0.1)
        import time

        want = done["log"].attrs["audio_stream"]["samples"]
        audio_in = next(st for st in rec.streams if st.info["name"] == names["audio"])
        until = time.monotonic() + 10.0  # a loaded machine may deliver the last chunks late
        while audio_in.samples < want and time.monotonic() < until:
            time.sleep(0.1)
            rec.poll()
        time.sleep(0.2)
        rec.poll()
    finally:
        summary = rec.stop()
        eeg.stop()
    log = done["log"]
    info = log.attrs["audio_stream"]
    assert info["name"] == names["audio"] and info["sfreq"] == SR
    audio = next(s for s in summary["streams"] if s["name"] == names["audio"])
    assert audio["type"] == "Audio" and audio["nominal_srate"] == SR and audio["gaps"] == 0
    assert audio["samples"] == info["samples"]

    protocol = read_protocol(path)
    session = read_xdf(xdf, protocol)
    assert names["audio"] not in session.raw.ch_names  # an Audio stream is not put on the EEG grid
    assert session.trials.stimulus_id.tolist() == ["a", "b", "c"]
    true_onsets = session.trials.onset_s.to_numpy().copy()

    # the stream holds the exact sound: the played part of each file, sample for sample
    sound = read_recorded_sound(session, names["audio"])
    assert sound.sfreq == pytest.approx(SR, rel=1e-4)
    for onset, sid in zip(true_onsets, session.trials.stimulus_id):
        y, _ = sf.read(tmp_path / "stim" / f"{sid}.wav", dtype="float32", always_2d=True)
        # the onset falls within half a sample of a grid sample; clock sync may tip the rounding
        at = int(round(np.interp(onset, sound.times_s, np.arange(len(sound.times_s)))))
        n = SR  # 2 s stimuli at speed 2: 1 s was played
        hits = [i for i in (at - 1, at, at + 1) if np.allclose(sound.data[i:i + n], y.mean(axis=1)[:n], atol=1e-6)]
        assert len(hits) == 1, (sid, at)
        i = hits[0]
        assert np.all(sound.data[i + n + 1:i + n + 100] == 0) and np.all(sound.data[i - 100:i - 1] == 0)

    # plant software-marker jitter (sound 5-80 ms after the marker) and recover it from the sound
    jitter = np.array([0.0123, 0.0561, 0.0789])
    session.trials["onset_s"] = true_onsets - jitter
    refine_session_onsets(session, names["audio"], match_s=0.5)
    t = session.trials
    assert t.onset_refined.all() and (t.onset_confidence > 3).all()
    np.testing.assert_allclose(t.onset_offset_s, jitter, atol=1e-3)
    np.testing.assert_allclose(t.onset_s, true_onsets, atol=1e-3)


def test_audio_stream_bad_input(tmp_path):
    path = make_sound_protocol(tmp_path, ids=("a", "b"), dur_s=0.5)
    with pytest.raises(NeuromerError, match="also the marker stream's name"):
        present(path, audio="null", ratings=tmp_path / "ratings.csv", stream_name="same", audio_stream="same")
    # a stream of that name already on the network (here: the marker outlet handed to present)
    taken = f"neuromer-test-taken-{uuid.uuid4().hex[:8]}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(taken, "Markers", 1, 0.0, pylsl.cf_string, taken))
    with pytest.raises(NeuromerError, match="also the marker stream's name"):
        present(path, audio="null", ratings=tmp_path / "ratings.csv", outlet=outlet, audio_stream=taken)
    with pytest.raises(NeuromerError, match=f"an LSL stream named '{taken}' is already on the network"):
        present(path, audio="null", ratings=tmp_path / "ratings.csv", audio_stream=taken)
    del outlet
    # a stimulus file whose header reads but whose data does not decode: refused before trial 1
    bad = tmp_path / "stim" / "b.wav"
    bad.write_bytes(bad.read_bytes()[:60] + b"\x00garbage" * 3)
    with pytest.raises(DataFormatError, match=r"b\.wav") as info:
        present(path, audio="null", ratings=tmp_path / "ratings.csv",
                audio_stream=f"neuromer-test-audio-{uuid.uuid4().hex[:8]}")
    assert "\n" not in str(info.value)


def test_cli_audio_stream_flag(tmp_path, capsys):
    from neuromer.cli import main

    path = make_sound_protocol(tmp_path, ids=("a",), dur_s=0.3)
    name = f"neuromer-test-audio-{uuid.uuid4().hex[:8]}"
    status = main(["present", str(path), "--audio", "null", "--ratings", str(tmp_path / "ratings.csv"),
                   "--speed", "4", "--audio-stream", name, "--name", f"m-{name}"])
    out = capsys.readouterr().out
    assert status == 0 and f"published the sound on LSL stream {name!r}" in out and "at 8000 Hz" in out
    status = main(["present", str(path), "--audio", "null", "--ratings", str(tmp_path / "ratings.csv"),
                   "--audio-stream", "x", "--name", "x"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "marker stream's name" in err


def test_read_mono_mixes_and_resamples(tmp_path):
    from neuromer.live.audio_stream import read_mono

    make_sound_protocol(tmp_path, ids=("a", "b"), dur_s=0.5)
    import soundfile as sf

    stereo, sr = sf.read(tmp_path / "stim" / "b.wav", dtype="float32", always_2d=True)
    y, rate = read_mono(tmp_path / "stim" / "b.wav")
    assert rate == SR and y.dtype == np.float32 and np.allclose(y, stereo.mean(axis=1))
    up, rate = read_mono(tmp_path / "stim" / "b.wav", 2 * SR)
    assert rate == 2 * SR and len(up) == 2 * len(y)
    # delay-free: the even samples of the upsampled sound line up with the original (white noise
    # loses only its top ~5 % of band to the anti-alias filter)
    a, b = up[200:-200:2], y[100:-100]
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert all(np.corrcoef(a, np.roll(b, k))[0, 1] < 0.5 for k in (-1, 1))
