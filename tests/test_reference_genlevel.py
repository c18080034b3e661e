"""Reference detector: generator-level collections and hadronic taus on real Pythia ttbar and DY."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import genlevel, jets, pileup, pythia, taus, truth

N_EVENTS = {"ttbar": 150, "dy": 300}
SEED = 5151


def _jets(tr: ak.Array, genjet: ak.Array, seed: int) -> ak.Array:
    rng = np.random.default_rng(seed)
    n_pu = rng.poisson(35.0, len(tr))
    pu = pileup.simulate_pileup(n_pu, rng)
    ev = pileup.event_quantities(n_pu.astype(np.float32), n_pu, pu, rng, truth=tr)
    return jets.reconstruct_jets(tr, pu, genjet, ev["Rho_fixedGridRhoFastjetAll"], rng)


@pytest.fixture(scope="module")
def samples() -> dict:
    out = {}
    for k, process in enumerate(("ttbar", "dy")):
        tr = truth.make_truth(pythia.generate_block(process, N_EVENTS[process], SEED + k))
        gen = genlevel.gen_collections(tr)
        jet = _jets(tr, gen["GenJet"], 3 + k)
        tau = taus.reconstruct_taus(tr, gen["GenVisTau"], jet, np.random.default_rng(11 + k))
        out[process] = {"truth": tr, "gen": gen, "jets": jet, "tau": tau}
    return out


def _np(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a)).astype(np.float64)


def _dr(eta1, phi1, eta2, phi2):
    return np.hypot(eta1 - eta2, (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi)


def _same_dtypes(name: str, arr: ak.Array) -> None:
    assert set(arr.fields) == set(schema.SCHEMA[name]), name
    for f, dt in schema.SCHEMA[name].items():
        assert ak.flatten(arr[f]).layout.dtype == np.dtype(dt), (name, f)


def test_schema(samples):
    for process, s in samples.items():
        gen = s["gen"]
        for name in ("GenJet", "GenJetAK8", "GenVisTau", "GenDressedLepton", "GenIsolatedPhoton"):
            _same_dtypes(name, gen[name])
            assert ak.all(gen[name].pt[:, 1:] <= gen[name].pt[:, :-1]), name
        _same_dtypes("Tau", s["tau"])
        for k in ("GenMET_pt", "GenMET_phi"):
            assert gen[k].dtype == np.dtype(schema.SCHEMA[""][k]) and gen[k].shape == (N_EVENTS[process],)


def test_genjets(samples):
    gj = samples["ttbar"]["gen"]["GenJet"]
    assert _np(gj.pt).min() > 10.0
    assert _np(samples["ttbar"]["gen"]["GenJetAK8"].pt).min() > 100.0
    assert set(np.unique(_np(gj.hadronFlavour))) <= {0, 4, 5}
    n = ak.num(gj)
    assert 7.0 < ak.mean(n) < 11.0  # [meas] 8.5 GenJets per ttbar event (notes section 7)
    nb = ak.sum((gj.pt > 30) & (gj.hadronFlavour == 5), axis=1)
    assert ak.mean(nb) >= 1.5  # two b quarks per ttbar event
    # hadron-flavour b jets carry a b parton flavour most of the time
    pf = _np(abs(gj.partonFlavour[gj.hadronFlavour == 5]))
    assert np.mean(pf == 5) > 0.8


def test_genmet(samples):
    for name, s in samples.items():
        p = s["truth"].particles
        a = _np(abs(p.pdgId))
        counts = ak.to_numpy(ak.num(p))
        evt = np.repeat(np.arange(len(counts)), counts)
        nu = (a == 12) | (a == 14) | (a == 16)
        px = np.bincount(evt[nu], weights=_np(p.px)[nu], minlength=len(counts))
        py = np.bincount(evt[nu], weights=_np(p.py)[nu], minlength=len(counts))
        met = s["gen"]["GenMET_pt"]
        assert np.allclose(met, np.hypot(px, py), rtol=2e-3, atol=1e-4), name
        big = np.hypot(px, py) > 5
        dphi = (s["gen"]["GenMET_phi"] - np.arctan2(py, px) + np.pi) % (2 * np.pi) - np.pi
        assert np.abs(dphi[big]).max() < 5e-3
    # ttbar events with a leptonic W (e, mu or tau daughter of a W) have real GenMET
    g = samples["ttbar"]["truth"].GenPart
    mother = g.pdgId[ak.where(g.genPartIdxMother >= 0, g.genPartIdxMother, 0)]
    lepw = ak.any((abs(g.pdgId) >= 11) & (abs(g.pdgId) <= 16) & (abs(mother) == 24) & (g.genPartIdxMother >= 0), axis=1)
    met = samples["ttbar"]["gen"]["GenMET_pt"]
    lepw = ak.to_numpy(lepw)
    assert lepw.sum() > 0.4 * N_EVENTS["ttbar"]
    assert np.all(met[lepw] > 0) and np.median(met[lepw]) > 25.0
    assert np.median(met[lepw]) > 2 * np.median(met[~lepw])


def test_genvistau(samples):
    n_tot = 0
    for s in samples.values():
        gv = s["gen"]["GenVisTau"]
        gp = s["truth"].GenPart
        mom = gp[ak.values_astype(gv.genPartIdxMother, np.int64)]
        assert np.all(_np(abs(mom.pdgId)) == 15)
        assert np.all(_dr(_np(gv.eta), _np(gv.phi), _np(mom.eta), _np(mom.phi)) < 0.2)
        # GenPart pt keeps 8 mantissa bits: allow 0.5% rounding
        assert np.all(_np(gv.pt) < _np(mom.pt) * 1.005)
        assert _np(gv.pt).min() > 10.0
        assert set(np.unique(_np(gv.status))) <= {0, 1, 2, 10, 11, 15}
        assert set(np.unique(_np(gv.charge))) <= {-1, 1}
        n_tot += len(_np(gv.pt))
    st = _np(samples["dy"]["gen"]["GenVisTau"].status)
    assert len(st) > 30
    assert 0.25 < np.mean(st == 1) < 0.6  # h pi0 is the largest hadronic mode (~40%)
    assert np.mean(st == 15) < 0.25


def test_dressed_leptons_and_photons(samples):
    lep = samples["dy"]["gen"]["GenDressedLepton"]
    assert set(np.unique(np.abs(_np(lep.pdgId)))) <= {11, 13}
    assert _np(lep.pt).min() > 15.0 and np.abs(_np(lep.eta)).max() < 2.5
    two = lep[ak.num(lep) >= 2]
    assert len(two) > 0.25 * N_EVENTS["dy"]
    l1, l2 = two[:, 0], two[:, 1]
    mll = np.sqrt(2 * l1.pt * l2.pt * (np.cosh(l1.eta - l2.eta) - np.cos(l1.phi - l2.phi)))
    assert 80.0 < np.median(ak.to_numpy(mll)) < 100.0
    # leptons from Z -> tau tau -> l carry hasTauAnc; most DY leptons are direct
    htau = _np(lep.hasTauAnc)
    assert 0 < htau.mean() < 0.3
    # ttbar: leptons from W (and W -> tau), not from b-hadron decays: ~ 0.5-1 per event
    assert 0.3 < ak.mean(ak.num(samples["ttbar"]["gen"]["GenDressedLepton"])) < 1.2
    pho = samples["dy"]["gen"]["GenIsolatedPhoton"]
    if len(_np(pho.pt)):
        assert _np(pho.pt).min() > 10.0 and np.abs(_np(pho.eta)).max() < 2.5


def test_taus(samples):
    for s in samples.values():
        tau, gv, jet = s["tau"], s["gen"]["GenVisTau"], s["jets"]
        pt, eta = _np(tau.pt), _np(tau.eta)
        assert pt.min() > 18.0 and np.abs(eta).max() < 2.3
        assert set(np.unique(_np(tau.decayMode))) <= {0, 1, 2, 10, 11}
        raw, wp = _np(tau.rawDeepTau2018v2p5VSjet), _np(tau.idDeepTau2018v2p5VSjet)
        assert np.all((raw >= 0) & (raw <= 1)) and wp.min() >= 1
        assert np.array_equal(wp, np.searchsorted(taus.WP_VSJET, raw, side="right"))
        assert ak.all(tau.pt[:, 1:] <= tau.pt[:, :-1])
        assert np.all(_np(tau.idDecayModeNewDMs))
        flav, gidx = _np(tau.genPartFlav), _np(tau.genPartIdx)
        assert set(np.unique(flav)) <= {0, 5}
        assert np.all(gidx[flav == 0] == -1)
        gen = tau[tau.genPartFlav == 5]
        g = gv[ak.values_astype(gen.genPartIdx, np.int64)]
        assert np.all(_dr(_np(gen.eta), _np(gen.phi), _np(g.eta), _np(g.phi)) < 0.2)
        has = tau[tau.jetIdx >= 0]
        j = jet[ak.values_astype(has.jetIdx, np.int64)]
        assert np.all(_dr(_np(has.eta), _np(has.phi), _np(j.eta), _np(j.phi)) < 0.4)
        assert np.abs(_np(tau.dxy)).max() < 0.5 and np.median(np.abs(_np(tau.dz))) < 0.05  # cm
    # DY: efficiency and response for genuine taus
    tau, gv = samples["dy"]["tau"], samples["dy"]["gen"]["GenVisTau"]
    gen = tau[tau.genPartFlav == 5]
    g = gv[ak.values_astype(gen.genPartIdx, np.int64)]
    resp = _np(gen.pt) / _np(g.pt)
    assert 0.9 < np.median(resp) < 1.05
    acc = (gv.pt > 20) & (abs(gv.eta) < 2.1)
    counts = ak.to_numpy(ak.num(gv))
    off = np.concatenate([[0], np.cumsum(counts)[:-1]])
    reco = np.zeros(counts.sum(), bool)
    evt = np.repeat(np.arange(len(counts)), ak.to_numpy(ak.num(gen)))
    reco[off[evt] + _np(gen.genPartIdx).astype(int)] = True
    a = _np(acc).astype(bool)
    assert a.sum() > 40
    assert 0.4 < reco[a].mean() < 0.85  # 0.61 on 1500 DY events
    # ttbar: jet fakes exist, with lower scores than genuine taus
    tt = samples["ttbar"]["tau"]
    fake = _np(tt.rawDeepTau2018v2p5VSjet[tt.genPartFlav == 0])
    assert len(fake) > 3
    genuine = np.concatenate([_np(t.rawDeepTau2018v2p5VSjet[t.genPartFlav == 5]) for t in (tt, tau)])
    assert np.median(fake) < np.median(genuine)


def test_reproducible(samples):
    s = samples["dy"]
    again = genlevel.gen_collections(s["truth"])
    for k, v in s["gen"].items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(v, again[k])
        else:
            assert ak.array_equal(v, again[k]), k
    t1 = taus.reconstruct_taus(s["truth"], s["gen"]["GenVisTau"], s["jets"], np.random.default_rng(12))
    assert ak.array_equal(t1, s["tau"])
    t2 = taus.reconstruct_taus(s["truth"], s["gen"]["GenVisTau"], s["jets"], np.random.default_rng(99))
    assert not ak.array_equal(t2, s["tau"]) or len(_np(t2.pt)) == 0
