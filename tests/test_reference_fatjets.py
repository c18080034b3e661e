"""Reference detector: FatJet, SubJet and SubGenJetAK8 (reference/fatjets.py) on boosted Pythia events.

A small boosted ttbar and a boosted ZH -> bb block through the whole detector (``simulate_block``): the
v12 names and dtypes, the consistency of the substructure fields and links, and the soft-drop mass of
top-, W- and H -> bb-matched jets. The 5k-event peaks are asserted by the slow tests/test_reference_sanity.py.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import fatjets, generate, genlevel, jets, pileup, processes, pythia, sanity, truth

#: the boosted processes of reference/processes.py (local settings if a checkout lacks them)
_FALLBACK = {
    "ttbar_boosted": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "PhaseSpace:pTHatMin = 400."],
    "zh_boosted": ["HiggsSM:ffbar2HZ = on", "25:m0 = 125.0", "25:onMode = off", "25:onIfMatch = 5 -5", "23:onMode = off",
                   "23:onIfAny = 12 14 16", "PhaseSpace:pTHatMin = 250."],
}
N_EVENTS = {"ttbar_boosted": 70, "zh_boosted": 60}


def _flat(a) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a)).astype(np.float64)


@pytest.fixture(scope="module")
def samples() -> dict:
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, settings in _FALLBACK.items():
            if name not in processes.PROCESSES:
                mp.setitem(processes.PROCESSES, name, ("boosted (test fallback)", settings))
        for seed, (name, n) in enumerate(N_EVENTS.items(), start=31):
            out[name] = generate.simulate_block(name, seed, 0, n)["branches"]
    return out


def _events(b: dict) -> ak.Array:
    """The branches as NanoAOD-style flat names (``FatJet_pt``, ...)."""
    cols = {}
    for coll in ("FatJet", "SubJet", "GenJetAK8", "SubGenJetAK8", "GenPart"):
        for f in b[coll].fields:
            cols[f"{coll}_{f}"] = b[coll][f]
    return ak.Array(cols)


def _v12(path, prefix: str) -> dict[str, str]:
    tree = uproot.open(path)["Events"]
    arr = tree.arrays(filter_name=[f"{prefix}_*"], entry_stop=5)
    return {k[len(prefix) + 1:]: str(arr[k].type.content.content) for k in arr.fields}


def test_names_and_dtypes_match_real_files(samples, v12_file, nanoaod_dir):
    fat_real = _v12(v12_file, "FatJet")
    assert len(fat_real) == 48
    for name, b in samples.items():
        fj, sj, sg = b["FatJet"], b["SubJet"], b["SubGenJetAK8"]
        assert list(fj.fields) == list(schema.SCHEMA["FatJet"]), name
        assert {f: str(fj[f].type.content.content) for f in fj.fields} == fat_real, name
        assert {f: str(sg[f].type.content.content) for f in sg.fields} == _v12(v12_file, "SubGenJetAK8")
        # SubJet: absent from the v12 file; the nano_dy fields (less the retired CMVA / CSVv2) plus the v12 flavour
        dy = _v12(nanoaod_dir / "nano_dy.root", "SubJet")
        old = {k: v for k, v in dy.items() if k not in ("btagCMVA", "btagCSVV2")}
        ours = {f: str(sj[f].type.content.content) for f in sj.fields}
        assert {k: ours[k] for k in old} == old
        assert {k: ours[k] for k in ("hadronFlavour", "nBHadrons", "nCHadrons")} == {
            k: fat_real[k] for k in ("hadronFlavour", "nBHadrons", "nCHadrons")}
        assert set(ours) == set(old) | {"hadronFlavour", "nBHadrons", "nCHadrons"}


def test_kinematics_and_substructure(samples):
    for name, b in samples.items():
        fj = b["FatJet"]
        pt, eta, mass, msd = (_flat(fj[k]) for k in ("pt", "eta", "mass", "msoftdrop"))
        assert len(pt) > N_EVENTS[name]  # boosted events: more than one fat jet per event on average
        assert pt.min() > 170 and ak.all(fj.pt[:, 1:] <= fj.pt[:, :-1])
        raw = pt * (1 - _flat(fj.rawFactor))
        has_sd = raw > fatjets.PARAMS["sd_raw_ptmin"]
        assert np.all(msd[~has_sd] == -1) and np.all(msd[has_sd] >= 0)
        # grooming removes mass, but the subjets get their own (larger, lower-pT) L2L3 correction: msoftdrop can
        # pass the mass by a few % ([meas] nano_tt_v12: in 36% of the jets, by at most 6.7%)
        assert np.all(msd <= mass * 1.08 + 0.5) and np.mean(msd > mass) < 0.5
        taus = np.stack([_flat(fj[f"tau{i}"]) for i in range(1, 5)])
        assert np.all((taus >= 0) & (taus <= 1))
        t21, t32 = taus[1] / np.maximum(taus[0], 1e-9), taus[2] / np.maximum(taus[1], 1e-9)
        # minimised one-pass axes: tau_(N+1) <= tau_N but for rare local minima ([meas] nano_tt_v12: always)
        assert np.mean((t21 >= 0) & (t21 <= 1)) > 0.98 and np.mean((t32 >= 0) & (t32 <= 1)) > 0.98
        n2, n3 = _flat(fj.n2b1), _flat(fj.n3b1)
        assert np.all(n2[~has_sd] == -99968) and np.all(n3[~has_sd] == -99968)
        ok2 = has_sd & (n2 != -1)
        assert ok2.mean() > 0.8 and np.all((n2[ok2] > 0) & (n2[ok2] < 0.6))
        assert np.all(n3[has_sd & (raw < fatjets.PARAMS["n3_raw_ptmin"])] == -1)
        assert 1.0 < np.median(n3[n3 > 0]) < 3.0  # [meas] nano_tt_v12: 1.3-2.1
        area = _flat(fj.area)
        assert 1.8 < np.median(area) < 2.2  # pi 0.8^2 = 2.01, [meas] 2.025
        # tight + lepton veto: all but the jets of Z -> ll leptons (zh_boosted) ([meas] nano_tt_v12: 97%)
        assert set(np.unique(_flat(fj.jetId))) <= {0, 2, 6} and np.mean(_flat(fj.jetId) == 6) > 0.8
        nb, nc, hf = _flat(fj.nBHadrons), _flat(fj.nCHadrons), _flat(fj.hadronFlavour)
        assert np.array_equal(hf, np.where(nb > 0, 5, np.where(nc > 0, 4, 0)))


def test_links_subjets_and_genjets(samples):
    for b in samples.values():
        fj, sj, ga = b["FatJet"], b["SubJet"], b["GenJetAK8"]
        i1, i2 = fj.subJetIdx1, fj.subJetIdx2
        assert ak.all((i1 == -1) == (i2 == -1)) and ak.all((i2 == i1 + 1) | (i1 == -1))
        assert ak.all(ak.num(sj) == ak.sum(i1 >= 0, axis=1) * 2)
        valid = i1 >= 0
        assert ak.all(ak.fill_none(ak.max(i2, axis=1), -1) < ak.num(sj))
        # the two subjets sum to the soft-drop mass (both calibrated)
        s1, s2 = sj[ak.mask(i1, valid)], sj[ak.mask(i2, valid)]
        px = s1.pt * np.cos(s1.phi) + s2.pt * np.cos(s2.phi)
        py = s1.pt * np.sin(s1.phi) + s2.pt * np.sin(s2.phi)
        pz = s1.pt * np.sinh(s1.eta) + s2.pt * np.sinh(s2.eta)
        e = np.sqrt((s1.pt * np.cosh(s1.eta)) ** 2 + s1.mass**2) + np.sqrt((s2.pt * np.cosh(s2.eta)) ** 2 + s2.mass**2)
        m = ak.to_numpy(ak.flatten(ak.drop_none(np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0)))))
        msd = _flat(fj.msoftdrop[valid])
        assert np.allclose(m, msd, rtol=0.02, atol=0.5)
        assert ak.all(sj.pt[:, ::2] >= sj.pt[:, 1::2])  # harder subjet first
        assert set(np.unique(_flat(sj.hadronFlavour))) <= {0, 4, 5}
        # genJetAK8Idx: the closest GenJetAK8 within R/2, each used once
        g = fj.genJetAK8Idx
        assert np.mean(_flat(g) >= 0) > 0.9
        gm = ga[ak.mask(g, g >= 0)]
        dphi = (fj.phi - gm.phi + np.pi) % (2 * np.pi) - np.pi
        dr = _flat(ak.drop_none(np.sqrt((fj.eta - gm.eta) ** 2 + dphi**2)))
        assert dr.max() < fatjets.PARAMS["genjet_dr"]
        used = g[g >= 0]
        assert ak.all(ak.num(used) == ak.num([np.unique(x) for x in used.tolist()]))
        # SubGenJetAK8: two per GenJetAK8 (a single-particle declustering aside), harder first
        sg = b["SubGenJetAK8"]
        assert ak.all(ak.num(sg) <= 2 * ak.num(ga)) and ak.sum(ak.num(sg)) >= 1.9 * ak.sum(ak.num(ga))


def test_tagger_defaults_and_truth(samples):
    ev = _events(samples["zh_boosted"])
    fj = samples["zh_boosted"]["FatJet"]
    raw = _flat(fj.pt) * (1 - _flat(fj.rawFactor))
    pnet_on = (raw > fatjets.PARAMS["pnet_raw_ptmin"]) & (np.abs(_flat(fj.eta)) < fatjets.PARAMS["pnet_eta_max"])
    xbb = _flat(fj.particleNet_XbbVsQCD)
    assert np.all((xbb == -10) == ~pnet_on) and np.all((_flat(fj.particleNet_massCorr) == 0) == ~pnet_on)
    assert np.all(_flat(fj.btagHbb) == -1000)
    qcd = _flat(fj.particleNet_QCD)
    parts = sum(_flat(fj[f"particleNet_QCD{k}HF"]) for k in range(3))
    assert np.allclose(qcd[pnet_on], parts[pnet_on], atol=0.01)
    h = sanity.fatjet_matches(ev)["Hbb"]
    assert h.sum() >= 20
    on_h, off_h = pnet_on & h, pnet_on & ~h
    assert np.median(xbb[on_h]) > 0.7 and np.median(xbb[off_h]) < 0.3
    assert np.median(_flat(fj.particleNetWithMass_HbbvsQCD)[on_h]) > 0.7
    assert np.mean(_flat(fj.nBHadrons)[h] >= 2) > 0.7
    # the regressed mass (massCorr x mass) of H jets sits near 125 GeV
    reg = _flat(fj.particleNet_massCorr) * _flat(fj.mass)
    assert 110 < np.median(reg[on_h]) < 140
    lsf, mu3, el3 = _flat(fj.lsf3), _flat(fj.muonIdx3SJ), _flat(fj.electronIdx3SJ)
    assert np.all((lsf == -1) == ((mu3 == -1) & (el3 == -1))) and not np.any((mu3 >= 0) & (el3 >= 0))


def test_soft_drop_mass_peaks(samples):
    """Medians of matched jets' soft-drop mass (few jets here; the 5k-event peaks: the sanity benchmark)."""
    tt = sanity.fatjet_matches(_events(samples["ttbar_boosted"]))
    zh = sanity.fatjet_matches(_events(samples["zh_boosted"]))
    for mt, name, lo, hi in ((tt, "top", 150, 190), (tt, "W", 70, 95), (zh, "Hbb", 105, 135)):
        m = mt["msoftdrop"][mt[name] & (mt["msoftdrop"] > 0)]
        assert len(m) >= 15, name
        assert lo < np.median(m) < hi, (name, np.median(m))


