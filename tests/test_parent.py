"""The parent mechanism (specs.source.Parent): engine lookup and training restriction against brute force."""

import awkward as ak
import numpy as np

from flashsim_coffea.sim.engine import parent_positions
from flashsim_coffea.specs.source import PARENT_COLUMN, Parent, Source
from flashsim_coffea.train.extract import has_parent


def _random_parents(rng, n_events):
    counts = rng.integers(0, 5, n_events)
    links = [rng.choice([-1, 0, 1, 2, 3, 5, 8], c).tolist() for c in counts]
    return ak.Array([[{"genPartIdx": v} for v in ev] for ev in links]), links


def test_parent_positions_match_a_loop():
    rng = np.random.default_rng(3)
    parents, links = _random_parents(rng, 300)
    flash = rng.integers(0, 300, 2000)
    gidx = rng.choice([-1, 0, 1, 2, 3, 4, 5, 8], 2000)
    got = parent_positions(parents, "genPartIdx", flash, gidx)
    want = [next((j for j, v in enumerate(links[f]) if v == g and g >= 0), -1) for f, g in zip(flash, gidx)]
    assert got.tolist() == want
    assert (got >= 0).sum() > 300 and (got == -1).sum() > 300  # both outcomes are exercised


def test_parent_positions_without_any_parent():
    empty = ak.Array([[{"genPartIdx": 1}], []])[:, :0]
    assert parent_positions(empty, "genPartIdx", np.array([0, 1]), np.array([1, 2])).tolist() == [-1, -1]


def test_has_parent_matches_a_loop():
    rng = np.random.default_rng(5)
    parents, links = _random_parents(rng, 200)
    cand_idx = [rng.choice([-1, 0, 1, 2, 4, 5, 9], rng.integers(0, 4)).tolist() for _ in range(200)]
    cand = ak.Array([[{"parent_idx": v, "idx": i} for i, v in enumerate(ev)] for ev in cand_idx])
    src = Source("FsrPhoton", "muon", candidates="GenPhoton", conditioning=[], targets={},
                 parent=Parent("Muon", "genPartIdx"))
    got = has_parent(ak.Array({"Muon": parents}), cand, src).tolist()
    assert got == [[v >= 0 and v in links[e] for v in ev] for e, ev in enumerate(cand_idx)]
    assert src.parent.column == PARENT_COLUMN


def test_has_parent_counts_only_eligible_parents():
    """``Parent.eligible``: a candidate counts only where its parent object passes the rule (here parents of
    odd gen index), against brute force; both outcomes occur."""
    rng = np.random.default_rng(7)
    parents, links = _random_parents(rng, 200)
    cand_idx = [rng.choice([-1, 0, 1, 2, 3, 5, 9], rng.integers(0, 4)).tolist() for _ in range(200)]
    cand = ak.Array([[{"parent_idx": v, "idx": i} for i, v in enumerate(ev)] for ev in cand_idx])
    src = Source("FsrPhoton", "muon", candidates="GenPhoton", conditioning=[], targets={},
                 parent=Parent("Muon", "genPartIdx", eligible=lambda mu: mu.genPartIdx % 2 == 1))
    got = has_parent(ak.Array({"Muon": parents}), cand, src).tolist()
    want = [[v >= 0 and v % 2 == 1 and v in links[e] for v in ev] for e, ev in enumerate(cand_idx)]
    assert got == want
    flat = [x for ev in want for x in ev]
    assert sum(flat) > 50 and sum(not x for x in flat) > 50
