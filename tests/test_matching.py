"""Reco-gen matching (train/matching.py): the vectorised greedy ΔR assignment against a pair-by-pair
loop, on random events and on the jets of a real CMS file; joint assignment across candidate sets."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod.angles import delta_phi
from flashsim_coffea.sim.candidates import select
from flashsim_coffea.train import matching
from flashsim_coffea.train.extract import read


def _loop(cands: list[list[tuple[float, float, int]]], reco: list[tuple[float, float]], limits: list[float]):
    """Pair-by-pair greedy in plain Python: per set, per candidate, its reco index (-1: none)."""
    pairs = []
    for s, cs in enumerate(cands):
        for i, (eta, phi, _) in enumerate(cs):
            for j, (reta, rphi) in enumerate(reco):
                dr = float(np.hypot(eta - reta, delta_phi(np.float64(phi), np.float64(rphi))))
                if dr < limits[s]:
                    pairs.append((dr, s, i, j))
    out = [[-1] * len(cs) for cs in cands]
    used_c, used_r = set(), set()
    # ties: the earlier candidate of the concatenation (set order, then position), then the earlier reco object
    for _dr, s, i, j in sorted(pairs, key=lambda p: (p[0], sum(len(c) for c in cands[: p[1]]) + p[2], p[3])):
        if (s, i) in used_c or j in used_r:
            continue
        out[s][i] = j
        used_c.add((s, i))
        used_r.add(j)
    return out


def test_greedy_agrees_with_the_pair_by_pair_loop_on_random_events():
    rng = np.random.default_rng(7)
    events_a, events_b, events_r = [], [], []
    for _ in range(400):
        def objs(n):
            return [(float(e), float(p), 0) for e, p in zip(rng.normal(0, 0.3, n), rng.normal(0, 0.3, n))]
        events_a.append(objs(rng.integers(0, 5)))
        events_b.append(objs(rng.integers(0, 3)))
        events_r.append([(e, p) for e, p, _ in objs(rng.integers(0, 6))])

    def arr(evs):
        return ak.Array([[{"eta": e, "phi": p} for e, p, *_ in ev] for ev in evs])

    got = matching.match_dr({"a": arr(events_a), "b": arr(events_b)}, arr(events_r), {"a": 0.3, "b": 0.5})
    matched = 0
    for k in range(400):
        want = _loop([events_a[k], events_b[k]], events_r[k], [0.3, 0.5])
        assert got["a"][k].tolist() == want[0] and got["b"][k].tolist() == want[1], k
        matched += sum(j >= 0 for j in want[0] + want[1])
    assert matched > 300  # the check is not vacuous
    # one reco object serves one candidate of either set
    both = ak.concatenate([got["a"], got["b"]], axis=1)
    for row in both.tolist():
        taken = [j for j in row if j >= 0]
        assert len(taken) == len(set(taken))


@pytest.fixture(scope="module")
def tt(nanoaod_dir):
    return read([nanoaod_dir / "nano_tt_v12.root"], entry_stop=200)


def test_dr_matching_of_real_genjets_agrees_with_the_loop_and_mostly_with_the_links(tt):
    genjets = select(tt, "GenJet")
    by_dr = matching.match(genjets, tt.Jet, max_dr=0.4)
    by_link = matching.match(genjets, tt.Jet, link="genJetIdx")
    for k in range(len(tt)):
        cands = [[(float(g.eta), float(g.phi), 0) for g in genjets[k]]]
        reco = [(float(j.eta), float(j.phi)) for j in tt.Jet[k]]
        assert by_dr[k].tolist() == _loop(cands, reco, [0.4])[0], k
    linked = ak.flatten(by_link) >= 0
    same = ak.flatten(by_dr)[linked] == ak.flatten(by_link)[linked]
    assert ak.sum(linked) > 1000 and ak.mean(same) > 0.97


def test_extraction_claims_of_sv_sources_share_no_vertex(tt_sample):
    from flashsim_coffea.train.extract import claims

    ev = read([tt_sample])
    got = claims(ev, "SV")
    assert set(got) == {"hadron", "tau"}
    both = ak.concatenate([got["hadron"], got["tau"]], axis=1)
    counts = [len([j for j in row if j >= 0]) for row in both.tolist()]
    assert sum(counts) > 100
    assert all(len(set(j for j in row if j >= 0)) == n for row, n in zip(both.tolist(), counts))
