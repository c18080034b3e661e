"""benchmarks/auc_spread.py: classifier-seed spread of the two-sample AUC and its flash-vs-flash null."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location(
    "auc_spread", Path(__file__).resolve().parents[1] / "benchmarks" / "auc_spread.py"
)
auc_spread = importlib.util.module_from_spec(spec)
spec.loader.exec_module(auc_spread)


def test_null_is_near_half_and_a_shift_is_seen():
    rng = np.random.default_rng(3)
    flash = rng.normal(size=(2400, 3))
    same = rng.normal(size=(600, 3))
    shifted = same + np.array([1.0, 0.0, 0.0])  # one column 1σ off: true AUC Φ(1/√2) = 0.76
    auc_same, null = auc_spread.spread(flash, same, seeds=3)
    auc_shift, _ = auc_spread.spread(flash, shifted, seeds=3)
    assert auc_same.shape == null.shape == (3,)
    assert abs(auc_same.mean() - 0.5) < 0.05 and abs(null.mean() - 0.5) < 0.05
    assert 0.70 < auc_shift.mean() < 0.82


def test_null_needs_twice_the_fullsim_rows():
    with pytest.raises(SystemExit, match="need 2 x 300"):
        auc_spread.spread(np.zeros((500, 2)), np.zeros((300, 2)), seeds=1)


def test_gen_objects_reach_both_splits(monkeypatch):
    """With the rows' gen objects, the flash-vs-FullSim AUC and the null both split by them: the null's groups are
    those of the very flash rows it compares."""
    flash = np.c_[np.arange(800.0), np.zeros(800)]  # column 0: the row's own number
    ref = np.zeros((200, 2))
    groups = (np.arange(800) // 4, np.arange(200))  # 4 replicas a gen object
    seen = []

    def spy(a, b, seed, g=None):
        seen.append((a, b, g))
        return 0.5

    monkeypatch.setattr(auc_spread, "two_sample_auc", spy)
    auc_spread.spread(flash, ref, seeds=2, groups=groups)
    assert len(seen) == 4 and seen[0][2] is groups and seen[2][2] is groups
    for a, b, g in (seen[1], seen[3]):  # the nulls
        assert np.array_equal(g[0], a[:, 0].astype(int) // 4) and np.array_equal(g[1], b[:, 0].astype(int) // 4)
        assert not set(a[:, 0]) & set(b[:, 0])
