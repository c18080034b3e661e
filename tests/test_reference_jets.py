"""Reference detector: pileup, PF candidates, AK4 jets, b-tagging and MET on real Pythia ttbar."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod import jet_links, schema
from flashsim_coffea.reference import jetalgo, jets, met, pflow, pileup, pythia, truth

N_EVENTS = 150
SEED = 4242


def _genjets(tr: ak.Array) -> ak.Array:
    p = tr.particles
    a = abs(p.pdgId)
    gj, _ = jetalgo.cluster(p[(a != 12) & (a != 14) & (a != 16)], 0.4, 10.0, hadrons=tr.hadrons, partons=tr.partons)
    return gj


def _run(tr: ak.Array, gj: ak.Array, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n_pu = rng.poisson(35.0, len(tr))
    pu = pileup.simulate_pileup(n_pu, rng)
    ev = pileup.event_quantities(n_pu.astype(np.float32), n_pu, pu, rng, truth=tr)
    j, ex = jets.reconstruct_jets(tr, pu, gj, ev["Rho_fixedGridRhoFastjetAll"], rng, return_extras=True)
    m = met.reconstruct_met(tr, pu, {"Jet": j}, rng, jet_extras=ex)
    return {"n_pu": n_pu, "pu": pu, "ev": ev, "jets": j, "extras": ex, "met": m}


@pytest.fixture(scope="module")
def sample() -> dict:
    tr = truth.make_truth(pythia.generate_block("ttbar", N_EVENTS, SEED))
    gj = _genjets(tr)
    return {"truth": tr, "genjets": gj, **_run(tr, gj, 7)}


def _flat(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a)).astype(np.float64)


def test_schema_and_codes(sample):
    j = sample["jets"]
    links = {f for fields in jet_links.FIELDS.values() for f in fields}  # added once the leptons exist
    links |= {"svIdx1", "svIdx2", "nSVs"}  # added by the SV stage
    assert set(j.fields) == set(schema.SCHEMA["Jet"]) - links
    for f in j.fields:
        assert ak.flatten(j[f]).layout.dtype == np.dtype(schema.SCHEMA["Jet"][f]), f
    pt, eta = _flat(j.pt), _flat(j.eta)
    assert pt.min() > 15 and np.abs(eta).max() < 4.7
    assert ak.all(j.pt[:, 1:] <= j.pt[:, :-1])
    assert set(np.unique(_flat(j.jetId))) <= {0, 2, 6}
    assert set(np.unique(_flat(j.puId))) <= {0, 4, 6, 7}
    assert np.all(_flat(j.puId)[pt >= 50] == 7)
    assert set(np.unique(_flat(j.hadronFlavour))) <= {0, 4, 5}
    fr = sum(_flat(j[k]) for k in ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF"))
    assert np.allclose(fr, 1.0, atol=1e-3)
    area = _flat(j.area)
    assert 0.45 < np.median(area) < 0.53  # pi 0.4^2 = 0.503, [meas] median 0.499
    tight = (_flat(j.jetId).astype(int) & 2) > 0
    assert tight[(pt > 30) & (np.abs(eta) < 2.5)].mean() > 0.9


def test_event_quantities(sample):
    ev, n_pu = sample["ev"], sample["n_pu"]
    for k, v in ev.items():
        assert v.dtype == np.dtype(schema.SCHEMA[""][k]), k
    slope = np.polyfit(n_pu, ev["Rho_fixedGridRhoFastjetAll"], 1)[0]
    assert 0.4 < slope < 0.8  # [meas] 0.586 per PU interaction
    good = np.polyfit(n_pu, ev["PV_npvsGood"].astype(float), 1)[0]
    assert 0.5 < good < 0.85  # [meas] 0.674
    # CHS: only PU tracks are flagged as not from the PV; every PU interaction balances
    f = sample["extras"]["pf"]
    assert np.all(f["truthIdx"][~f["fromPV"]] == -1)
    pu = sample["pu"]
    assert np.abs(ak.to_numpy(ak.sum(pu.px, axis=1))).mean() < 10.0


def _matched(sample):
    j, gj = sample["jets"], sample["genjets"]
    m = j.genJetIdx >= 0
    jm = j[m]
    g = gj[ak.values_astype(jm.genJetIdx, np.int64)]
    return jm, g


def test_genjet_links_and_response(sample):
    jm, g = _matched(sample)
    dphi = np.mod(_flat(jm.phi) - _flat(g.phi) + np.pi, 2 * np.pi) - np.pi
    dr = np.hypot(_flat(jm.eta) - _flat(g.eta), dphi)
    assert dr.max() < 0.2 + 1e-3
    gpt, geta = _flat(g.pt), np.abs(_flat(g.eta))
    r = _flat(jm.pt) / gpt
    central = geta < 1.3
    for lo, hi in ((30, 50), (50, 100), (100, 1000)):
        s = central & (gpt >= lo) & (gpt < hi)
        assert s.sum() > 40
        assert abs(np.median(r[s]) - 1) < 0.04, (lo, hi, np.median(r[s]))
    s = central & (gpt >= 30) & (gpt < 50)
    q = np.percentile(r[s], [16, 50, 84])
    assert 0.10 < (q[2] - q[0]) / 2 / q[1] < 0.25  # UL18 JER 0.14-0.18 (notes section 7)
    # most reco jets above 30 GeV have a GenJet (PU / fake jets ~2-3% [meas])
    j = sample["jets"]
    pt = _flat(j.pt)
    unmatched = (_flat(j.genJetIdx) < 0)[pt > 30].mean()
    assert unmatched < 0.08


def test_btag_working_point(sample):
    j = sample["jets"]
    pt, eta, fl, b = _flat(j.pt), np.abs(_flat(j.eta)), _flat(j.hadronFlavour), _flat(j.btagDeepFlavB)
    s = (pt > 30) & (eta < 2.5)
    assert b[eta < 2.5].min() >= np.float32(0.0016) and b.max() <= 0.99951
    eff = {f: (b[s & (fl == f)] > 0.2783).mean() for f in (5, 4, 0)}
    assert 0.65 < eff[5] < 0.95
    assert eff[5] > eff[4] > eff[0]
    assert eff[0] < 0.05
    # no tracks, no tag: low flavour-blind scores beyond the tracker [meas]
    assert np.median(b[eta > 3]) < 0.1


def test_met_resolution(sample):
    tr, m = sample["truth"], sample["met"]
    p = tr.particles
    a = abs(p.pdgId)
    nu = p[(a == 12) | (a == 14) | (a == 16)]
    gx, gy = ak.to_numpy(ak.sum(nu.px, axis=1)), ak.to_numpy(ak.sum(nu.py, axis=1))
    mx, my = m["MET_pt"] * np.cos(m["MET_phi"]), m["MET_pt"] * np.sin(m["MET_phi"])
    d = np.concatenate([mx - gx, my - gy])
    q = np.percentile(d, [16, 84])
    assert 18 < (q[1] - q[0]) / 2 < 42  # [meas] 29.7 GeV in ttbar at <sumEt> 2167
    assert 1500 < m["MET_sumEt"].mean() < 2900
    assert np.all(m["MET_covXX"] > 0) and np.all(m["MET_significance"] >= 0)
    for v in m.values():
        assert v.dtype == np.float32


def test_same_seed_same_output(sample):
    tr, gj = sample["truth"][:40], sample["genjets"][:40]
    a = _run(tr, gj, 99)
    b = _run(tr, gj, 99)
    for f in a["jets"].fields:
        assert ak.all(a["jets"][f] == b["jets"][f]), f
    assert np.array_equal(a["met"]["MET_pt"], b["met"]["MET_pt"])
    c = _run(tr, gj, 100)
    assert not np.array_equal(a["met"]["MET_pt"], c["met"]["MET_pt"])


def test_pf_candidates(sample):
    pf = pflow.build(sample["truth"][:20], sample["pu"][:20], np.random.default_rng(1))
    for f in ("px", "py", "pz", "energy", "pt", "eta", "phi", "pdgId", "charge", "fromPV", "kind", "truthIdx"):
        assert f in pf.fields
    kinds = set(np.unique(ak.to_numpy(ak.flatten(pf.kind))))
    assert kinds <= set(pflow.KIND.values())
    trk = ak.flatten(pf[(pf.kind <= 3)])
    assert np.abs(ak.to_numpy(trk.eta)).max() < 2.5
