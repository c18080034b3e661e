"""Reference detector, event level: MET flavours, PV fit quality, rho variants, pileup summary and
MET filters on Pythia ttbar with pileup, checked against physics and the real NanoAOD v12 file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import met_filters, schema, triggers
from flashsim_coffea.reference import detector, pythia, truth

N_EVENTS = 160
SEED = 2718

#: event-level fields this stage adds (the rest of SCHEMA[""] existed before)
NEW = [
    k
    for k in schema.SCHEMA[""]
    if k.split("_")[0] in ("RawMET", "ChsMET", "PuppiMET", "RawPuppiMET", "HLT", "Flag")
    or k
    in (
        "MET_MetUnclustEnUpDeltaX", "MET_MetUnclustEnUpDeltaY", "MET_sumPtUnclustered", "MET_fiducialGenPt",
        "MET_fiducialGenPhi", "PV_chi2", "PV_ndof", "PV_score", "Rho_fixedGridRhoAll",
        "Rho_fixedGridRhoFastjetCentralCalo", "Rho_fixedGridRhoFastjetCentralChargedPileUp",
        "Rho_fixedGridRhoFastjetCentralNeutral", "Pileup_sumEOOT", "Pileup_sumLOOT", "Pileup_pudensity",
        "Pileup_gpudensity",
    )
]


def _s68(x: np.ndarray) -> float:
    return float(np.quantile(x, 0.84) - np.quantile(x, 0.16)) / 2


@pytest.fixture(scope="module")
def tt() -> dict:
    tr = truth.make_truth(pythia.generate_block("ttbar", N_EVENTS, SEED))
    rng = np.random.default_rng(5)
    n_pu = rng.integers(10, 66, N_EVENTS).astype(np.int32)  # a lever arm for the pileup slopes
    out = detector.simulate(tr, n_pu.astype(np.float32), n_pu, np.random.default_rng(9))
    return {"truth": tr, "n_pu": n_pu, "out": out}


def test_fields_names_and_dtypes(tt):
    out = tt["out"]
    assert len(NEW) == 29 + 3 + 4 + 4 + len(triggers.PATHS) + len(met_filters.FLAGS)
    for k in NEW:
        assert k in out, k
        assert np.asarray(out[k]).dtype == np.dtype(schema.SCHEMA[""][k]), k
        assert len(out[k]) == N_EVENTS
    assert set(triggers.PATHS) | set(met_filters.FLAGS) <= set(schema.SCHEMA[""])


def test_first_eight_detector_streams_unchanged():
    """detector.simulate now spawns 12 streams; the first 8 (the stages that existed) are those of spawn(8)."""
    a = [g.random(3) for g in np.random.default_rng(9).spawn(8)]
    b = [g.random(3) for g in np.random.default_rng(9).spawn(12)[:8]]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_seed_same_fields(tt):
    again = detector.simulate(tt["truth"][:40], tt["n_pu"][:40].astype(np.float32), tt["n_pu"][:40],
                              np.random.default_rng(9))
    first = detector.simulate(tt["truth"][:40], tt["n_pu"][:40].astype(np.float32), tt["n_pu"][:40],
                              np.random.default_rng(9))
    for k in NEW:
        assert np.array_equal(np.asarray(again[k]), np.asarray(first[k])), k


def test_pf_raw_and_chs_met(tt):
    o, n_pu = tt["out"], tt["n_pu"]
    # RawMET sums the same PF candidates as MET_sumEt (Type-1 changes the vector, not this sum)
    assert np.allclose(o["RawMET_sumEt"], o["MET_sumEt"], rtol=2**-9)
    # CHS drops the charged PU: the removed scalar sum grows ~10 GeV per interaction ([meas] 10.3)
    slope = np.polyfit(n_pu, o["RawMET_sumEt"] - o["ChsMET_sumEt"], 1)[0]
    assert 7.0 < slope < 16.0, slope
    assert np.all(o["ChsMET_sumEt"] < o["RawMET_sumEt"])
    # the unclustered sum is the PF sum minus the Type-1 jets' constituents ([meas] ratio 0.82)
    ratio = np.mean(o["MET_sumPtUnclustered"] / o["RawMET_sumEt"])
    assert 0.65 < ratio < 0.9, ratio


def test_puppi_met(tt):
    o, n_pu = tt["out"], tt["n_pu"]
    # PUPPI keeps ~1/4 of the PF scalar sum ([meas] 538 / 2111) and hardly grows with pileup
    # ([meas] -1.7 GeV per interaction, against +10 for what CHS removes)
    ratio = np.mean(o["RawPuppiMET_sumEt"] / o["RawMET_sumEt"])
    assert 0.15 < ratio < 0.4, ratio
    assert abs(np.polyfit(n_pu, o["RawPuppiMET_sumEt"], 1)[0]) < 5.0
    # Type-1 raises the scalar sum (jets corrected up, [meas] 590 vs 538)
    assert np.mean(o["PuppiMET_sumEt"]) > np.mean(o["RawPuppiMET_sumEt"])
    # resolution per component against GenMET ([meas] sigma68 28 GeV in ttbar)
    gx = o["GenMET_pt"] * np.cos(o["GenMET_phi"])
    res = _s68(o["PuppiMET_pt"] * np.cos(o["PuppiMET_phi"]) - gx)
    assert 18.0 < res < 40.0, res
    assert np.corrcoef(o["PuppiMET_pt"], o["GenMET_pt"])[0, 1] > 0.6


def _shift(o, var):
    dx = o[f"PuppiMET_pt{var}"] * np.cos(o[f"PuppiMET_phi{var}"]) - o["PuppiMET_pt"] * np.cos(o["PuppiMET_phi"])
    dy = o[f"PuppiMET_pt{var}"] * np.sin(o[f"PuppiMET_phi{var}"]) - o["PuppiMET_pt"] * np.sin(o["PuppiMET_phi"])
    return np.hypot(dx, dy), o[f"PuppiMET_pt{var}"] - o["PuppiMET_pt"]


def test_puppi_met_variations(tt):
    o = tt["out"]
    # [meas] nano_tt_v12: median |shift| JES 2.7, JER 3.9, unclustered 1.4 GeV
    for var, lo, hi in (("JES", 1.0, 8.0), ("JER", 1.0, 10.0), ("Unclustered", 0.3, 5.0)):
        up, dup = _shift(o, f"{var}Up")
        down, ddown = _shift(o, f"{var}Down")
        assert lo < np.median(up) < hi and lo < np.median(down) < hi, var
    # JES up moves the jets up: in ttbar (MET from neutrinos, recoiling jets) the MET grows ([meas] +1.9 / -1.7)
    assert np.mean(_shift(o, "JESUp")[1]) > 0 > np.mean(_shift(o, "JESDown")[1])
    # JER up widens the response, down narrows it ([meas] +1.7 / -0.8)
    assert np.mean(_shift(o, "JERUp")[1]) > np.mean(_shift(o, "JERDown")[1])
    # the JES and unclustered shifts are symmetric vectors (up to the 10-bit stored precision of pt and phi)
    for var in ("JES", "Unclustered"):
        assert np.allclose(_shift(o, f"{var}Up")[0], _shift(o, f"{var}Down")[0], rtol=0.05, atol=0.6)


def test_unclustered_shift_and_fiducial_genmet(tt):
    o = tt["out"]
    d = np.hypot(o["MET_MetUnclustEnUpDeltaX"], o["MET_MetUnclustEnUpDeltaY"])
    assert 2.0 < np.median(d) < 12.0  # [meas] 5.3
    # the fiducial GenMET is the GenMET plus what leaves abs(eta) > 5: close to it in ttbar
    assert np.corrcoef(o["MET_fiducialGenPt"], o["GenMET_pt"])[0, 1] > 0.9
    assert abs(np.median(o["MET_fiducialGenPt"] - o["GenMET_pt"])) < 10.0


def test_pv_fit_quality(tt, v12_file):
    o, n_pu = tt["out"], tt["n_pu"]
    real = uproot.open(v12_file)["Events"].arrays(["PV_ndof", "PV_chi2", "PV_score"], library="np")
    # ndof = 2 sum(w) - 3 of the hard-scatter tracks: ttbar [meas] median 145, not growing with pileup
    assert 0.7 < np.median(o["PV_ndof"]) / np.median(real["PV_ndof"]) < 1.3
    assert abs(np.corrcoef(o["PV_ndof"], n_pu)[0, 1]) < 0.3
    # reduced chi2 of the adaptive fit: [meas] median 0.76, 5-95% 0.62-0.93
    assert 0.65 < np.median(o["PV_chi2"]) < 0.9
    assert np.all((o["PV_chi2"] > 0.3) & (o["PV_chi2"] < 1.5))
    # score: sum pT^2 of track jets and leptons; rises with the event's jet activity
    assert 0.5 < np.median(o["PV_score"]) / np.median(real["PV_score"]) < 2.0
    ht = ak.to_numpy(ak.sum(o["Jet"].pt[(o["Jet"].pt > 30) & (abs(o["Jet"].eta) < 2.4)], axis=1))
    assert np.corrcoef(np.log(o["PV_score"]), np.log(ht + 30))[0, 1] > 0.4


@pytest.mark.parametrize(
    "name, slope",
    [
        ("Rho_fixedGridRhoAll", 0.558),  # [meas] nano_tt_v12 fits vs Pileup_nPU
        ("Rho_fixedGridRhoFastjetCentralCalo", 0.305),
        ("Rho_fixedGridRhoFastjetCentralChargedPileUp", 0.430),
        ("Rho_fixedGridRhoFastjetCentralNeutral", 0.103),
    ],
)
def test_rho_variants_follow_pileup(tt, name, slope):
    o, n_pu = tt["out"], tt["n_pu"]
    fit = np.polyfit(n_pu, o[name], 1)[0]
    assert abs(fit / slope - 1) < 0.2, (name, fit)


def test_rho_variants_ordering(tt):
    o = tt["out"]
    m = {k: np.mean(o[k]) for k in NEW if k.startswith("Rho_")}
    assert m["Rho_fixedGridRhoFastjetCentralNeutral"] < m["Rho_fixedGridRhoFastjetCentralCalo"]
    assert m["Rho_fixedGridRhoFastjetCentralCalo"] < m["Rho_fixedGridRhoFastjetCentralChargedPileUp"]
    assert m["Rho_fixedGridRhoFastjetCentralChargedPileUp"] < m["Rho_fixedGridRhoAll"]
    # CHS-removed charged PU is most of the central charged rho: tightly tied to the FastJet-all rho
    assert np.corrcoef(o["Rho_fixedGridRhoFastjetCentralChargedPileUp"], o["Rho_fixedGridRhoFastjetAll"])[0, 1] > 0.8


def test_pileup_summary(tt):
    o, n_pu = tt["out"], tt["n_pu"]
    n_true = n_pu.astype(np.float64)
    # 12 early and 3 late out-of-time crossings, Poisson(nTrueInt) each ([meas] 12.1 and 3.0 x nTrueInt)
    assert abs(np.sum(o["Pileup_sumEOOT"]) / np.sum(12 * n_true) - 1) < 0.03
    assert abs(np.sum(o["Pileup_sumLOOT"]) / np.sum(3 * n_true) - 1) < 0.05
    assert 15 < np.std(o["Pileup_sumEOOT"] - 12 * n_true) < 27  # sqrt(12 x 37) = 21
    # pudensity counts PU vertices within 1 mm of the PV: ~0.0150 per interaction here ([meas] 0.0136)
    pud = o["Pileup_pudensity"]
    assert np.all(pud == np.round(pud)) and 0.008 < pud.sum() / n_pu.sum() < 0.025
    # gpudensity = vertices in the abs(PV_z) bin / (20 x bin width): [meas] 0.0070 per interaction
    assert 0.004 < o["Pileup_gpudensity"].sum() / n_pu.sum() < 0.011


def test_met_filters_on_events(tt):
    o = tt["out"]
    good = (o["PV_ndof"] > 4) & (np.abs(o["PV_z"]) <= 24) & (np.hypot(o["PV_x"], o["PV_y"]) <= 2)
    assert np.array_equal(o["Flag_goodVertices"], good)
    assert np.array_equal(o["Flag_METFilters"], np.logical_and.reduce([o[f] for f in met_filters.METFILTERS]))
    sub = [o[f"Flag_trkPOG_{s}"] for s in ("manystripclus53X", "toomanystripclus53X", "logErrorTooManyClusters")]
    assert np.array_equal(o["Flag_trkPOGFilters"], np.logical_and.reduce(sub))
    assert o["Flag_METFilters"].mean() > 0.95  # [meas] 1.0 in nano_tt_v12


def test_met_filter_rates_and_nesting():
    n = 200_000
    pv = {"ndof": np.full(n, 100.0), "x": np.full(n, 0.1), "y": np.zeros(n), "z": np.zeros(n)}
    mu = ak.unflatten(ak.zip({"pt": np.zeros(0), "ptErr": np.zeros(0)}), np.zeros(n, np.int64))
    f = met_filters.met_filters(pv, mu, np.random.default_rng(3))
    rates = met_filters.PARAMS["rates"]
    for name in ("Flag_ecalLaserCorrFilter", "Flag_EcalDeadCellBoundaryEnergyFilter", "Flag_CSCTightHaloFilter"):
        fail = 1 - f[name].mean()
        assert abs(fail - rates[name]) < 4 * np.sqrt(rates[name] / n) + 1e-4, name
    # variants nest: a CSCTightHalo failure is a TrkMuUnveto failure, globalSuperTight within globalTight
    assert not np.any(~f["Flag_CSCTightHaloFilter"] & f["Flag_CSCTightHaloTrkMuUnvetoFilter"])
    assert not np.any(~f["Flag_globalSuperTightHalo2016Filter"] & f["Flag_globalTightHalo2016Filter"])
    # the recommended filters fail jointly at the measured 0/240 Jeffreys rate (0.21%)
    assert 0.0015 < 1 - f["Flag_METFilters"].mean() < 0.0028


def test_bad_pf_muon_filters_from_muons():
    pv = {"ndof": np.full(3, 100.0), "x": np.zeros(3), "y": np.zeros(3), "z": np.zeros(3)}
    mu = ak.Array([
        [{"pt": 300.0, "ptErr": 3.0, "dz": 0.001, "isGlobal": True, "isPFcand": True}],  # well measured
        [{"pt": 300.0, "ptErr": 700.0, "dz": 0.001, "isGlobal": True, "isPFcand": False}],  # bad, not PF
        [{"pt": 150.0, "ptErr": 400.0, "dz": 0.9, "isGlobal": True, "isPFcand": True}],  # bad PF muon
    ])
    met_filters.PARAMS["algo14_frac"], old = 1.0, met_filters.PARAMS["algo14_frac"]
    try:
        f = met_filters.met_filters(pv, mu, np.random.default_rng(1))
    finally:
        met_filters.PARAMS["algo14_frac"] = old
    assert f["Flag_BadPFMuonFilter"].tolist() == [True, True, False]
    assert f["Flag_BadPFMuonDzFilter"].tolist() == [True, True, False]
    assert f["Flag_BadChargedCandidateFilter"].tolist() == [True, False, True]
    assert f["Flag_METFilters"].tolist() == [True, True, False]


def test_met_flavours_come_back_from_the_event_targets(tt_sample):
    """Every MET flavour of a reference sample through the Event source's targets and back: Type-1 PF and PUPPI
    MET as recoils to GenMET, raw PF, CHS and raw PUPPI MET as differences from the flavour each comes from
    (``specs.event.RELATIVE``, chained: CHS from raw from Type-1), the way the engine reads a flow sample."""
    from flashsim_coffea.specs import event as spec

    ev = uproot.open(tt_sample)["Events"].arrays(library="np")
    gpt, gphi = ev["GenMET_pt"].astype(np.float64), ev["GenMET_phi"].astype(np.float64)
    targets = spec.to_targets(ev, gpt, gphi)
    learnt = {k: targets[k] for k in spec.EVENT.targets if k in spec.RESIDUALS}
    assert {"RawMET_dpar", "ChsMET_dperp", "RawPuppiMET_dpar"} <= set(learnt) and "RawMET_upar" not in learnt
    # the raw PUPPI MET differs from the PUPPI MET by its jets' corrections: far less than from GenMET
    d = np.hypot(learnt["RawPuppiMET_dpar"], learnt["RawPuppiMET_dperp"])
    assert np.median(d) < 0.5 * np.median(np.hypot(targets["RawPuppiMET_upar"], targets["RawPuppiMET_uperp"]))
    back = spec.from_targets(dict(learnt), gpt, gphi)
    for name, (pt, phi) in spec.RECOIL.items():
        np.testing.assert_allclose(back[pt], ev[pt], rtol=1e-5, atol=1e-3, err_msg=name)
        np.testing.assert_allclose(np.cos(back[phi] - ev[phi]), 1.0, atol=1e-6, err_msg=name)
    # the PUPPI MET variations: vector differences from the PUPPI MET, no pT shift to clip at 0
    assert {f"PuppiMET_dpar{s}" for s in spec.SHIFTS} <= set(learnt) and "PuppiMET_dptJERUp" not in learnt
    for s in spec.SHIFTS:
        np.testing.assert_allclose(back[f"PuppiMET_pt{s}"], ev[f"PuppiMET_pt{s}"], rtol=1e-5, atol=1e-3, err_msg=s)
        np.testing.assert_allclose(np.cos(back[f"PuppiMET_phi{s}"] - ev[f"PuppiMET_phi{s}"]), 1.0, atol=1e-6, err_msg=s)
    shifted = {**learnt, "PuppiMET_dparJERUp": learnt["PuppiMET_dparJERUp"] - 1e3}  # far past the PUPPI MET
    far = np.hypot(gpt + targets["PuppiMET_upar"] + shifted["PuppiMET_dparJERUp"],
                   targets["PuppiMET_uperp"] + learnt["PuppiMET_dperpJERUp"])
    np.testing.assert_allclose(spec.from_targets(shifted, gpt, gphi)["PuppiMET_ptJERUp"], far)  # a length, no clip
