"""HLT emulation (nanoaod/triggers.py): per-object turn-ons, path logic, the real v12 rates, and the
bits the reference detector writes."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from flashsim_coffea.nanoaod import triggers
from flashsim_coffea.reference import detector, pythia, truth


def _single(n: int, **fields) -> ak.Array:
    """``n`` events with one object each (scalar fields broadcast)."""
    cols = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for k, v in fields.items()}
    return ak.unflatten(ak.zip(cols), np.ones(n, np.int64))


def _empty(n: int, *names: str) -> ak.Array:
    return ak.unflatten(ak.zip({k: np.zeros(0) for k in names}), np.zeros(n, np.int64))


def _no_jets(n: int) -> ak.Array:
    return _empty(n, "pt", "eta", "phi")


def _met0(n: int) -> dict:
    return {"pt": np.zeros(n), "phi": np.zeros(n)}


def test_paths_are_in_the_schema():
    from flashsim_coffea.nanoaod.schema import SCHEMA

    assert set(triggers.PATHS) <= set(SCHEMA[""])
    assert all(SCHEMA[""][p] == "bool" for p in triggers.PATHS)


@pytest.mark.parametrize("pt", [23.5, 24.2, 25.0, 30.0])
def test_single_muon_turn_on_matches_the_leg(pt):
    n = 40_000
    mu = _single(n, pt=pt, eta=0.4, phi=0.0, dz=0.0, pfRelIso04_all=0.02, tkRelIso=0.01, tightId=1.0)
    bits = triggers.emulate(mu, _empty(n, "pt", "eta", "phi"), _no_jets(n), _met0(n), np.random.default_rng(1))
    leg = triggers.PARAMS["legs"]["IsoMu24"]
    iso = 1 / (1 + np.exp((0.02 - triggers.PARAMS["iso_pf"][0]) / triggers.PARAMS["iso_pf"][1]))
    expected = leg["plateau"][0] * float(triggers.turn_on(np.array([pt]), leg["pt50"], leg["width"])[0]) * iso
    assert abs(bits["HLT_IsoMu24"].mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3
    # a threshold path is nested in the lower one, event by event
    assert not np.any(bits["HLT_IsoMu27"] & ~bits["HLT_IsoMu24"])


def test_isolation_and_eta_proxies():
    n = 20_000
    iso = _single(n, pt=60.0, eta=0.2, phi=0.0, pfRelIso04_all=0.02, tkRelIso=0.01, tightId=1.0)
    noniso = _single(n, pt=60.0, eta=0.2, phi=0.0, pfRelIso04_all=0.6, tkRelIso=0.5, tightId=1.0)
    fwd = _single(n, pt=60.0, eta=2.25, phi=0.0, pfRelIso04_all=0.02, tkRelIso=0.01, tightId=1.0)
    empty, jets, met = _empty(n, "pt", "eta", "phi"), _no_jets(n), _met0(n)
    b_iso = triggers.emulate(iso, empty, jets, met, np.random.default_rng(2))
    b_non = triggers.emulate(noniso, empty, jets, met, np.random.default_rng(2))
    b_fwd = triggers.emulate(fwd, empty, jets, met, np.random.default_rng(2))
    assert b_iso["HLT_IsoMu24"].mean() > 0.93 and b_non["HLT_IsoMu24"].mean() < 0.01
    # Mu50 has no isolation: the same efficiency for both
    assert abs(b_iso["HLT_Mu50"].mean() - b_non["HLT_Mu50"].mean()) < 0.01
    # eta2p1 only within abs(eta) < 2.1, and the endcap plateau is lower
    assert b_fwd["HLT_IsoMu24_eta2p1"].sum() == 0 and 0.8 < b_fwd["HLT_IsoMu24"].mean() < 0.92


def test_electron_id_proxy_and_threshold():
    n = 20_000
    tight = _single(n, pt=50.0, eta=0.5, phi=0.0, deltaEtaSC=0.0, cutBased=4.0)
    fail = _single(n, pt=50.0, eta=0.5, phi=0.0, deltaEtaSC=0.0, cutBased=0.0)
    soft = _single(n, pt=30.0, eta=0.5, phi=0.0, deltaEtaSC=0.0, cutBased=4.0)
    mu, jets, met = _empty(n, "pt", "eta", "phi"), _no_jets(n), _met0(n)
    t = triggers.emulate(mu, tight, jets, met, np.random.default_rng(3))
    f = triggers.emulate(mu, fail, jets, met, np.random.default_rng(3))
    s = triggers.emulate(mu, soft, jets, met, np.random.default_rng(3))
    assert 0.94 < t["HLT_Ele32_WPTight_Gsf"].mean() < 0.98  # plateau 0.96 in the barrel
    assert f["HLT_Ele32_WPTight_Gsf"].mean() < 0.08
    assert s["HLT_Ele32_WPTight_Gsf"].mean() < 0.05  # below the 33 GeV 50% point
    assert not np.any(t["HLT_Ele35_WPTight_Gsf"] & ~t["HLT_Ele32_WPTight_Gsf"])


def test_dilepton_pair_logic():
    # one 30 GeV muon alone never fires a dimuon path; two do, unless they are 3 mm apart in z or too light
    def pair(dz2, pt2=20.0, dphi=2.0, eta2=-0.3):
        return ak.Array([[{"pt": 30.0, "eta": 0.1, "phi": 0.0, "dz": 0.0, "pfRelIso04_all": 0.01, "tkRelIso": 0.0,
                           "tightId": True},
                          {"pt": pt2, "eta": eta2, "phi": dphi, "dz": dz2, "pfRelIso04_all": 0.01, "tkRelIso": 0.0,
                           "tightId": True}]] * 5000)

    n = 5000
    el, jets, met = _empty(n, "pt", "eta", "phi"), _no_jets(n), _met0(n)
    ok = triggers.emulate(pair(0.01), el, jets, met, np.random.default_rng(4))
    far = triggers.emulate(pair(0.3), el, jets, met, np.random.default_rng(4))
    light = triggers.emulate(pair(0.01, pt2=9.0, dphi=0.05, eta2=0.1), el, jets, met, np.random.default_rng(4))
    mid = triggers.emulate(pair(0.01, pt2=9.0, dphi=0.05), el, jets, met, np.random.default_rng(4))  # m = 6.7 GeV
    name = "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass3p8"
    assert 0.88 < ok[name].mean() < 0.97  # two legs ~0.97-0.98 and the DZ filter 0.98
    assert far[name].sum() == 0
    # m(mumu) = 0.8 GeV: below both mass cuts; 6.7 GeV: above 3.8 only
    assert light[name].sum() == 0 and light["HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass8"].sum() == 0
    assert mid[name].mean() > 0.85 and mid["HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass8"].sum() == 0
    single = triggers.emulate(ak.Array([[pair(0.0)[0][0]]] * n), el, jets, met, np.random.default_rng(4))
    assert single[name].sum() == 0
    assert not np.any(ok["HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass8"] & ~ok[name])


def test_same_seed_same_bits_and_draw_count():
    n = 300
    rng = np.random.default_rng(0)
    mu = _single(n, pt=rng.uniform(10, 60, n), eta=rng.uniform(-2.4, 2.4, n), phi=0.0, dz=0.0,
                 pfRelIso04_all=0.05, tkRelIso=0.02, tightId=1.0)
    el = _single(n, pt=rng.uniform(10, 60, n), eta=rng.uniform(-2.4, 2.4, n), phi=1.0, dz=0.0, cutBased=4.0)
    jets = _single(n, pt=rng.uniform(20, 600, n), eta=0.0, phi=0.0, jetId=6.0, btagDeepFlavB=0.5)
    met = {"pt": rng.uniform(0, 300, n), "phi": np.zeros(n)}
    a = triggers.emulate(mu, el, jets, met, np.random.default_rng(7))
    b = triggers.emulate(mu, el, jets, met, np.random.default_rng(7))
    assert all(np.array_equal(a[p], b[p]) for p in triggers.PATHS)
    assert list(a) == list(triggers.PATHS) and all(v.dtype == bool and len(v) == n for v in a.values())


def _collection(arrays: ak.Array, name: str) -> ak.Array:
    fields = [f[len(name) + 1:] for f in arrays.fields if f.startswith(name + "_")]
    return ak.zip({f: arrays[f"{name}_{f}"] for f in fields}, depth_limit=1)


def test_emulation_on_real_objects_reproduces_v12_rates(v12_file):
    """The emulation run on the CMS file's own reconstructed objects gives its four HLT bits' rates."""
    a = uproot.open(v12_file)["Events"].arrays(library="ak")
    mu, el, jet = (_collection(a, c) for c in ("Muon", "Electron", "Jet"))
    met = {"pt": ak.to_numpy(a.MET_pt), "phi": ak.to_numpy(a.MET_phi)}
    runs = [triggers.emulate(mu, el, jet, met, np.random.default_rng(s)) for s in range(10)]
    for path, tol in (
        ("HLT_PFHT1050", 0.015),
        ("HLT_QuadPFJet70_50_40_35_PFBTagParticleNet_2BTagSum0p65", 0.06),
        ("HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepCSV_4p5", 0.05),
        ("HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5", 0.05),
    ):
        real = ak.to_numpy(a[path])
        emulated = np.mean([r[path] for r in runs], axis=0)
        assert abs(emulated.mean() - real.mean()) < tol, path
        # event by event, the emulation fires more often where CMS fired
        assert emulated[real].mean() > emulated[~real].mean() + 0.2, path


@pytest.fixture(scope="module")
def dy() -> dict:
    tr = truth.make_truth(pythia.generate_block("dy", 300, 31))
    n_pu = np.random.default_rng(2).poisson(35, len(tr)).astype(np.int32)
    return detector.simulate(tr, n_pu.astype(np.float32), n_pu, np.random.default_rng(3))


def test_reference_detector_writes_the_emulated_bits(dy):
    o = dy
    for p in triggers.PATHS:
        assert o[p].dtype == bool and len(o[p]) == len(o["MET_pt"])
    mu, el = o["Muon"], o["Electron"]
    # Z -> mumu with two tight isolated muons of pT > 27: IsoMu24 ~ 1 - (1 - 0.93)^2 ([MUO] plateau)
    good_mu = ak.sum((mu.pt > 27) & (abs(mu.eta) < 2.1) & mu.tightId & (mu.pfRelIso04_all < 0.15), axis=1) >= 2
    assert ak.sum(good_mu) > 25
    assert ak.mean(o["HLT_IsoMu24"][ak.to_numpy(good_mu)]) > 0.9
    # an identified (medium or tight) 38 GeV barrel/endcap electron: [EGM] plateau 0.91-0.96
    good_el = ak.sum((el.pt > 38) & (abs(el.eta) < 2.1) & (el.cutBased >= 3), axis=1) >= 1
    assert ak.sum(good_el) > 15
    assert ak.mean(o["HLT_Ele32_WPTight_Gsf"][ak.to_numpy(good_el)]) > 0.8
    # events without any muon never fire a muon path; without electrons, never an electron path
    no_mu, no_el = ak.to_numpy(ak.num(mu) == 0), ak.to_numpy(ak.num(el) == 0)
    assert not np.any(o["HLT_IsoMu24"][no_mu]) and not np.any(o["HLT_Ele32_WPTight_Gsf"][no_el])
    # the dilepton paths fire on Z events: most of the good dimuon events fire Mu17_Mu8
    assert ak.mean(o["HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass3p8"][ak.to_numpy(good_mu)]) > 0.8
    # no MET, no hard jets in Z events: the MET and jet paths stay (almost) silent
    assert o["HLT_PFMET120_PFMHT120_IDTight"].mean() < 0.02 and o["HLT_PFHT1050"].sum() == 0


def test_flash_side_reuse(dy):
    """The same function on the detector's objects (as flash will call it) with the same stream gives the
    detector's bits: derive the stream like detector.simulate does."""
    tr_bits = triggers.emulate(dy["Muon"], dy["Electron"], dy["Jet"], {"pt": dy["MET_pt"], "phi": dy["MET_phi"]},
                               np.random.default_rng(3).spawn(12)[10])
    assert all(np.array_equal(tr_bits[p], dy[p]) for p in triggers.PATHS)
