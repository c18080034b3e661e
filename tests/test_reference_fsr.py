"""Reference detector: NanoAOD's FSR photons (``FsrPhoton``) and the lepton links on real Pythia Z events.

Z -> mumu events with pileup through the PF candidates, muons and electrons of the reference detector,
then :func:`flashsim_coffea.reference.fsr.reconstruct_fsr`: names and dtypes against the real files,
CMSSW's cuts (recomputed here by brute force), the links both ways, and the physics (the photons fix
m(mumu) towards the Z mass). Z -> ee events check the electron side and its footprint veto.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import electrons, fsr, muons, sanity
from flashsim_coffea.reference.fsr import PARAMS

N_MUMU, N_EE = 400, 100


def _reco(block: dict) -> dict:
    """Muons, electrons and the FSR photons of a :func:`reference_block` (conftest)."""
    tr, pu, jet, rho, cands, r = (block[k] for k in ("truth", "pu", "jets", "rho", "cands", "rng"))
    mu = muons.reconstruct_muons(tr, pu, jet, r[4], rho=rho, iso_cands=cands, pv_xy=block["pv_xy"])
    el = electrons.reconstruct_electrons(tr, pu, jet, r[5], rho=rho, iso_cands=cands)
    pf, counts = block["extras"]["pf"], block["extras"]["pf_counts"]
    ph, mu_idx, el_idx = fsr.reconstruct_fsr(pf, counts, mu, el, tr)
    mu, el = fsr.add_links(mu, el, mu_idx, el_idx)
    return {"truth": tr, "pf": pf, "counts": counts, "Muon": mu, "Electron": el, "FsrPhoton": ph}


@pytest.fixture(scope="module")
def mumu(reference_block) -> dict:
    return _reco(reference_block("dy_mumu", N_MUMU, 41))


@pytest.fixture(scope="module")
def ee(reference_block) -> dict:
    return _reco(reference_block("dy", N_EE, 42))


def _f(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a))


def _dr(eta1, phi1, eta2, phi2):
    dphi = (np.asarray(phi1, np.float64) - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(np.asarray(eta1, np.float64) - eta2, dphi)


def test_names_and_dtypes_match_the_real_files(mumu, nanoaod_dir, v12_file):
    ph = mumu["FsrPhoton"]
    assert list(ph.fields) == list(schema.SCHEMA["FsrPhoton"])
    for f, dt in schema.SCHEMA["FsrPhoton"].items():
        assert ak.flatten(ph[f]).layout.dtype == np.dtype(dt), f
    old = uproot.open(nanoaod_dir / "nano_dy.root")["Events"]
    real = {k[len("FsrPhoton_"):]: old[k].interpretation.content.to_dtype.newbyteorder("=")
            for k in old.keys() if k.startswith("FsrPhoton_")}
    assert set(ph.fields) - set(real) == {"electronIdx"}  # v12 adds the electrons
    for f, dt in real.items():
        # the pre-v12 file writes muonIdx int32; v12 (cmssw fsrPhotons_cff.py) writes int16 indices
        assert ak.flatten(ph[f]).layout.dtype == (np.dtype("int16") if f == "muonIdx" else dt), f
    v12 = uproot.open(v12_file)["Events"]
    for coll in ("Muon", "Electron"):
        want = v12[f"{coll}_fsrPhotonIdx"].interpretation.content.to_dtype.newbyteorder("=")
        assert ak.flatten(mumu[coll].fsrPhotonIdx).layout.dtype == want == np.dtype("int16"), coll
        fields = mumu[coll].fields
        assert "fsrPhotonIdx" in fields and fields == [f for f in schema.SCHEMA[coll] if f in fields], coll
    assert ak.all(ph.pt[:, 1:] <= ph.pt[:, :-1])


def test_cuts_hold_and_match_brute_force(mumu):
    """Every photon passes CMSSW's cuts, recomputed here from the PF candidates one by one."""
    ph, mu, pf = mumu["FsrPhoton"], mumu["Muon"], mumu["pf"]
    pt, eta = _f(ph.pt), _f(ph.eta)
    assert len(pt) > 40
    assert pt.min() >= PARAMS["photon_pt_min"] and np.abs(eta).max() <= PARAMS["photon_eta_max"]
    assert _f(ph.relIso03).max() <= PARAMS["rel_iso_max"] and _f(ph.dROverEt2).max() < PARAMS["dr_over_et2_max"]
    off = np.concatenate([[0], np.cumsum(mumu["counts"])])
    apid, ppt = np.abs(pf["pdgId"]), pf["pt"]
    checked = 0
    for e in np.flatnonzero(ak.num(ph) > 0)[:25]:
        sl = slice(off[e], off[e + 1])
        for p in ph[e]:
            # the photon is a PF photon of the event
            k = off[e] + np.flatnonzero((np.abs(pf["pt"][sl] - p.pt) < 1e-3 * p.pt) & (apid[sl] == 22)
                                         & (np.abs(pf["eta"][sl] - p.eta) < 1e-5))
            assert len(k) == 1
            d = _dr(pf["eta"][sl], pf["phi"][sl], pf["eta"][k[0]], pf["phi"][k[0]])
            ch = (apid[sl] == 211) & (ppt[sl] > 0.2) & (d > 1e-4)
            neu = np.isin(apid[sl], (22, 130)) & (ppt[sl] > 0.5) & (d > 0.01)
            iso = ppt[sl][(ch | neu) & (d < 0.3)].sum() / pf["pt"][k[0]]
            assert iso == pytest.approx(float(p.relIso03), rel=1e-5, abs=1e-6)
            # the closest eligible muon is the linked one, at dR / pT^2 = dROverEt2
            m = {f: mu[f][e].to_numpy().astype(np.float64) for f in ("pt", "eta", "phi")}
            dm = _dr(m["eta"], m["phi"], p.eta, p.phi)
            ok = (m["pt"] >= 3) & (np.abs(m["eta"]) <= 2.4) & (dm < 0.5) & (dm / p.pt**2 < PARAMS["dr_over_et2_max"])
            if p.muonIdx >= 0:
                assert int(p.muonIdx) == int(np.flatnonzero(ok)[np.argmin(dm[ok])])
                assert float(p.dROverEt2) == pytest.approx(dm[p.muonIdx] / p.pt**2, rel=1e-4)
            else:
                assert not ok.any()
            checked += 1
    assert checked >= 20


