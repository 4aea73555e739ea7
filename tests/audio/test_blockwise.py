"""Block-wise analysis of long audio equals the whole-file analysis (neuromer.audio.blockwise).

The music is generated with a known key (D minor chord loop), tempo (a 100 BPM click under it)
and a 6 Hz, +-50 cent vibrato note laid across a block border. Small blocks (~3 s) keep the
tests fast; every border lands inside music.
"""

import logging
import math

import numpy as np
import pytest
import soundfile as sf

from neuromer.audio import audio_features
from neuromer.audio.blockwise import block_frames, stream_samples, use_blocks
from neuromer.audio.features import HOP_LENGTH, frame_features, load_audio
from neuromer.audio.melody import f0_contour, note_events
from neuromer.errors import DataFormatError

from ._signals import MINOR_CADENCE, SR, click_track, key_piece

BLOCK_S = 3.0  # rounded to 128 frames: 2.97 s blocks
BLOCK_SAMPLES = 128 * HOP_LENGTH
TEMPO_BPM = 100.0
VIB_T0_S, VIB_T1_S = 7.2, 10.2  # the vibrato note: blocks border at 2 x 2.97 = 5.94 s and 8.92 s


def _vibrato_note(n):
    t = np.arange(int((VIB_T1_S - VIB_T0_S) * SR)) / SR
    f0 = 440.0 * 2 ** (0.5 * np.sin(2 * np.pi * 6.0 * t) / 12)  # +-50 cents at 6 Hz
    phase = 2 * np.pi * np.cumsum(f0) / SR
    env = np.minimum(1, t / 0.02) * np.minimum(1, (t[-1] - t) / 0.02)
    note = 0.25 * env * sum(np.sin(k * phase) / k for k in range(1, 5))
    y = np.zeros(n)
    i = int(VIB_T0_S * SR)
    y[i:i + len(note)] = note[: max(0, n - i)]
    return y


