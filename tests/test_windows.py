import numpy as np
import pandas as pd
import pytest

from neuromer.errors import NeuromerError
from neuromer.windows import KEY_COLUMNS, WindowGrid, sliding_windows


def test_grid_counts_and_table():
    g = WindowGrid(1.0, 0.5)
    assert g.n_windows(60.0) == 119
    assert g.n_windows(0.5) == 0
    # marker jitter: a 2 s stimulus measured as 1.995 s keeps its third window, 1.98 s does not
    assert g.n_windows(1.995) == 3 and g.n_windows(1.98) == 2
    np.testing.assert_allclose(g.starts(2.0), [0.0, 0.5, 1.0])
    tab = g.table(pd.DataFrame({"trial": [1, 2], "stimulus_id": ["a", "b"], "duration_s": [2.0, 1.0]}), "07")
    assert tuple(tab.columns) == KEY_COLUMNS
    assert len(tab) == 3 + 1
    assert (tab.t_end - tab.t_start == 1.0).all() and set(tab.subject) == {"07"}


def test_sliding_windows_are_the_right_samples():
    sfreq = 4.0
    data = np.arange(2 * 20, dtype=float).reshape(1, 2, 20)  # 5 s at 4 Hz
    w = sliding_windows(data, sfreq, WindowGrid(1.0, 0.5), start_s=1.0)
    assert w.shape == (1, 2, 7, 4)  # 4 s after onset -> 7 windows of 4 samples
    np.testing.assert_array_equal(w[0, 0, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(w[0, 1, 2], [28, 29, 30, 31])
    assert sliding_windows(data, sfreq, WindowGrid(1.0, 0.5), start_s=1.0, duration_s=0.9).shape[-2] == 0


def test_bad_grid_values():
    with pytest.raises(NeuromerError, match="window_s"):
        WindowGrid(-1.0, 0.5)
    with pytest.raises(NeuromerError, match="shorter than one sample"):
        WindowGrid(0.001, 0.001).samples(128)
