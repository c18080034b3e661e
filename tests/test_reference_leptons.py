"""Reference detector: muons, electrons, photons and their isolation on real Pythia events."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import electrons, isolation, jetalgo, muons, photons, pythia, truth

try:  # helper H1's pileup model; a stand-in with the same fields otherwise
    from flashsim_coffea.reference import pileup as _pileup
except ImportError:  # pragma: no cover
    _pileup = None

N_DY, N_TT = 300, 100


def _standin_pileup(n_pu: np.ndarray, rng: np.random.Generator) -> ak.Array:
    """~90 soft particles per PU vertex in abs(eta) < 5, pT ~ Exp(0.5 GeV), vz ~ N(0, 50 mm)."""
    n_vtx = int(n_pu.sum())
    vz_vtx = rng.normal(0.0, 50.0, n_vtx)
    per = rng.poisson(90, n_vtx)
    n = int(per.sum())
    pt = rng.exponential(0.5, n)
    eta, phi = rng.uniform(-5, 5, n), rng.uniform(-np.pi, np.pi, n)
    q = rng.choice([-1, 0, 1], n, p=[1 / 3, 1 / 3, 1 / 3]).astype(np.float32)
    pid = np.where(q != 0, 211 * q, 22).astype(np.int32)
    mass = np.where(q != 0, 0.1396, 0.0)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    rec = ak.zip(
        {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "px": px, "py": py, "pz": pz,
         "energy": np.sqrt(px**2 + py**2 + pz**2 + mass**2), "pdgId": pid, "charge": q,
         "vz": np.repeat(vz_vtx, per)},
        depth_limit=1,
    )
    vtx_evt = np.repeat(np.arange(len(n_pu)), n_pu)
    return ak.unflatten(rec, np.bincount(np.repeat(vtx_evt, per), minlength=len(n_pu)))


def _jets(tr: ak.Array) -> ak.Array:
    """Stand-in reco jets: anti-kT 0.4 of visible truth particles (pT > 15)."""
    p = tr.particles
    a = abs(p.pdgId)
    j, _ = jetalgo.cluster(p[(a != 12) & (a != 14) & (a != 16)], 0.4, 15.0, hadrons=tr.hadrons, partons=tr.partons)
    return j


def _reco(tr: ak.Array, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n_pu = rng.poisson(35.0, len(tr))
    pu = _pileup.simulate_pileup(n_pu, rng) if _pileup is not None else _standin_pileup(n_pu, rng)
    jets = _jets(tr)
    cands = isolation.candidates(tr, pu)
    return {
        "truth": tr,
        "jets": jets,
        "Muon": muons.reconstruct_muons(tr, pu, jets, rng, iso_cands=cands),
        "Electron": electrons.reconstruct_electrons(tr, pu, jets, rng, iso_cands=cands),
        "Photon": photons.reconstruct_photons(tr, pu, jets, rng, iso_cands=cands),
        "pu": pu,
    }


@pytest.fixture(scope="module")
def samples() -> dict:
    dy = truth.make_truth(pythia.generate_block("dy", N_DY, 2024))
    tt = truth.make_truth(pythia.generate_block("ttbar", N_TT, 2025))
    return {"dy": _reco(dy, 5), "tt": _reco(tt, 6)}


def _f(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a))


def _dr(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _prompt_eff(s: dict, pdg: int, ptmin: float, lo: float, hi: float) -> tuple[int, int]:
    p = s["truth"].particles
    sel = (abs(p.pdgId) == pdg) & (p.pt > ptmin) & (abs(p.eta) >= lo) & (abs(p.eta) < hi) & ((p.statusFlags & 1) == 1)
    t = p[sel]
    reco = s["Muon" if pdg == 13 else "Electron"].genPartIdx
    found = ak.any(t.genPartIdx[:, :, None] == reco[:, None, :], axis=2)
    return int(ak.sum(found)), int(ak.sum(ak.num(t)))


#: lepton fields later stages add (the FSR photon and SV links)
LATER_LINKS = ("fsrPhotonIdx", "svIdx")


def test_schema_and_order(samples):
    for s in samples.values():
        for coll in ("Muon", "Electron", "Photon"):
            c = s[coll]
            fields = {f: dt for f, dt in schema.SCHEMA[coll].items() if f not in LATER_LINKS}  # stage alone
            assert list(c.fields) == list(fields), coll
            for f, dt in fields.items():
                assert ak.flatten(c[f]).layout.dtype == np.dtype(dt), (coll, f)
            assert ak.all(c.pt[:, 1:] <= c.pt[:, :-1])
    mu = samples["tt"]["Muon"]
    assert _f(mu.pt).min() > 3 and np.abs(_f(mu.eta)).max() < 2.4
    assert np.all(_f(mu.pdgId) == -13 * _f(mu.charge))
    el = samples["tt"]["Electron"]
    assert _f(el.pt).min() > 5 and np.abs(_f(el.eta)).max() < 2.5
    assert set(np.unique(_f(el.genPartFlav))) <= {0, 1, 3, 4, 5, 15, 22}
    assert set(np.unique(_f(samples["tt"]["Photon"].genPartFlav))) <= {0, 1, 11}


def test_prompt_muon_efficiency_and_resolution(samples):
    n_found = n_tot = 0
    for s in samples.values():
        k, n = _prompt_eff(s, 13, 20.0, 0.0, 2.4)
        n_found, n_tot = n_found + k, n_tot + n
    assert n_tot > 80
    assert n_found / n_tot >= 0.95
    # pT response of matched prompt muons vs the truth (GenPart pT has 8-bit precision only in
    # NanoAOD files; here it is the full float)
    s = samples["dy"]
    mu = s["Muon"][s["Muon"].genPartFlav == 1]
    g = s["truth"].GenPart[ak.values_astype(mu.genPartIdx, np.int64)]
    r, aeta = _f(mu.pt / g.pt), np.abs(_f(mu.eta))
    q = np.percentile(r[aeta < 0.9], [16, 50, 84])
    assert 0.005 < (q[2] - q[0]) / 2 < 0.02  # card 1.0%, [meas] 1.1%
    assert abs(q[1] - 1) < 0.005


def test_z_mumu_mass(samples):
    s = samples["dy"]
    mu = s["Muon"][(s["Muon"].genPartFlav == 1) & (s["Muon"].pt > 15)]
    two = ak.num(mu) == 2
    pair, gp = mu[two], s["truth"].GenPart[two]
    os_ = ak.to_numpy(pair.charge[:, 0] != pair.charge[:, 1])
    pair, gp = pair[os_], gp[os_]
    g = gp[ak.values_astype(pair.genPartIdx, np.int64)]

    def mass(pt, eta, phi):
        m2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
        return np.sqrt(ak.to_numpy(m2))

    m_reco = mass(pair.pt, pair.eta, pair.phi)
    m_gen = mass(g.pt, g.eta, g.phi)
    assert len(m_reco) > 25
    d = m_reco - m_gen
    q = np.percentile(d, [16, 84])
    assert 0.5 < (q[1] - q[0]) / 2 < 2.5  # detector core width (GeV)
    peak = m_reco[(m_reco > 81) & (m_reco < 101)]
    q = np.percentile(peak, [16, 50, 84])
    assert 1.0 < (q[2] - q[0]) / 2 < 4.5  # Breit-Wigner (Gamma/2 = 1.25 GeV) + resolution
    assert 89.0 < q[1] < 93.0


def test_muon_displacement_isolation_ids(samples):
    mu = samples["tt"]["Muon"]
    fl, sip = _f(mu.genPartFlav), _f(mu.sip3d)
    assert (fl == 5).sum() > 10 and (fl == 1).sum() > 10
    assert np.median(sip[fl == 5]) > 3 * np.median(sip[fl == 1])
    # prompt muons are isolated, b-decay muons are not
    iso4 = _f(mu.pfRelIso04_all)
    assert np.median(iso4[fl == 1]) < 0.2 < np.median(iso4[fl == 5])
    wp = np.asarray(muons.PARAMS["iso_wp"])
    assert np.array_equal(_f(mu.pfIsoId), (iso4[:, None] < wp[None, :]).sum(axis=1))
    tight, medium, loose = _f(mu.tightId), _f(mu.mediumId), _f(mu.looseId)
    assert np.all(medium <= loose) and np.all(tight <= medium)
    assert np.all(np.abs(_f(mu.dxy))[tight] < 0.2) and np.all(np.abs(_f(mu.dz))[tight] < 0.5)
    assert tight[fl == 1].mean() > 0.9
    # fakes (decays in flight, punch-through, misID): [meas] 0.35 unmatched per ttbar event
    n_fake = (fl == 0).sum() / len(mu)
    assert 0.1 < n_fake < 0.8
    assert np.all(_f(mu.genPartIdx)[fl == 0] == -1)


def test_links_point_to_matching_objects(samples):
    for s in samples.values():
        gp = s["truth"].GenPart
        for coll, pdg in (("Muon", (13,)), ("Electron", (11, 22))):  # electrons: conversions -> photon
            c = s[coll]
            c = c[c.genPartIdx >= 0]
            g = gp[ak.values_astype(c.genPartIdx, np.int64)]
            assert np.all(np.isin(np.abs(_f(g.pdgId)), pdg))
            assert np.all(_dr(_f(c.eta), _f(c.phi), _f(g.eta), _f(g.phi)) < 0.1)
        c = s["Muon"][s["Muon"].jetIdx >= 0]
        j = s["jets"][ak.values_astype(c.jetIdx, np.int64)]
        assert np.all(_dr(_f(c.eta), _f(c.phi), _f(j.eta), _f(j.phi)) < 0.4)


def test_electrons(samples):
    k_b, n_b = k_e, n_e = 0, 0
    for s in samples.values():
        k, n = _prompt_eff(s, 11, 20.0, 0.0, 1.444)
        k_b, n_b = k_b + k, n_b + n
        k, n = _prompt_eff(s, 11, 20.0, 1.566, 2.5)
        k_e, n_e = k_e + k, n_e + n
    assert 0.85 < k_b / n_b < 1.0  # [card] 95%
    assert 0.65 < k_e / n_e < 0.97  # [card] 85%
    s = samples["dy"]
    el = s["Electron"][s["Electron"].genPartFlav == 1]
    g = s["truth"].GenPart[ak.values_astype(el.genPartIdx, np.int64)]
    r, aeta = _f(el.pt / g.pt), np.abs(_f(el.eta))
    q = np.percentile(r[(aeta < 1.444) & (_f(el.pt) > 15)], [16, 84])
    assert 0.01 < (q[1] - q[0]) / 2 < 0.06  # [meas] prompt 2.5%
    cb, wp90, wp80 = _f(el.cutBased), _f(el.mvaIso_WP90), _f(el.mvaIso_WP80)
    assert 0.88 < np.mean(cb >= 1) and 0.5 < np.mean(cb >= 4) < 0.85  # ~95% veto, ~70% tight
    assert 0.8 < wp90.mean() and 0.65 < wp80.mean() <= wp90.mean()
    assert np.all(wp80 <= wp90)
    tt = samples["tt"]["Electron"]
    fl = _f(tt.genPartFlav)
    # non-prompt / fake electrons are mostly rejected by the IDs
    assert np.mean(_f(tt.cutBased)[(fl == 0) | (fl == 5)] >= 3) < 0.1
    assert np.median(_f(tt.sip3d)[fl == 5]) > 2 * np.median(_f(tt.sip3d)[fl == 1])
    conv = fl == 22
    if conv.any():
        assert _f(tt.convVeto)[conv].mean() < 0.8


def test_photons(samples):
    ph = samples["tt"]["Photon"]
    n_per_event = len(_f(ph.pt)) / len(ph)
    assert 0.1 < n_per_event < 1.5  # [meas] 0.4 in 2015 ttbar (PU ~12)
    fl, pix, veto = _f(ph.genPartFlav), _f(ph.pixelSeed), _f(ph.electronVeto)
    e_like = fl == 11
    assert e_like.sum() > 5 and pix[e_like].mean() > 0.6 and veto[e_like].mean() < 0.4
    assert _f(ph.pt).min() > 10
    # jet photons (flav 0) are non-isolated and mostly fail the IDs
    assert np.median(_f(ph.pfRelIso03_all)[fl == 0]) > 3 * np.median(_f(ph.pfRelIso03_all)[e_like])
    assert np.mean(_f(ph.mvaID_WP90)[fl == 0]) < 0.5
    eb, ee = _f(ph.isScEtaEB), _f(ph.isScEtaEE)
    assert not np.any(eb & ee)


def test_same_seed_same_output(samples):
    tr = samples["dy"]["truth"][:60]
    a, b = _reco(tr, 99), _reco(tr, 99)
    for coll in ("Muon", "Electron", "Photon"):
        assert ak.to_list(a[coll]) == ak.to_list(b[coll]), coll
    c = _reco(tr, 100)
    assert ak.to_list(a["Muon"].pt) != ak.to_list(c["Muon"].pt)


def test_shared_lepton_jet_functions_on_electrons(samples):
    """The lepton-jet quantities of :mod:`leptons` that muons use, applied to electrons."""
    from flashsim_coffea.reference import leptons

    rel = {}
    for name, s in samples.items():
        el = s["Electron"]
        evt = np.repeat(np.arange(len(el)), ak.num(el))
        jidx = _f(el.jetIdx).astype(np.int64)
        out = leptons.lepton_jet_fields("electron", s["jets"], evt, jidx, _f(el.pt), _f(el.eta), _f(el.phi),
                                        _f(el.pfRelIso03_all))
        assert np.array_equal(out["jetRelIso"][jidx < 0], _f(el.pfRelIso03_all)[jidx < 0])
        assert np.all(out["jetPtRelv2"][jidx < 0] == 0) and np.all(out["jetPtRelv2"] >= 0)
        nd = leptons.jet_ndau_charged(isolation.candidates(s["truth"], s["pu"]), s["jets"], evt, jidx, _f(el.eta),
                                      _f(el.phi), np.full(len(evt), -1), _f(el.dxy), _f(el.dz), np.random.default_rng(1),
                                      np.zeros(len(evt), bool))
        assert np.all(nd[jidx < 0] == 0) and np.all(nd[jidx >= 0] >= 0)
        rel[name] = (out["jetRelIso"], _f(el.genPartFlav), nd, jidx)
    r, fl, nd, jidx = (np.concatenate([rel[k][i] for k in rel]) for i in range(4))
    # prompt electrons carry their jet (ptRatio ~ 1), b-decay electrons share it with the b hadron's debris
    assert np.median(r[fl == 1]) < 0.5 < 2.0 < np.median(r[fl == 5])
    # the electron's own track is counted (self_idx -1, no separate self term): >= 1 daughter when in a jet
    assert np.mean(nd[(jidx >= 0) & (fl == 1)] >= 1) > 0.8
    q = np.array([1, 1, -1, 1])
    tc = leptons.tight_charge("electron", q_gsf=q, q_ctf=np.array([1, -1, -1, 0]), q_sc=np.array([1, 1, 1, 1]))
    assert tc.tolist() == [2, 1, 0, 1]