def test_stage_is_deterministic_and_seeded():
    tr = truth.make_truth(pythia.generate_block("zh_llbb", 12, 5))
    gen = genlevel.gen_collections(tr)
    rng = np.random.default_rng(2)
    n_pu = rng.poisson(30, len(tr))
    pu = pileup.simulate_pileup(n_pu, rng)
    rho = pileup.event_quantities(n_pu, n_pu, pu, rng, truth=tr)["Rho_fixedGridRhoFastjetAll"]
    _, ex = jets.reconstruct_jets(tr, pu, gen["GenJet"], rho, rng, return_extras=True)
    # lower the threshold so that this small unboosted sample has fat jets
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(fatjets.PARAMS, "ptmin", 60.0)
        mp.setitem(fatjets.PARAMS, "cluster_ptmin", 40.0)
        a = fatjets.reconstruct_fatjets(tr, ex["pf"], ex["pf_counts"], gen, None, None, np.random.default_rng(9))
        b = fatjets.reconstruct_fatjets(tr, ex["pf"], ex["pf_counts"], gen, None, None, np.random.default_rng(9))
        c = fatjets.reconstruct_fatjets(tr, ex["pf"], ex["pf_counts"], gen, None, None, np.random.default_rng(10))
    assert ak.sum(ak.num(a[0])) > 5
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
    assert a[0].particleNet_XbbVsQCD.tolist() != c[0].particleNet_XbbVsQCD.tolist()
    assert a[0].msoftdrop.tolist() != c[0].msoftdrop.tolist()  # the detector factor is a draw too