def _music(duration_s=20.0):
    y = key_piece(2, "minor", MINOR_CADENCE, bars=9, bpm=TEMPO_BPM, seed=1).astype(float)
    n = int(duration_s * SR)
    y = np.resize(y, n)  # tile the loop
    y = y + 0.5 * click_track(TEMPO_BPM, duration_s)[:n]
    y[int(VIB_T0_S * SR): int(VIB_T1_S * SR)] *= 0.3  # the vibrato note leads there
    y = y + _vibrato_note(n)
    return (0.7 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def music_file(tmp_path_factory):
    """Stereo 44.1 kHz FLAC: exercises the channel mix and the streamed resampling."""
    import librosa

    y = _music()
    y44 = librosa.resample(y, orig_sr=SR, target_sr=44100)
    stereo = np.stack([y44, 0.8 * y44], axis=1)
    path = tmp_path_factory.mktemp("blockwise") / "music.flac"
    sf.write(path, stereo, 44100)
    return path


def _write_mp3(path, y, rate):
    """Stereo MP3 of ``y`` (22.05 kHz) at ``rate`` Hz, or a skip if libsndfile cannot write MP3."""
    import librosa

    y = librosa.resample(y, orig_sr=SR, target_sr=rate) if rate != SR else y
    try:
        sf.write(path, np.stack([y, 0.8 * y], axis=1), rate, format="MP3")
    except Exception:  # pragma: no cover - a libsndfile without MP3 support
        pytest.skip("this libsndfile cannot write MP3")
    return path


@pytest.fixture(scope="module")
def mp3_file(tmp_path_factory):
    """Stereo 44.1 kHz MP3 (MPEG-1 Layer III) of the same music, 20 s: more than 6 blocks."""
    return _write_mp3(tmp_path_factory.mktemp("blockwise_mp3") / "music.mp3", _music(), 44100)


@pytest.fixture(scope="module")
def whole(music_file):
    y, sr = load_audio(music_file)
    return y, frame_features(y, sr), f0_contour(y, sr)


@pytest.fixture(scope="module")
def blocks(music_file):
    return block_frames(music_file, block_s=BLOCK_S)


def _assert_frames_close(ff, fb, rel=1e-6):
    assert list(ff.values) == list(fb.values)
    assert len(fb.times) == len(ff.times)
    np.testing.assert_array_equal(fb.times, ff.times)
    for name, a in ff.values.items():
        b = fb.values[name]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        scale = np.nanmax(np.abs(a)) or 1.0
        err = np.nanmax(np.abs(a - b)) / scale
        assert err <= rel, f"{name}: {err:.2g} of its range"


def test_stream_equals_whole_decode(music_file, whole):
    """Streamed decode + mix + soxr resampling is the whole-file load_audio, bit for bit."""
    pieces = list(stream_samples(music_file, read_frames=10_000))
    assert len(pieces) > 10
    np.testing.assert_array_equal(np.concatenate(pieces), whole[0])


def test_frame_features_equal(whole, blocks):
    _, ff, contour = whole
    fb, cb = blocks
    assert fb.duration_s == ff.duration_s
    _assert_frames_close(ff, fb)
    # the whole-clip steps run on the joined frames: exact
    np.testing.assert_array_equal(fb.tempogram, ff.tempogram)
    np.testing.assert_array_equal(fb.onsets_s, ff.onsets_s)
    for name in ("times", "f0_hz", "voiced", "salience", "rms", "layers", "attack_db"):
        np.testing.assert_array_equal(getattr(cb, name), getattr(contour, name), err_msg=name)



def test_chroma_bit_identical(whole, blocks):
    """The chroma and what derives from it are the whole file's bit for bit, not only within 1e-6:
    each block's constant-Q transform takes its downsampled signals from streams over the whole
    file (one-shot soxr resampling of a block rounds differently, see the next test)."""
    ff, fb = whole[1], blocks[0]
    names = [k for k in ff.values if k.startswith(("chroma_", "tonnetz_", "local_key", "local_mode"))]
    names.append("harmonic_change")
    assert len(names) >= 12 + 6 + 2 + 1
    for name in names:
        np.testing.assert_array_equal(fb.values[name], ff.values[name], err_msg=name)


def test_octave_streams_equal_librosa_resampling():
    """_OctaveStreams gives librosa.cqt's chain of 2:1 resamplings of the whole signal bit for bit
    (odd lengths: fixed to ceil(n / 2) at every stage), fed in uneven pieces; a stretch resampled on
    its own does not (soxr HQ rounds in single precision, depending on where its input starts)."""
    import librosa

    from neuromer.audio.blockwise import _OctaveStreams

    y = np.random.default_rng(3).standard_normal(100_003).astype(np.float32) * 0.1
    streams = _OctaveStreams()
    for a in range(0, len(y), 7777):
        streams.push(y[a:a + 7777])
    assert streams.ready(len(y) // 2) and not streams.ready(len(y))  # soxr's streams lag a little
    streams.push(np.empty(0, np.float32), last=True)
    ref = y
    for k in range(5):
        ref = librosa.resample(ref, orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True)
        np.testing.assert_array_equal(streams.signals[k], ref, err_msg=f"stage {k}")
    # the same stretch of the first stage, resampled on its own from sample 32768: differs inside
    own = librosa.resample(y[32768:], orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True)
    inner = slice(4000, 30000)
    assert np.abs(own[inner] - streams.signals[0][16384:][inner]).max() > 0


def test_segment_chroma_equals_whole_chroma(whole):
    """The block path's constant-Q chroma (librosa's vqt steps on streamed octaves) is the
    whole-file chroma on the whole clip, bit for bit: guards against a librosa change."""
    from neuromer.audio.blockwise import _joined_chroma, _OctaveStreams, _segment_cqt
    from neuromer.audio.features import _chroma

    y = whole[0]
    streams = _OctaveStreams()
    streams.push(y, last=True)
    n = 1 + len(y) // HOP_LENGTH
    chroma = _joined_chroma(_segment_cqt(streams.segment(0, None)), n)
    np.testing.assert_array_equal(chroma, _chroma(y, SR, HOP_LENGTH, n))

def test_context_is_needed(music_file, whole):
    """Without context the frames at block borders differ (the equality above is not trivial)."""
    fb, _ = block_frames(music_file, block_s=BLOCK_S, context_s=0.0, melody=False)
    ff = whole[1]
    err = max(np.nanmax(np.abs(ff.values[k] - fb.values[k])) / np.nanmax(np.abs(ff.values[k]))
              for k in ("centroid_hz", "chroma_A", "hp_ratio_db"))
    assert err > 1e-3


def test_notes_across_block_border(whole, blocks):
    """The vibrato note spans a block border; notes, onsets and vibrato are the whole file's."""
    notes_w, notes_b = note_events(whole[2]), note_events(blocks[1])
    assert len(notes_b) == len(notes_w) > 10
    np.testing.assert_array_equal(notes_b["onset_s"], notes_w["onset_s"])
    np.testing.assert_array_equal(notes_b["offset_s"], notes_w["offset_s"])
    border_s = 3 * BLOCK_SAMPLES / SR
    vib = notes_b[(notes_b.onset_s < border_s) & (notes_b.offset_s > border_s) & (notes_b.midi.round() == 69)]
    assert len(vib) == 1
    assert vib.vibrato.iloc[0]
    assert abs(vib.vibrato_rate_hz.iloc[0] - 6.0) < 0.3
    assert abs(vib.vibrato_extent_cents.iloc[0] - 50.0) < 10.0


@pytest.mark.parametrize("fmt, windowed", [("flac", True), ("flac", False), ("mp3", True)])
def test_tables_equal(request, fmt, windowed):
    """audio_features: the same table either way; tempo, key, mode, key clarity, mode strength,
    melody columns and the statistics of the chroma and what derives from it exactly, the other
    frame-feature statistics within 1e-6 of each frame feature's range (x 10 / s for slopes). The
    MP3 is streamed (its samples are the whole decode's bit for bit), so the same holds for it."""
    music_file = request.getfixturevalue("music_file" if fmt == "flac" else "mp3_file")
    assert use_blocks(music_file, BLOCK_S)
    grid = dict(window_s=1.0, hop_s=0.5) if windowed else {}
    a = audio_features(music_file, block_s=math.inf, emotion=False, **grid)
    b = audio_features(music_file, block_s=BLOCK_S, emotion=False, **grid)
    assert list(a.columns) == list(b.columns)
    assert a.shape == b.shape and len(a) == (39 if windowed else 1)
    ff = frame_features(load_audio(music_file)[0])
    chroma_like = ("chroma_", "tonnetz_", "local_key", "local_mode", "harmonic_change")
    exact = [c for c in a.columns if not any(c.startswith(f"audio_{k}_") for k in ff.values)
             or c.startswith(tuple(f"audio_{k}" for k in chroma_like))]
    assert {"audio_key", "audio_mode", "audio_key_clarity", "audio_mode_strength", "audio_tempo_bpm",
            "audio_melody_pitch_mean", "audio_melody_vibrato_rate_hz", "audio_texture_layers_mean",
            "audio_chroma_A_mean", "audio_tonnetz_0_p50"} <= set(exact)
    # pd.testing with rtol=0 would also pass; exactness is the claim
    for c in exact:
        np.testing.assert_array_equal(a[c].to_numpy(), b[c].to_numpy(), err_msg=c)
    for name, x in ff.values.items():
        scale = np.nanmax(np.abs(x))
        for stat in ("mean", "std", "p10", "p50", "p90", "slope"):
            col = f"audio_{name}_{stat}"
            if col not in a:
                continue
            tol = 1e-6 * scale * (10 if stat == "slope" else 1)
            np.testing.assert_allclose(b[col], a[col], rtol=0, atol=tol, err_msg=col)
    # the known answers hold (and are the whole file's)
    clip = b if not windowed else audio_features(music_file, block_s=BLOCK_S, emotion=False)
    assert clip["audio_key"].iloc[0] == 2 and clip["audio_mode"].iloc[0] == 0  # D minor
    assert abs(clip["audio_tempo_bpm"].iloc[0] - TEMPO_BPM) < 1.0


@pytest.mark.parametrize("n_blocks", [3.0, 3.4])
def test_block_multiple_or_not(tmp_path, n_blocks):
    """A file of exactly 3 blocks (its last frame starts a block of its own) and one of 3.4."""
    y = _music(duration_s=10.5)[: int(n_blocks * BLOCK_SAMPLES)]
    path = tmp_path / "m.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    ff, contour = frame_features(y, SR), f0_contour(y, SR)
    fb, cb = block_frames(path, block_s=BLOCK_S)
    assert len(fb.times) == 1 + len(y) // HOP_LENGTH
    _assert_frames_close(ff, fb)
    np.testing.assert_array_equal(cb.f0_hz, contour.f0_hz)
    np.testing.assert_array_equal(cb.voiced, contour.voiced)


def test_use_blocks(tmp_path, music_file):
    assert use_blocks(music_file, BLOCK_S)  # 20 s > 2 x 3 s
    assert not use_blocks(music_file)  # default 60 s blocks: a 20 s clip takes the whole-file path
    assert not use_blocks(music_file, math.inf)
    assert not use_blocks((np.zeros(10 * SR, dtype=np.float32), SR), 1.0)  # arrays are whole already


def test_truncated_wav_warns(tmp_path, caplog):
    y = _music(duration_s=8.0)
    path = tmp_path / "cut.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2 * SR])  # the header still promises 8 s; 7 s are there
    with caplog.at_level(logging.WARNING, logger="neuromer"):
        table = audio_features(path, window_s=1.0, hop_s=0.5, block_s=BLOCK_S, emotion=False)
    msg = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(msg) == 1 and "cut.wav" in msg[0] and "8 s" in msg[0]
    assert table["duration_s"].iloc[0] == pytest.approx(7.0, abs=1e-3)


def test_truncated_flac_raises(tmp_path):
    y = _music(duration_s=8.0)
    path = tmp_path / "cut.flac"
    sf.write(path, y, SR)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut.flac: not a readable audio file") as info:
        audio_features(path, block_s=BLOCK_S, emotion=False)
    assert "\n" not in str(info.value)


def test_nan_samples_raise(tmp_path):
    y = _music(duration_s=8.0)
    y[5 * SR] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    with pytest.raises(DataFormatError, match=r"nan.wav: 1 samples are NaN or infinite"):
        audio_features(path, block_s=BLOCK_S, emotion=False)


@pytest.mark.parametrize("rate", [22050, 44100, 32000])
def test_mp3_stream_equals_whole_decode(tmp_path, monkeypatch, rate):
    """An MP3 (MPEG-2 at 22.05 kHz, MPEG-1 at 44.1 and 32 kHz) is streamed, not decoded whole, and
    its streamed samples are load_audio's bit for bit."""
    from neuromer.audio import blockwise

    path = _write_mp3(tmp_path / "m.mp3", _music(duration_s=6.0), rate)
    expected = load_audio(path)[0]

    def whole_decode(*args, **kwargs):
        raise AssertionError("the MP3 was decoded whole")

    monkeypatch.setattr(blockwise, "_array_pieces", whole_decode)
    pieces = list(stream_samples(path, read_frames=5000))
    assert len(pieces) > 10
    np.testing.assert_array_equal(np.concatenate(pieces), expected)


def test_truncated_mp3_stream_equals_whole_decode(tmp_path):
    """A cut MP3: its header (Xing frame count) promises more than the file holds; the stream stops
    where the whole-file decode stops, with the same samples."""
    path = _write_mp3(tmp_path / "cut.mp3", _music(duration_s=6.0), 44100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expected = load_audio(path)[0]
    assert len(expected) < 5.0 * SR
    np.testing.assert_array_equal(np.concatenate(list(stream_samples(path, read_frames=5000))), expected)


def test_corrupt_mp3_block_wise_is_a_one_line_error(tmp_path):
    """3000 random bytes inside a long MP3: libsndfile fails mid-stream, the whole-file decoder
    fails too, and the block-wise path reports the same one-line error as the whole-file path."""
    path = _write_mp3(tmp_path / "hole.mp3", _music(duration_s=8.0), 44100)
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 3000] = np.random.default_rng(0).bytes(3000)
    path.write_bytes(bytes(data))
    assert use_blocks(path, BLOCK_S)
    for block_s in (math.inf, BLOCK_S):
        with pytest.raises(DataFormatError, match=r"hole.mp3: not a readable audio file \(corrupt") as info:
            audio_features(path, block_s=block_s, melody=False, emotion=False)
        assert "\n" not in str(info.value)


def test_mp3_seek_between_reads_changes_samples(mp3_file):
    """Why the MP3 reader never seeks: soundfile's own block reads (a tell and a seek around every
    read) give other samples than the whole-file decode on this libsndfile (1.2.2). If this fails,
    libsndfile has fixed MPEG seeking; the sequential reader stays correct either way."""
    whole_decode, _ = sf.read(mp3_file, dtype="float32", always_2d=True)
    with sf.SoundFile(mp3_file) as fh:
        blocks = np.concatenate(list(fh.blocks(blocksize=50_000, dtype="float32", always_2d=True)))
    assert blocks.shape == whole_decode.shape
    assert np.abs(blocks - whole_decode).max() > 1e-3


@pytest.mark.parametrize("fmt, subtype, rate, ext", [("OGG", "VORBIS", 44100, "ogg"), ("OGG", "OPUS", 48000, "opus"),
                                                     ("WAV", "PCM_24", 32000, "wav"), ("AIFF", "PCM_16", 22050, "aiff")])
def test_stream_equals_whole_decode_per_format(tmp_path, fmt, subtype, rate, ext):
    """Streamed decoding and resampling (including 48 kHz -> 22.05 kHz, a non-integer ratio) give
    load_audio's samples bit for bit."""
    import librosa

    y = librosa.resample(_music(duration_s=3.0), orig_sr=SR, target_sr=rate)
    path = tmp_path / f"m.{ext}"
    try:
        sf.write(path, np.stack([y, 0.5 * y], axis=1), rate, format=fmt, subtype=subtype)
    except Exception:  # pragma: no cover - a libsndfile without this format
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    streamed = np.concatenate(list(stream_samples(path, read_frames=4000)))
    np.testing.assert_array_equal(streamed, load_audio(path)[0])