def test_links_both_ways(mumu, ee):
    for s in (mumu, ee):
        ph = s["FsrPhoton"]
        assert ak.all((ph.muonIdx >= 0) != (ph.electronIdx >= 0))  # one lepton per photon
        for coll, field in (("Muon", "muonIdx"), ("Electron", "electronIdx")):
            for e in range(len(ph)):
                back = ph[field][e].to_numpy()
                link = s[coll].fsrPhotonIdx[e].to_numpy()
                d = ph.dROverEt2[e].to_numpy()
                assert np.all(back < len(link)) and np.all(link < len(back))
                for i, j in enumerate(link):
                    mine = np.flatnonzero(back == i)
                    # the lepton's photon is the one of smallest dROverEt2 among those pointing to it
                    assert j == (mine[np.argmin(d[mine])] if len(mine) else -1), (coll, e, i)
    assert ak.sum(mumu["Muon"].fsrPhotonIdx >= 0) > 40
    assert ak.sum(ee["Electron"].fsrPhotonIdx >= 0) > 0


def test_electron_footprint_veto(ee):
    """PF photons from the supercluster of a reco electron (its brems and collinear FSR) are vetoed; the
    kept electron photons are outside it."""
    pf, counts, el = ee["pf"], ee["counts"], ee["Electron"]
    photons = np.flatnonzero((pf["pdgId"] == 22) & (pf["pt"] >= 2))
    veto = fsr.electron_footprint(pf, counts, photons, ee["truth"], el)
    evt = np.repeat(np.arange(len(counts)), counts)[photons]
    near = np.zeros(len(photons), bool)
    for e in np.unique(evt[veto]):
        s = evt == e
        near[s] = (_dr(pf["eta"][photons[s]][:, None], pf["phi"][photons[s]][:, None],
                       _f(el[e:e + 1].eta)[None], _f(el[e:e + 1].phi)[None]) < 0.1).any(axis=1)
    assert veto.sum() >= 3
    assert near[veto].mean() > 0.9  # the footprint sits on the electrons
    kept = ee["FsrPhoton"][ee["FsrPhoton"].electronIdx >= 0]
    assert ak.sum(ak.num(kept)) > 0


def test_recovered_photon_moves_mmumu_towards_the_z(mumu):
    d = {f"{c}_{f}": mumu[c][f] for c in ("Muon", "FsrPhoton") for f in mumu[c].fields}
    r = sanity.fsr_recovery(ak.Array(d))
    assert r["z_events"] > 120
    assert 0.08 < r["rate"] < 0.4 and 0.02 < r["rate_hzz"] < 0.15
    assert r["dm_after"] < 0.7 * r["dm_before"]  # median |m - mZ| with the H -> ZZ photons added
    assert r["improved"] > 0.55


@pytest.mark.slow
def test_fsr_rate_and_spectrum_on_5k_events():
    """Loose: the figures ``benchmarks/reference_sanity.py`` prints for 5k dy_mumu events."""
    from flashsim_coffea.reference import cache

    path = cache.sample("dy_mumu", 5000, 1, workers=2, progress=False)
    r = sanity.fsr_recovery(uproot.open(path)["Events"].arrays(filter_name=["Muon_*", "FsrPhoton_*"]))
    assert r["z_events"] > 1500
    assert 0.08 < r["rate"] < 0.35
    assert 0.03 < r["rate_hzz"] < 0.12  # CMS: ~5% of Z -> mumu events (arXiv:1706.09936)
    assert 3 < r["pt_median"] < 15 and 0.1 < r["pt_frac_2_5"] < 0.6 and r["pt_frac_20_inf"] < 0.3
    assert r["dr_median"] < 0.15
    assert r["improved"] > 0.55 and r["dm_after"] < 0.7 * r["dm_before"]
