"""Online decoding: LSL EEG -> ring buffer -> window features -> model -> LSL (``neuromer online``).

:class:`OnlineDecoder` keeps the latest seconds of an EEG stream in a numpy ring buffer. Every
``hop_s`` seconds of received signal it takes the newest window, preprocesses it as the pipeline
does offline (resample to ``sfreq``, zero-phase FIR band-pass designed by MNE, average reference)
and computes the window features with :func:`neuromer.eeg.features.window_feature_arrays`, the
kernel :func:`~neuromer.eeg.features.eeg_window_features` uses offline. The model's columns are
taken by name (``feature_names_in_``), in the order it was fitted with, and its prediction is pushed
to the ``neuromer-emotion`` LSL stream: per target, P(high) for a classifier (the pipeline's
``models/eeg_<target>.skops``) or the predicted value for a regressor. The sample's time stamp is
the time of the window's last EEG sample (on this computer's LSL clock).

Online the end of a window has no future samples, so the zero-phase filter sees the buffer's edge
there (padded by reflection, as MNE pads a recording's ends); band powers inside the pass band are
barely affected.

With a protocol and a marker stream, the decoder follows the stimulus now playing and adds the
audio-predicted emotion of that stimulus (from :func:`neuromer.audio.stimulus_table`, when that
module is available) to the stream as ``audio_<target>`` channels (NaN between stimuli).

Latency (``latencies_s``) is measured from the moment the window's last sample was pulled from LSL
to the moment its prediction was pushed.
"""

from __future__ import annotations

import re
import time
import warnings
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np

from .._logging import logger
from ..errors import NeuromerError
from ._names import OUTPUT_STREAM  # defined there so the command line need not import this module


def _channels_of(names: list[str]) -> list[str]:
    """EEG channels a model's feature columns are computed from (sorted)."""
    from ..eeg.features import FAA_PAIR

    out: set[str] = set()
    for name in names:
        last = name.rsplit("_", 1)[-1]
        if name == "eeg_faa":
            out.update(FAA_PAIR)
        elif name.startswith(("eeg_dasm_", "eeg_rasm_")) and "-" in last:
            out.update(last.split("-", 1))
        else:
            out.add(last)
    return sorted(out)


class RingBuffer:
    """The newest ``capacity`` samples of a multichannel stream, in a preallocated array.

    Parameters
    ----------
    n_channels : int
    capacity : int
        Samples kept (older ones are overwritten).
    """

    def __init__(self, n_channels: int, capacity: int) -> None:
        self.data = np.zeros((n_channels, 2 * capacity), dtype=np.float64)  # doubled: latest() is one slice
        self.capacity = int(capacity)
        self.n_total = 0  # samples ever written
        self._pos = 0

    def extend(self, chunk: np.ndarray) -> None:
        """Append samples, shape (n_samples, n_channels)."""
        chunk = np.asarray(chunk)[-self.capacity:]
        n, cap = len(chunk), self.capacity
        if n == 0:
            return
        end = self._pos + n
        idx = np.arange(self._pos, end) % cap
        self.data[:, idx] = chunk.T
        self.data[:, idx + cap] = chunk.T
        self._pos = end % cap
        self.n_total += n

    def latest(self, n: int) -> np.ndarray:
        """The newest ``n`` samples, shape (n_channels, n), oldest first (a view)."""
        if n > min(self.n_total, self.capacity):
            raise NeuromerError(f"The ring buffer holds {min(self.n_total, self.capacity)} samples, not {n}.")
        stop = self._pos + self.capacity
        return self.data[:, stop - n:stop]


