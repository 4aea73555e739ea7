"""The audio feature cache entries (neuromer.audio._cache): exact round trips, safe reads, recovery."""

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from neuromer.audio import audio_features
from neuromer.audio._cache import UnreadableEntry, read_entry, write_entry
from neuromer.audio.summary import cache_file

from ._signals import SR, click_track


def _mixed(rows):
    rng = np.random.default_rng(3)
    x = rng.normal(size=rows)
    if rows:
        x[0] = -0.0
    special = np.array([np.nan, np.inf, -np.inf, 5e-324, -0.0][:rows] + [1.0] * max(0, rows - 5))
    # a NaN with a payload: raw binary keeps it, a text or float32 detour would not
    payload = np.frombuffer(np.uint64(0x7FF8000000000ABC).tobytes(), dtype=np.float64)[0]
    return pd.DataFrame({
        "window": np.arange(rows, dtype=np.int64),
        "audio_a": x,
        "audio_key": [["C major", None, "a minor"][i % 3] for i in range(rows)],
        "audio_special": special,
        "audio_f32": np.linspace(0, 1, rows, dtype=np.float32),
        "audio_flag": np.arange(rows) % 2 == 0,
        "audio_u8": np.arange(rows, dtype=np.uint8),
        "audio_payload": np.full(rows, payload),
        "audio_b": x[::-1].copy(),  # float64 again after other dtypes: column order must come back
    })


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_round_trip_is_bit_for_bit(tmp_path, rows):
    table = _mixed(rows)
    write_entry(table, tmp_path / "e.npz")
    back = read_entry(tmp_path / "e.npz")
    pd.testing.assert_frame_equal(back, table, check_exact=True)
    assert list(back.dtypes) == list(table.dtypes)
    for c in table.columns:  # bits, not just values: -0.0 and the NaN payload survive
        if table[c].dtype.kind == "f":
            assert back[c].to_numpy().tobytes() == table[c].to_numpy().tobytes()
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]  # written via a renamed temporary file


def test_unsupported_columns_are_refused(tmp_path):
    with pytest.raises(TypeError, match="audio_t"):
        write_entry(pd.DataFrame({"audio_t": pd.to_datetime(["2020-01-01"])}), tmp_path / "e.npz")
    with pytest.raises(TypeError, match="str/None"):
        write_entry(pd.DataFrame({"audio_o": [object()]}), tmp_path / "e.npz")
    assert not list(tmp_path.iterdir())


def test_cut_short_foreign_and_pickled_entries_are_unreadable(tmp_path):
    entry = tmp_path / "e.npz"
    write_entry(_mixed(3), entry)
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableEntry):
        read_entry(entry)
    np.savez(entry, header=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(UnreadableEntry, match="not a neuromer-table"):
        read_entry(entry)
    # an object array would need unpickling: refused, nothing is run
    np.savez(entry, header=np.array([{"format": "neuromer-table"}], dtype=object))
    with pytest.raises(UnreadableEntry):
        read_entry(entry)


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "clicks.wav"
    sf.write(p, click_track(100, 3.0), SR)
    return p


def test_a_cut_short_cache_entry_is_recomputed_with_a_warning(wav, tmp_path, caplog):
    cache = tmp_path / "cache"
    fresh = audio_features(wav, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    entry = cache_file(wav, cache, window_s=1.0, hop_s=0.5, melody=False)
    entry.write_bytes(entry.read_bytes()[:100])  # as a system crash can leave an entry that was not fsynced
    with caplog.at_level(logging.INFO, logger="neuromer"):
        again = audio_features(wav, window_s=1.0, hop_s=0.5, melody=False, cache_dir=cache)
    assert "cache entry unreadable, recomputed" in caplog.text and "from cache" not in caplog.text
    pd.testing.assert_frame_equal(again, fresh, check_exact=True)
    pd.testing.assert_frame_equal(read_entry(entry)[fresh.columns], fresh, check_exact=True)  # rewritten whole


def test_entries_of_the_parquet_layout_are_still_read(wav, tmp_path, caplog):
    cache = tmp_path / "cache"
    fresh = audio_features(wav, melody=False, cache_dir=cache)
    entry = cache_file(wav, cache, melody=False)
    legacy = entry.with_suffix(".parquet")  # what the previous version wrote under the same key
    read_entry(entry).assign(audio_rms_db_mean=-1.0).to_parquet(legacy, index=False)
    entry.unlink()
    with caplog.at_level(logging.INFO, logger="neuromer"):
        old = audio_features(wav, melody=False, emotion=False, cache_dir=cache)
    assert "from cache" in caplog.text
    assert old["audio_rms_db_mean"].iloc[0] == -1.0  # the value came from the old entry
    pd.testing.assert_frame_equal(old.drop(columns="audio_rms_db_mean"),
                                  fresh[old.columns].drop(columns="audio_rms_db_mean"), check_exact=True)
