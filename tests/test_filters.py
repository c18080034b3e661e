"""Generator-level filters and the new processes of `flashsim generate`: every filter holds on the
gen record of the events it keeps (weight 1: the jet pair; weight 1 / bias_keep: the muons), its
efficiency is recorded and applied to the cross-section, and a filtered sample is the same file
with 1 and 2 workers."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.reference import filters
from flashsim_coffea.reference import generate as gen_mod
from flashsim_coffea.reference.genlevel import gen_collections
from flashsim_coffea.reference.processes import FILTERS, NORMALISATION, PROCESSES
from flashsim_coffea.reference.pythia import generate_block
from flashsim_coffea.reference.truth import make_truth

pytest.importorskip("pythia8mc")

CUTS = filters.CUTS


def _events(rec: dict) -> list[dict]:
    """The record of each event as a dict of numpy arrays."""
    off = np.concatenate([[0], np.cumsum(rec["counts"])])
    keys = ("id", "status", "mother1", "daughter1", "daughter2", "px", "py", "pz", "e", "m")
    return [{k: np.asarray(rec[k][a:b]) for k in keys} for a, b in zip(off[:-1], off[1:])]


def _pt_eta(ev: dict, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pt = np.hypot(ev["px"][sel], ev["py"][sel])
    return pt, np.arcsinh(ev["pz"][sel] / pt)


def _daughters(ev: dict, i: int) -> np.ndarray:
    d1, d2 = ev["daughter1"][i], ev["daughter2"][i]
    return ev["id"][d1: d2 + 1] if d2 >= d1 else ev["id"][[d1]]


def _decays(ev: dict, pid: int) -> list[list[int]]:
    """The sorted |pdgId| of the decay products of each last copy of the particle |``pid``|, one list per copy."""
    i = np.flatnonzero((np.abs(ev["id"]) == pid) & (ev["daughter1"] >= 0))
    return [sorted(np.abs(_daughters(ev, j)).tolist()) for j in i if pid not in np.abs(_daughters(ev, j))]


def _leading_muons(ev: dict) -> np.ndarray:
    """rows (eta, phi) of the two leading final-state muons in the filter's acceptance"""
    sel = (ev["status"] > 0) & (np.abs(ev["id"]) == 13)
    pt, eta = _pt_eta(ev, sel)
    phi = np.arctan2(ev["py"][sel], ev["px"][sel])
    ok = (pt > CUTS["mu_pt"]) & (np.abs(eta) < CUTS["mu_eta"])
    order = np.argsort(-pt[ok])[:2]
    return np.stack([eta[ok][order], phi[ok][order]], axis=1)


def _leading_muon_p4(ev: dict) -> np.ndarray:
    """rows (px, py, pz, e) of the muons of :func:`_leading_muons`"""
    sel = (ev["status"] > 0) & (np.abs(ev["id"]) == 13)
    pt, eta = _pt_eta(ev, sel)
    p4 = np.stack([ev[k][sel] for k in ("px", "py", "pz", "e")], axis=1)
    ok = (pt > CUTS["mu_pt"]) & (np.abs(eta) < CUTS["mu_eta"])
    return p4[ok][np.argsort(-pt[ok])[:2]]


def _jet_pairs(genjet, mu: np.ndarray, pt_min: float, eta_max: float) -> tuple[np.ndarray, np.ndarray]:
    """m_jj, |deta| of the pairs of the three leading NanoAOD GenJets (pT > pt_min, |eta| < eta_max,
    dR > 0.4 from the muons): the same jets as the filter's, from the detector-chain gen code"""
    pt, eta, phi, m = (np.asarray(genjet[f], np.float64) for f in ("pt", "eta", "phi", "mass"))
    dphi = np.angle(np.exp(1j * (phi[:, None] - mu[None, :, 1])))
    clean = ~np.any(np.hypot(eta[:, None] - mu[None, :, 0], dphi) < CUTS["clean_dr"], axis=1)
    keep = (pt > pt_min) & (np.abs(eta) < eta_max) & clean
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), np.hypot(pt * np.cosh(eta), m)], axis=1)
    return filters.pairs(p4[keep])


@pytest.fixture(scope="module")
def records():
    """A few events of each new process (Pythia only, no detector)."""
    return {p: generate_block(p, n=3, seed=5) for p in
            ("dy_mumu_vbf", "dy_mumu_zh", "vbf_x_mumu", "ttbar_dilep", "ttbar_boosted", "zh_boosted",
             "dy_mumu_jet_zh", "dy_mumu_jet_vbf", "ttbar_dilep_vbf", "ttbar_dilep_zh", "hbb_boosted", "wh_lvbb",
             "zz_llbb", "zll_boosted")}