class _Model:
    """A loaded model with its target, kind and EEG feature columns."""

    def __init__(self, estimator, target: str, metadata: dict | None = None) -> None:
        self.metadata = dict(metadata or {})
        names = getattr(estimator, "feature_names_in_", None)
        if names is None:
            raise NeuromerError(f"The {target!r} model has no feature names (feature_names_in_); fit it on a "
                                f"DataFrame of feature columns as neuromer's pipeline does.")
        self.names = [str(n) for n in names]
        other = [n for n in self.names if not n.startswith("eeg_")]
        if other:
            raise NeuromerError(f"The {target!r} model uses non-EEG features ({', '.join(other[:3])}...); online "
                                f"decoding supports EEG window features only.")
        self.estimator, self.target = estimator, target
        self.proba = hasattr(estimator, "predict_proba")

    def predict(self, row: np.ndarray) -> float:
        """Predict from one row whose values are in ``self.names`` order (checked by the caller).

        A plain array, not a DataFrame: scikit-learn's per-column dtype checks of a one-row frame
        cost milliseconds, most of the online latency budget.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if self.proba:
                return float(self.estimator.predict_proba(row[None, :])[0, -1])
            return float(np.ravel(self.estimator.predict(row[None, :]))[0])


def _load_models(models) -> list[_Model]:
    from ..models.persistence import load_model

    out = []
    items = models.items() if isinstance(models, dict) else [(None, m) for m in models]
    for target, m in items:
        meta = {}
        if isinstance(m, (str, Path)):
            text = str(m)
            if target is None and "=" in text and not Path(text).exists():
                target, text = text.split("=", 1)
            path = Path(text)
            target = target or re.sub(r"^eeg_", "", path.stem)
            m, meta = load_model(path, with_metadata=True)
            if meta.get("eeg_baseline", "none") not in ("none", None):
                raise NeuromerError(f"{path}: the model was trained on baseline-corrected features "
                                    f"(eeg_baseline = {meta['eeg_baseline']!r}); online decoding has no baseline.")
        out.append(_Model(m, target or f"target{len(out)}", meta))
    if not out:
        raise NeuromerError("Give at least one model.")
    return out


def _channel_labels(info) -> tuple[list[str], list[str]]:
    ch = info.desc().child("channels").child("channel")
    labels, types = [], []
    for _ in range(info.channel_count()):
        labels.append(ch.child_value("label"))
        types.append(ch.child_value("type").lower())
        ch = ch.next_sibling()
    return labels, types


class OnlineDecoder:
    """Decode emotion from a live EEG stream with models trained by the pipeline.

    Parameters
    ----------
    models : list | dict
        Model files (``eeg_<target>.skops``; ``TARGET=PATH`` names the target), fitted estimators
        as ``{target: estimator}``, or a mix. Every model needs ``feature_names_in_``.
    window_s : float
        Window length in seconds (the pipeline's window grid, 1 s by default).
    hop_s : float
        Seconds of signal between predictions (0.1 s: 10 per second).
    sfreq : float | None
        Resample to this rate before the features (the pipeline's ``preprocess.sfreq``, 128 Hz).
    l_freq, h_freq : float | None
        Band-pass edges in Hz (the pipeline's 4 and 45 Hz); ``None`` leaves an edge open.
    reference : {"average", None}
        EEG reference applied online (over every EEG channel of the stream).
    protocol : Protocol | path-like | None
        To follow the stimulus now playing from the marker stream.
    context_s : float
        Extra seconds of signal before the window given to the filter.
    """

    def __init__(self, models, *, window_s: float = 1.0, hop_s: float = 0.1, sfreq: float | None = 128.0,
                 l_freq: float | None = 4.0, h_freq: float | None = 45.0, reference: str | None = "average",
                 protocol=None, context_s: float = 0.5) -> None:
        from .._checks import check_option, check_positive

        self.models = _load_models(models)
        self.window_s, self.hop_s = check_positive(window_s, "window_s"), check_positive(hop_s, "hop_s")
        for m in self.models:
            trained = m.metadata.get("window_s")
            if trained is not None and abs(float(trained) - self.window_s) > 1e-9:
                raise NeuromerError(f"The {m.target!r} model was trained on {trained} s windows but the decoder "
                                    f"uses {self.window_s} s; pass window_s={trained} (--window-s {trained}).")
        self.sfreq = None if sfreq is None else check_positive(sfreq, "sfreq")
        self.l_freq, self.h_freq = l_freq, h_freq
        self.reference = check_option(reference, ["average", None], "reference")
        self._check_preprocessing()
        self.context_s = check_positive(context_s, "context_s", allow_zero=True)
        if protocol is not None and not hasattr(protocol, "markers"):
            from ..protocol import read_protocol

            protocol = read_protocol(protocol, check_files=False)
        self.protocol = protocol
        self.targets = [m.target for m in self.models]
        self.channels = _channels_of([n for m in self.models for n in m.names])
        self.latencies_s: deque[float] = deque(maxlen=100_000)
        self.history: deque[dict] = deque(maxlen=10_000)
        self.stimulus: str | None = None  # the stimulus playing at the last decoded window
        self._events: deque[tuple[float, str | None]] = deque(maxlen=1000)  # (LSL time, stimulus or None)
        self._audio = None
        self._inlet = self._markers = self._outlet = None

    def _check_preprocessing(self) -> None:
        """Warn when a model was trained on differently preprocessed EEG than this decoder applies."""
        online = {"sfreq": self.sfreq, "l_freq": self.l_freq, "h_freq": self.h_freq, "reference": self.reference}
        for m in self.models:
            trained = m.metadata.get("preprocess")
            if not trained:
                continue
            if not trained.get("enabled", True):
                trained = {"sfreq": trained.get("sfreq"), "l_freq": None, "h_freq": None, "reference": None}
            diff = {k: (trained.get(k), v) for k, v in online.items() if k in trained and trained.get(k) != v}
            if diff:
                logger.warning("The %r model was trained with %s; online decoding uses %s: its features may differ.",
                               m.target, {k: a for k, (a, _) in diff.items()}, {k: b for k, (_, b) in diff.items()})

    # ------------------------------------------------------------------ features (same code as offline)
    def prepare(self, stream_sfreq: float, ch_names: list[str], ch_types: list[str] | None = None) -> None:
        """Set up channel picks, resampling and the filter for a stream's rate and channels."""
        from ..session import infer_channel_types

        missing = [c for c in self.channels if c not in ch_names]
        if missing:
            raise NeuromerError(f"The EEG stream has no channel(s) {', '.join(missing[:5])} the model needs "
                                f"(stream channels: {', '.join(ch_names[:8])}...).")
        types = [t if t else g for t, g in zip(ch_types or [""] * len(ch_names), infer_channel_types(ch_names))]
        self._eeg = [i for i, t in enumerate(types) if t == "eeg"] or list(range(len(ch_names)))
        eeg_names = [ch_names[i] for i in self._eeg]
        self._pick = [eeg_names.index(c) for c in self.channels]
        self.stream_sfreq = float(stream_sfreq)
        rate = self.sfreq or self.stream_sfreq
        self._ratio = Fraction(rate / self.stream_sfreq).limit_denominator(1000)
        self.rate = self.stream_sfreq * self._ratio.numerator / self._ratio.denominator
        self._fir = None
        if self.l_freq is not None or self.h_freq is not None:
            import mne

            h_freq = self.h_freq if self.h_freq is None or self.h_freq < self.rate / 2 else None
            self._fir = mne.filter.create_filter(None, self.rate, self.l_freq, h_freq, method="fir",
                                                 phase="zero", verbose="error")
        # the first sample of the window needs half the filter's length of signal before it
        pad = 0.0 if self._fir is None else (len(self._fir) // 2) / self.rate
        self.n_window = int(round(self.window_s * self.rate))
        self.n_input = int(np.ceil((self.window_s + max(self.context_s, pad)) * self.stream_sfreq))
        if self._fir is None and self._ratio == 1:
            self.n_input = int(round(self.window_s * self.stream_sfreq))
        self._names = None

    def preprocess(self, data: np.ndarray) -> np.ndarray:
        """Resample, filter and re-reference (n_eeg_channels, n_samples) µV; returns the last window."""
        import scipy.signal

        x = np.asarray(data, dtype=np.float64)
        if self._ratio != 1:
            x = scipy.signal.resample_poly(x, self._ratio.numerator, self._ratio.denominator, axis=-1)
        if self._fir is not None:
            half = len(self._fir) // 2
            n = min(half, x.shape[-1] - 1)
            x = np.pad(x, ((0, 0), (n, n)), mode="reflect")
            x = scipy.signal.oaconvolve(x, self._fir[None, :], mode="same", axes=-1)[:, n:x.shape[-1] - n]
        if self.reference == "average":
            x = x - x.mean(axis=0, keepdims=True)
        return x[:, -self.n_window:]

    def features(self, window: np.ndarray) -> np.ndarray:
        """EEG window features of the model's channels for one preprocessed window.

        Parameters
        ----------
        window : ndarray, shape (n_model_channels, n_window_samples)
            µV at ``self.rate`` Hz, channels in ``self.channels`` order.

        Returns
        -------
        ndarray, shape (n_features,)
            Columns ``self.feature_names`` (see :func:`~neuromer.eeg.features.window_feature_arrays`).
        """
        from ..eeg.features import window_feature_arrays

        feats, names = window_feature_arrays(window[None, :, None, :], self.rate, self.channels)
        if self._names is None:
            self._names = names
            pos = {n: i for i, n in enumerate(names)}
            self._cols = []
            for m in self.models:
                unknown = [n for n in m.names if n not in pos]
                if unknown:
                    raise NeuromerError(f"The {m.target!r} model uses feature(s) {', '.join(unknown[:3])} that "
                                        f"the online EEG features do not produce.")
                self._cols.append(np.array([pos[n] for n in m.names]))
        return feats[0, 0]

    @property
    def feature_names(self) -> list[str]:
        return list(self._names or [])

    def predict_window(self, data: np.ndarray) -> dict[str, float]:
        """Predictions per target for the newest window of raw stream data (n_eeg, n_input)."""
        window = self.preprocess(data)[self._pick]
        row = self.features(window)
        return {m.target: m.predict(row[cols]) for m, cols in zip(self.models, self._cols)}

    # ------------------------------------------------------------------ LSL
    def connect(self, stream="type=EEG", *, markers=None, timeout: float = 5.0, outlet_name: str = OUTPUT_STREAM):
        """Open the EEG inlet (and a marker inlet), create the output outlet."""
        import pylsl

        from ._lsl import resolve

        info = resolve(stream, timeout=timeout, settle_s=0.0)[0]
        self._inlet = pylsl.StreamInlet(info, max_buflen=30, processing_flags=pylsl.proc_clocksync)
        full = self._inlet.info(timeout)
        labels, types = _channel_labels(full)
        if not all(labels) and self.protocol is not None:
            spec = next((s for s in self.protocol.streams if s.type.lower() == full.type().lower() and s.channels),
                        None)
            labels = list(spec.channels) if spec and len(spec.channels) == full.channel_count() else labels
        if not all(labels):
            raise NeuromerError(f"The LSL stream {full.name()!r} does not name its channels; the model needs "
                                f"{', '.join(self.channels[:5])}...")
        if full.nominal_srate() <= 0:
            raise NeuromerError(f"The LSL stream {full.name()!r} has an irregular rate; expected regular EEG.")
        self.prepare(full.nominal_srate(), labels, types)
        self._buffer = RingBuffer(len(self._eeg), self.n_input + int(full.nominal_srate()))
        self._arrival = RingBuffer(1, self._buffer.capacity)
        self._stamps = RingBuffer(1, self._buffer.capacity)
        self._n_hop = max(1, int(round(self.hop_s * full.nominal_srate())))
        self._last = None
        if self.protocol is not None:
            self._markers = pylsl.StreamInlet(resolve(markers or "type=Markers", timeout=timeout, settle_s=0.0)[0],
                                              processing_flags=pylsl.proc_clocksync)
            self._audio = _audio_predictions(self.protocol, self.targets, self.window_s)
        channels = self.targets + ([f"audio_{t}" for t in self.targets] if self.protocol is not None else [])
        out = pylsl.StreamInfo(outlet_name, "Emotion", len(channels), 1.0 / self.hop_s, pylsl.cf_float32,
                               f"{outlet_name}-{full.source_id() or full.name()}")
        chans = out.desc().append_child("channels")
        for c in channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", c)
            ch.append_child_value("unit", "probability" if c in self.targets else "rating")
        self.output_channels = channels
        self._outlet = pylsl.StreamOutlet(out)
        logger.info("online decoding %s from %r (%d ch, %g Hz), window %g s every %g s",
                    ", ".join(self.targets), full.name(), full.channel_count(), full.nominal_srate(),
                    self.window_s, self.hop_s)
        return self

    def step(self, timeout: float = 0.01) -> int:
        """Pull what has arrived, predict if a hop of new signal is due; returns predictions pushed."""
        import pylsl

        chunk, stamps = self._inlet.pull_chunk(timeout=timeout, max_samples=4096)
        while stamps:  # drain a backlog before predicting, so only the newest window is decoded
            now = pylsl.local_clock()
            self._buffer.extend(np.asarray(chunk, dtype=np.float64)[:, self._eeg])
            self._arrival.extend(np.full((len(stamps), 1), now))
            self._stamps.extend(np.asarray(stamps)[:, None])
            if len(stamps) < 4096:
                break
            chunk, stamps = self._inlet.pull_chunk(timeout=0.0, max_samples=4096)
        if self._markers is not None:
            self._follow_markers()
        n = self._buffer.n_total
        if n < self.n_input or (self._last is not None and n - self._last < self._n_hop):
            return 0
        # stay on the hop grid; after a backlog (a large chunk) predict only the newest window
        self._last = n if self._last is None else n - (n - self._last) % self._n_hop
        data = self._buffer.latest(self.n_input)
        pred = self.predict_window(data)
        stamp = float(self._stamps.latest(1)[0, 0])
        values = [pred[t] for t in self.targets]
        audio = {}
        if self.protocol is not None:
            audio = self._audio_now(stamp)
            values += [audio.get(t, np.nan) for t in self.targets]
        self._outlet.push_sample(np.asarray(values, dtype=np.float32), stamp)
        latency = pylsl.local_clock() - float(self._arrival.latest(1)[0, 0])
        self.latencies_s.append(latency)
        self.history.append({"timestamp": stamp, **pred, "stimulus_id": self.stimulus,
                             **{f"audio_{k}": v for k, v in audio.items()}, "latency_s": latency})
        return 1

    def run(self, duration_s: float | None = None, stop=None, on_prediction=None) -> None:
        """Decode until ``duration_s`` seconds have passed or ``stop`` (a threading.Event) is set."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while (end is None or time.monotonic() < end) and not (stop is not None and stop.is_set()):
            if self.step() and on_prediction is not None:
                on_prediction(self.history[-1])

    def close(self) -> None:
        for inlet in (self._inlet, self._markers):
            if inlet is not None:
                inlet.close_stream()
        self._inlet = self._markers = self._outlet = None

    # ------------------------------------------------------------------ stimulus tracking
    def _follow_markers(self) -> None:
        """Keep the stimulus events; a window is matched to them by its time, not by arrival order."""
        texts, stamps = self._markers.pull_chunk(timeout=0.0)
        for (text,), t in zip(texts, stamps):
            parsed = self.protocol.markers.parse(text)
            if parsed is None:
                continue
            kind, fields = parsed
            if kind == "stimulus_on":
                self._events.append((t, fields["stimulus_id"]))
                logger.info("stimulus %s on at %.3f", fields["stimulus_id"], t)
            elif kind in ("stimulus_off", "trial_start", "trial_end"):
                self._events.append((t, None))

    def _stimulus_at(self, stamp: float) -> tuple[str | None, float | None]:
        """The stimulus playing at LSL time ``stamp`` and its onset (``None, None`` between stimuli)."""
        last = max((e for e in self._events if e[0] <= stamp), key=lambda e: e[0], default=(None, None))
        return last[1], (last[0] if last[1] is not None else None)

    def _audio_now(self, stamp: float) -> dict[str, float]:
        self.stimulus, onset = self._stimulus_at(stamp)
        if self.stimulus is None or self._audio is None:
            return {}
        return self._audio(self.stimulus, stamp - onset)


def _audio_predictions(protocol, targets, window_s: float = 1.0, hop_s: float = 0.5):
    """A function (stimulus_id, seconds since onset) -> {target: audio-predicted value}, or None.

    The audio predictions are those of the offline pipeline (:func:`neuromer.audio.stimulus_table`
    on the same window grid), computed once per stimulus when decoding starts.
    """
    try:
        from ..audio import stimulus_table
    except ImportError as exc:
        logger.warning("audio predictions are unavailable (%s); decoding EEG only.", exc)
        return None
    files = {s.id: s.file for s in protocol.stimuli if s.file is not None and Path(s.file).is_file()}
    if not files:
        logger.warning("audio predictions are unavailable: the protocol's stimulus files were not found.")
        return None
    try:
        table = stimulus_table(files, window_s=window_s, hop_s=hop_s)
    except Exception as exc:  # any failure of the audio models leaves EEG decoding running
        logger.warning("audio predictions are unavailable (%s: %s); decoding EEG only.", type(exc).__name__, exc)
        return None
    cols = {}
    for t in targets:
        col = next((c for c in (f"audio_pred_{t}", f"audio_{t}", t) if c in table), None)
        if col is not None:
            cols[t] = col
    if not cols or "stimulus_id" not in table:
        logger.warning("audio predictions are unavailable (stimulus table has no stimulus_id / %s columns).",
                       ", ".join(targets))
        return None
    table = table.assign(stimulus_id=table["stimulus_id"].astype(str))
    timed = "t_start" in table

    def lookup(sid: str, elapsed_s: float) -> dict[str, float]:
        rows = table[table.stimulus_id == sid]
        if timed and len(rows):
            now = rows[rows.t_start <= elapsed_s]
            rows = now.iloc[[-1]] if len(now) else rows.iloc[[0]]
        return {t: float(rows[c].mean()) for t, c in cols.items()} if len(rows) else {}
    return lookup


# ----------------------------------------------------------------------------- command line
