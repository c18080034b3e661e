"""Training rows in memory and read group by group (flashsim_coffea/train/rows.py)."""

import numpy as np
import pytest
import torch

from flashsim_coffea.train import rows
from flashsim_coffea.train.flow import train_flow


def _epochs(p, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.cat([b[0][:, 0] for b in p.batches(gen)]) for _ in range(n)]


@pytest.mark.parametrize("buffer_rows", [10**6, 7])
def test_every_training_row_once_per_epoch_and_never_a_validation_row(buffer_rows):
    x = np.arange(40.0)[:, None]
    p = rows.prepare(rows.from_arrays(x, images=1), 0.25, seed=3, batch_size=4, buffer_rows=buffer_rows)
    val = set(p.val[0][:, 0].tolist())
    assert len(val) == 10 and p.n_train == 30
    # images follow their row: row i and its image i + 20 sit on the same side
    assert all((v + 20) % 40 in val for v in val)
    for epoch in _epochs(p, 3):
        assert sorted(epoch.tolist()) == sorted(set(range(40)) - val)
    a, b = _epochs(p, 2)
    assert not torch.equal(a, b)  # each epoch its own order
    assert all(torch.equal(u, v) for u, v in zip(_epochs(p, 2), _epochs(p, 2)))  # same generator, same batches


def test_groups_take_rows_from_every_part_of_the_table():
    # 1000 rows read 100 at a time: each group holds about as many rows of the first half as of
    # the second (a chunk-wise buffer would give groups of one half only)
    loads = []

    def load(r):
        loads.append(r)
        return [r.astype(np.float32)[:, None]]

    p = rows.prepare(rows.Rows(1000, load), 0.0, seed=1, batch_size=50, buffer_rows=100)
    loads.clear()
    _epochs(p, 1)
    assert len(loads) == 10 and all(len(r) == 100 for r in loads)
    low = [np.mean(r < 500) for r in loads]
    assert 0.3 < min(low) and max(low) < 0.7


@pytest.mark.parametrize("buffer_rows", [10**6, 300])
def test_weighted_draws_follow_the_weights(buffer_rows):
    x = np.arange(1000.0)[:, None]
    w = np.where(x[:, 0] < 100, 9.0, 1.0)  # 100 rows of weight 9 against 900 of weight 1: half the draws
    p = rows.prepare(rows.from_arrays(x, w), 0.0, seed=0, batch_size=25, weights=1, buffer_rows=buffer_rows)
    drawn = torch.cat(_epochs(p, 20))
    assert len(drawn) == 20_000
    assert abs(float((drawn < 100).float().mean()) - 0.5) < 0.02  # binomial sigma 0.0035 (draws per group: more)


def test_a_flow_trained_group_by_group_learns_the_same_distribution():
    rng = np.random.default_rng(4)
    c = rng.uniform(-1, 1, 20_000)
    x = np.stack([2 * c + 0.5 * rng.standard_normal(len(c))], 1)
    from flashsim_coffea.sim import flow

    for buffer_rows in (10**6, 4000):
        net, hist = train_flow(x, c[:, None], {"hidden": [32, 32]}, seed=1, epochs=8, batch_size=256, lr=2e-3,
                               buffer_rows=buffer_rows, progress=False)
        assert hist["n_train"] == 18_000 and hist["n_val"] == 2000
        s = np.asarray(flow.sample(net, np.full((5000, 1), 0.5), steps=16, solver="rk4",
                                   generator=torch.Generator().manual_seed(2)))[:, 0]
        assert abs(s.mean() - 1.0) < 0.08 and abs(s.std() / 0.5 - 1) < 0.12


def test_fit_sample_is_everything_when_it_fits_and_a_sample_beyond():
    rng = np.random.default_rng(0)
    assert rows.fit_sample(10, 1, rng, buffer_rows=20).tolist() == list(range(10))
    s = rows.fit_sample(1000, 1, rng, buffer_rows=100, fit_rows=200)
    assert len(s) == 100 and len(set(s.tolist())) == 100 and np.all(np.diff(s) > 0)