#: the Z+jet processes: (pT-hat minimum = the bias reference, bias power) of their Pythia settings
_BIASED = {"dy_mumu_jet_zh": (15.0, 1.5), "dy_mumu_jet_vbf": (20.0, 1.0)}


def _keep_probability(process: str, ev: dict, weight: float) -> float:
    """The filter's keep probability of a kept event: 1 / its weight, once Pythia's pT-hat bias weight
    (pT-hat_ref / pT-hat)^power, recomputed from the outgoing parton of the hard process, is divided out."""
    if process not in _BIASED:
        return 1.0 / weight
    ref, power = _BIASED[process]
    parton = np.flatnonzero((ev["status"] == -23) & ((np.abs(ev["id"]) <= 5) | (ev["id"] == 21)))
    assert len(parton) == 1
    pt_hat = float(np.hypot(ev["px"][parton[0]], ev["py"][parton[0]]))
    assert pt_hat > ref
    return (ref / pt_hat) ** power / weight


@pytest.mark.parametrize("process", ["dy_mumu_vbf", "vbf_x_mumu", "dy_mumu_zh", "dy_mumu_jet_zh", "dy_mumu_jet_vbf",
                                     "ttbar_dilep_vbf", "ttbar_dilep_zh"])
def test_filter_holds_on_the_gen_record_of_kept_events(records, process):
    rec = records[process]
    assert len(rec["counts"]) == 3 and rec["n_tried"] > 3  # the filter rejected some events
    genjets = gen_collections(make_truth(rec))["GenJet"]
    vbf = FILTERS[process] in (filters.vbf_dijet, filters.vbf_dijet_mll)
    for k, ev in enumerate(_events(rec)):
        q = _keep_probability(process, ev, rec["weight"][k])
        # (1e-3: Pythia gives outgoing c and b quarks their mass after the pT-hat of the massless kinematics)
        assert q == pytest.approx(1.0, rel=1e-3) or q == pytest.approx(CUTS["bias_keep"], rel=1e-3), q
        mu = _leading_muons(ev)
        assert len(mu) == 2
        # kept with probability 1: the jet pair too (bias_keep: kept by the bias, the muons suffice)
        if vbf and q > CUTS["bias_keep"] * 1.5:
            m, deta = _jet_pairs(genjets[k], mu, CUTS["vbf_jet_pt"], CUTS["vbf_jet_eta"])
            assert np.any((m > CUTS["vbf_mjj"]) & (deta > CUTS["vbf_deta"])), (m, deta)
        elif q > CUTS["bias_keep"] * 1.5:
            m, _ = _jet_pairs(genjets[k], mu, CUTS["zh_jet_pt"], CUTS["zh_jet_eta"])
            assert np.any((m > CUTS["zh_mjj_min"]) & (m < CUTS["zh_mjj_max"])), m
        if process in ("ttbar_dilep_vbf", "ttbar_dilep_zh"):  # the window is the filter's, on the two leading muons
            lo, hi = CUTS["vbf_mll" if vbf else "zh_mll"]
            assert lo <= _mass(_leading_muon_p4(ev)) < hi
            continue
        # the Z/gamma* or X of the hard process decays to mumu in the generated mass range
        boson = np.flatnonzero((ev["status"] == -22) & np.isin(ev["id"], (23, 25)))[0]
        lo, hi = (70, 120) if process in ("dy_mumu_zh", "dy_mumu_jet_zh") else (105, 200)
        assert lo <= ev["m"][boson] <= hi


@pytest.mark.parametrize("process, leptons", [("ttbar_dilep", (11, 13, 15)), ("ttbar_dilep_zh", (13, 15))])
def test_ttbar_dilep_both_w_leptonic(records, process, leptons):
    for ev in _events(records[process]):
        # the last copy of each W (the one that decays) has lepton + neutrino daughters
        ws = np.flatnonzero((np.abs(ev["id"]) == 24) & (ev["daughter1"] >= 0))
        last = [i for i in ws if not np.any(np.abs(_daughters(ev, i)) == 24)]
        assert len(last) == 2
        for i in last:
            d = np.sort(np.abs(_daughters(ev, i)))
            assert d[0] in leptons and d[1] == d[0] + 1, d


