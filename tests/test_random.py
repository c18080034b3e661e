"""Counter-based draws: distribution, determinism, independence from batching."""

from __future__ import annotations

import numpy as np

from flashsim_coffea.sim import random as fr


def test_uniform_and_normal_distributions():
    keys = fr.event_keys(np.ones(200_000), np.ones(200_000), np.arange(200_000, dtype=np.uint64))
    u = fr.uniform(11, keys, 0)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    z = fr.normal(11, keys, 0)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # tails as a Gaussian's: P(|z| > 3) = 0.0027
    assert 0.0020 < np.mean(np.abs(z) > 3) < 0.0034
    # no correlation between neighbouring keys or between streams
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(z, fr.normal(11, keys, 1))[0, 1]) < 0.01


def test_same_key_same_draw_regardless_of_batch():
    keys = fr.event_keys(np.full(100, 3), np.arange(100), np.arange(100, dtype=np.uint64) * 7)
    full = fr.normal(5, keys[:, None], np.arange(4)[None, :])
    part = fr.normal(5, keys[37:61, None], np.arange(4)[None, :])
    np.testing.assert_array_equal(full[37:61], part)
    assert not np.array_equal(full, fr.normal(6, keys[:, None], np.arange(4)[None, :]))