def test_boosted_processes_pass_their_pt_hat(records):
    for process, ids, pt_min in (("ttbar_boosted", (6,), 400.0), ("zh_boosted", (23, 25), 250.0)):
        for ev in _events(records[process]):
            hard = (ev["status"] == -22) & np.isin(np.abs(ev["id"]), ids)
            pt, _ = _pt_eta(ev, hard)
            assert len(pt) == 2 and np.all(pt > pt_min), (process, pt)
    # a boson + one parton, pT-hat > 250 GeV: H -> bb or cc, Z -> ee or mumu
    for process, pid, decays in (("hbb_boosted", 25, ([4, 4], [5, 5])), ("zll_boosted", 23, ([11, 11], [13, 13]))):
        for ev in _events(records[process]):
            pt, _ = _pt_eta(ev, (ev["status"] == -22) & (ev["id"] == pid))
            assert len(pt) == 1 and pt[0] > 250.0, (process, pt)
            assert _decays(ev, pid)[0] in decays, process
    for ev in _events(records["zh_boosted"]):  # H -> bb, Z -> nunu / ee / mumu
        for pid, allowed in ((25, {5}), (23, {11, 12, 13, 14, 16})):
            assert set(_decays(ev, pid)[0]) <= allowed


def test_wh_decays_to_a_lepton_and_a_b_pair(records):
    for ev in _events(records["wh_lvbb"]):  # H -> bb, W -> e/mu/tau + neutrino
        for pid, allowed in ((25, {5}), (24, {11, 12, 13, 14, 15, 16})):
            assert set(_decays(ev, pid)[0]) <= allowed


def test_zz_decays_to_b_pairs_and_light_leptons(records):
    for ev in _events(records["zz_llbb"]):  # two Z bosons, each -> bb, ee or mumu
        decays = _decays(ev, 23)
        assert len(decays) == 2
        for d in decays:
            assert d in ([5, 5], [11, 11], [13, 13])


def test_filter_efficiency_in_metadata_and_cross_section_and_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(gen_mod, "BLOCK", 3)  # two blocks, so the efficiency sums over blocks
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    gen_mod.generate("dy_mumu_vbf", 5, 2, a, progress=False)
    with ProcessPoolExecutor(2) as pool:
        gen_mod.generate("dy_mumu_vbf", 5, 2, b, executor=pool, progress=False)
    ma, mb = gen_mod.read_metadata(a), gen_mod.read_metadata(b)
    assert ma == mb
    ca, cb = (uproot.open(p)["Events"].arrays() for p in (a, b))
    for name in ca.fields:
        assert ak.array_equal(ca[name], cb[name], equal_nan=True), name
    n, tried = 5, ma["events_tried"]
    x = np.asarray(ca.genWeight, np.float64)  # Pythia's weight (1) / keep probability
    assert ma["filter"] == "vbf_dijet" and tried > n and set(x.tolist()) <= {1.0, 1.0 / CUTS["bias_keep"]}
    eff = x.sum() / tried
    assert uproot.open(a)["Runs"]["genEventSumw"].array().tolist() == pytest.approx([x.sum()])
    assert ma["filter_efficiency"] == pytest.approx(eff)
    assert ma["filter_efficiency_err"] == pytest.approx(np.sqrt(np.sum((x - eff) ** 2) + eff**2 * (tried - n)) / tried)
    assert ma["xsec_pb"] == pytest.approx(ma["xsec_generator_pb"] * eff)
    assert 25 < ma["xsec_generator_pb"] < 60  # LO Z/gamma* -> mumu, 105 < m < 200 GeV, 13.6 TeV (39 pb)
    assert uproot.open(a)["Runs"]["genEventCount"].array().tolist() == [n]


def test_unfiltered_process_efficiency_one_and_reference_normalisation(tmp_path):
    meta = gen_mod.generate("vbf_x_mumu", 3, 1, tmp_path / "x.root", progress=False)
    sigma_fid = NORMALISATION["vbf_x_mumu"][0]
    assert meta["fiducial"] == "ewk_zjj_fiducial" and 0 < meta["fiducial_fraction"] <= 1
    assert meta["xsec_pb"] == pytest.approx(sigma_fid * meta["filter_efficiency"] / meta["fiducial_fraction"])
    assert meta["xsec_generator_pb"] < 0.1 * meta["xsec_pb"]  # Pythia's sigma of the stand-in means nothing
    xs = gen_mod.cross_section("ttbar", 500.0, 5.0, {"sumw": 8.0, "sumw2": 8.0, "sumw_tried": 8.0,
                                                     "sumw2_tried": 8.0, "sumw_cross": 8.0, "sumw_fiducial": 0.0,
                                                     "n_tried": 8})
    assert (xs["filter"], xs["filter_efficiency"], xs["filter_efficiency_err"], xs["xsec_pb"]) == (None, 1.0, 0.0, 500.0)


def test_every_new_process_is_registered_with_a_description():
    for p in ("dy_mumu_vbf", "dy_mumu_zh", "vbf_x_mumu", "ttbar_dilep", "ttbar_boosted", "zh_boosted", "hbb_boosted",
              "wh_lvbb", "zz_llbb", "zll_boosted"):
        assert p in PROCESSES and PROCESSES[p][0]
    assert set(FILTERS) <= set(PROCESSES) and set(NORMALISATION) <= set(FILTERS)


def _mass(p4: np.ndarray) -> float:
    s = p4.sum(axis=0)
    return float(np.sqrt(max(s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2, 0.0)))


def test_signal_region_fiducial_sums_weighted_and_on_the_same_events(monkeypatch):
    """dy_mumu_jet_zh with its filter switched off (every tried event kept): the weighted sum over the
    events inside filters.zh_signal_region equals the same sum recomputed from each event's record (two
    leading muons and the NanoAOD GenJets), and fiducial_xsec.block on the same seed sees the same events."""
    import importlib.util
    from pathlib import Path

    assert NORMALISATION["dy_mumu_jet_zh"][1] is filters.zh_signal_region
    monkeypatch.setitem(FILTERS, "dy_mumu_jet_zh", lambda event: 1.0)
    rec = generate_block("dy_mumu_jet_zh", n=150, seed=9)
    assert rec["n_tried"] == 150 and len(np.unique(rec["weight"])) > 100  # pT-hat weights
    genjets = gen_collections(make_truth(rec))["GenJet"]
    sr = filters.SIGNAL_REGIONS["zh"]
    inside = np.zeros(150, bool)
    for k, ev in enumerate(_events(rec)):
        sel = (ev["status"] > 0) & (np.abs(ev["id"]) == 13)
        p4 = np.stack([ev[c][sel] for c in ("px", "py", "pz", "e")], axis=1)
        pt, eta = _pt_eta(ev, sel)
        mu = p4[(pt > sr["mu_pt"]) & (np.abs(eta) < sr["mu_eta"])]
        mu = mu[np.argsort(-np.hypot(mu[:, 0], mu[:, 1]))][:2]
        if len(mu) < 2 or not sr["m_ll"][0] <= _mass(mu) < sr["m_ll"][1]:
            continue
        mu_eta_phi = np.stack([np.arcsinh(mu[:, 2] / np.hypot(mu[:, 0], mu[:, 1])), np.arctan2(mu[:, 1], mu[:, 0])], 1)
        m, _ = _jet_pairs(genjets[k], mu_eta_phi, sr["jet_pt"][1], sr["jet_eta"])
        inside[k] = len(m) > 0 and sr["m_jj"][0] < m[0] < sr["m_jj"][1]
    assert 3 <= inside.sum() < 150
    assert rec["sumw_fiducial"] == pytest.approx(float(np.sum(rec["weight"][inside])), rel=1e-9)
    assert rec["sumw2_fiducial"] == pytest.approx(float(np.sum(rec["weight"][inside] ** 2)), rel=1e-9)
    spec = importlib.util.spec_from_file_location(
        "fiducial_xsec", Path(__file__).resolve().parents[1] / "benchmarks" / "fiducial_xsec.py")
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    b = fx.block("dy_mumu_jet_zh", "zh", seed=9, events=150)
    assert (b["sumw_in"], b["sumw"]) == pytest.approx((rec["sumw_fiducial"], rec["sumw_tried"]), rel=1e-12)
    meta = gen_mod.cross_section("dy_mumu_jet_zh", b["sigma_pb"], b["sigma_err_pb"], {
        "sumw": b["sumw"], "sumw2": b["sumw2"], "sumw_tried": b["sumw"], "sumw2_tried": b["sumw2"], "sumw_cross": b["sumw2"],
        "sumw_fiducial": b["sumw_in"], "sumw2_fiducial": b["sumw2_in"], "n_tried": 150})
    # every tried event kept: the sample stands for the reference fiducial cross-section / the fraction inside
    assert meta["xsec_pb"] == pytest.approx(NORMALISATION["dy_mumu_jet_zh"][0] * b["sumw"] / b["sumw_in"], rel=1e-9)
