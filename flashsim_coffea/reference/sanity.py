"""Physics-sanity figures of a reference sample (read with uproot, no coffea).

Each function takes the ``Events`` arrays of a sample and returns one number (or a
dict of numbers); ``benchmarks/reference_sanity.py`` prints them and the slow test
``tests/test_reference_sanity.py`` checks them against CMS-like ranges.

They read NanoAOD branch names only, so they apply to real CMS files as well.

Example:
    The first 20 events of a real CMS ttbar NanoAOD file:

    >>> import uproot
    >>> branches = ["Muon_*", "GenPart_*", "Jet_*", "GenJet_*", "MET_*", "GenMET_*"]
    >>> with uproot.open(SHARED / "nano_tt_v12.root") as f:
    ...     ev = f["Events"].arrays(filter_name=branches, entry_stop=20)
    >>> prompt_muon_efficiency(ev)
    1.0
    >>> {k: round(v, 3) for k, v in btag_efficiencies(ev).items()}
    {'b': 0.889, 'c': 0.091, 'light': 0.0}
    >>> round(jet_response(ev)["mean_above_30"], 3)
    1.007
    >>> {k: round(v, 1) for k, v in met_resolution(ev).items()}
    {'x': 33.0, 'y': 30.0, 'mean_sumEt': 2163.1}
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.angles import delta_phi
from flashsim_coffea.nanoaod.status_flags import BITS

_PROMPT = 1 << BITS["isPrompt"]

#: DeepJet medium working point used throughout (UL2018, BTV: 1% light-jet mistag).
DEEPJET_MEDIUM = 0.2783


def _p4(c):
    return (
        c.pt * np.cos(c.phi),
        c.pt * np.sin(c.phi),
        c.pt * np.sinh(c.eta),
        np.sqrt((c.pt * np.cosh(c.eta)) ** 2 + (c.mass if "mass" in c.fields else 0) ** 2),
    )


def _collection(ev: ak.Array, name: str) -> ak.Array:
    fields = [f for f in ev.fields if f.startswith(name + "_")]
    return ak.zip({f[len(name) + 1 :]: ev[f] for f in fields})


def zmumu_core_width(ev: ak.Array) -> float:
    """Gaussian sigma (GeV) of the Z -> mumu peak core (fit within +-4 GeV of the mode).

    Muons: pT > 20 GeV, |eta| < 2.4, two of opposite charge, leading pair.

    Example:
        Back-to-back muon pairs whose mass is drawn from a Gaussian of width 2 GeV:

        >>> m = np.random.default_rng(1).normal(91.19, 2.0, 2000)
        >>> ev = ak.Array({"Muon_pt": [[x / 2, x / 2] for x in m], "Muon_eta": [[0.0, 0.0]] * 2000,
        ...                "Muon_phi": [[0.0, np.pi]] * 2000, "Muon_charge": [[-1, 1]] * 2000})
        >>> round(zmumu_core_width(ev), 2)
        1.98
    """
    from scipy.optimize import curve_fit

    mu = _collection(ev, "Muon")
    mu = mu[(mu.pt > 20) & (abs(mu.eta) < 2.4)]
    mu = mu[ak.num(mu) >= 2]
    mu = mu[mu.charge[:, 0] != mu.charge[:, 1]]
    a, b = _p4(mu[:, 0]), _p4(mu[:, 1])
    m = np.sqrt(np.maximum((a[3] + b[3]) ** 2 - sum((a[i] + b[i]) ** 2 for i in range(3)), 0))
    m = ak.to_numpy(m)
    m = m[(m > 70) & (m < 110)]
    counts, edges = np.histogram(m, bins=np.arange(70, 110.01, 0.5))
    centres = 0.5 * (edges[1:] + edges[:-1])
    mode = centres[np.argmax(counts)]
    sel = np.abs(centres - mode) < 4
    gauss = lambda x, n, mu0, s: n * np.exp(-0.5 * ((x - mu0) / s) ** 2)
    (n, mu0, s), _ = curve_fit(gauss, centres[sel], counts[sel], p0=(counts.max(), mode, 2.0))
    return float(abs(s))


def prompt_muon_efficiency(ev: ak.Array, ptmin: float = 20.0, etamax: float = 2.4) -> float:
    """Fraction of prompt final-state gen muons (pT > ptmin, |eta| < etamax) with a reco Muon linked to them."""
    gen = _collection(ev, "GenPart")
    idx = ak.local_index(gen.pt, axis=1)
    prompt = (abs(gen.pdgId) == 13) & (gen.status == 1) & ((gen.statusFlags & _PROMPT) != 0)
    sel = prompt & (gen.pt > ptmin) & (abs(gen.eta) < etamax)
    linked = ev["Muon_genPartIdx"]
    found = ak.any(idx[:, :, None] == linked[:, None, :], axis=2)
    return float(ak.sum(found & sel) / ak.sum(sel))


def btag_efficiencies(ev: ak.Array, wp: float = DEEPJET_MEDIUM) -> dict[str, float]:
    """DeepJet efficiency at ``wp`` for jets pT > 30 GeV, |eta| < 2.5, per hadron flavour (b, c, light)."""
    jet = _collection(ev, "Jet")
    jet = jet[(jet.pt > 30) & (abs(jet.eta) < 2.5)]
    out = {}
    for name, flav in (("b", 5), ("c", 4), ("light", 0)):
        j = jet[jet.hadronFlavour == flav]
        out[name] = float(ak.sum(j.btagDeepFlavB > wp) / max(ak.sum(ak.num(j)), 1))
    return out


def _sigma68(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [15.865, 84.135])
    return float(0.5 * (hi - lo))


def jet_response(ev: ak.Array) -> dict[str, float]:
    """Matched-jet pT response (reco / GenJet) mean above 30 GeV and sigma68 at 30-50 GeV, |eta| < 1.3."""
    jet = _collection(ev, "Jet")
    gen = _collection(ev, "GenJet")
    m = jet[jet.genJetIdx >= 0]
    gpt = gen.pt[m.genJetIdx]
    geta = gen.eta[m.genJetIdx]
    r = ak.to_numpy(ak.flatten(m.pt / gpt))
    gpt = ak.to_numpy(ak.flatten(gpt))
    geta = np.abs(ak.to_numpy(ak.flatten(geta)))
    out = {}
    central = geta < 1.3
    for lo, hi in ((30, 50), (50, 100), (100, 200), (200, 1e9)):
        s = central & (gpt > lo) & (gpt < hi)
        out[f"mean_{lo}_{int(min(hi, 9999))}"] = float(np.mean(r[s])) if s.any() else float("nan")
        out[f"sigma68_{lo}_{int(min(hi, 9999))}"] = _sigma68(r[s]) if s.any() else float("nan")
    s = (gpt > 30) & (geta < 2.5)
    out["mean_above_30"] = float(np.mean(r[s]))
    out["median_above_30"] = float(np.median(r[s]))
    return out


def met_resolution(ev: ak.Array) -> dict[str, float]:
    """sigma68 (GeV) of MET_x - GenMET_x and MET_y - GenMET_y."""
    dx = ev.MET_pt * np.cos(ev.MET_phi) - ev.GenMET_pt * np.cos(ev.GenMET_phi)
    dy = ev.MET_pt * np.sin(ev.MET_phi) - ev.GenMET_pt * np.sin(ev.GenMET_phi)
    return {"x": _sigma68(ak.to_numpy(dx)), "y": _sigma68(ak.to_numpy(dy)), "mean_sumEt": float(ak.mean(ev.MET_sumEt))}


def sv_jet_fractions(ev: ak.Array, dr: float = 0.4) -> dict[str, float]:
    """Fraction of jets (pT 30-100 GeV, |eta| < 2.4) with >= 1 secondary vertex, per hadron flavour.

    An SV counts for a jet within ``dr`` of its axis (the ``SV`` collection); a file without
    ``SV`` (real v12 files drop it) uses ``Jet_nSVs`` instead, whose links in real files also
    count vertices below the SV table's ``dlenSig`` > 3 cut (so it reads higher).

    Example:
        A b jet with an SV at dR = 0.1, a light jet without one:

        >>> ev = ak.Array({"Jet_pt": [[50.0, 40.0]], "Jet_eta": [[0.0, 1.0]], "Jet_phi": [[0.0, 2.0]],
        ...                "Jet_hadronFlavour": [[5, 0]], "SV_eta": [[0.1]], "SV_phi": [[0.0]]})
        >>> sv_jet_fractions(ev)
        {'b': 1.0, 'c': 0.0, 'light': 0.0}
    """
    jet = _collection(ev, "Jet")
    jet = jet[(jet.pt > 30) & (jet.pt < 100) & (abs(jet.eta) < 2.4)]
    if "SV_eta" in ev.fields:
        pair = ak.cartesian([jet[["eta", "phi"]], _collection(ev, "SV")[["eta", "phi"]]], axis=1, nested=True)
        dphi = delta_phi(pair["0"].phi, pair["1"].phi)
        has = ak.any((pair["0"].eta - pair["1"].eta) ** 2 + dphi**2 < dr**2, axis=2)
    else:
        has = jet.nSVs > 0
    out = {}
    for name, flav in (("b", 5), ("c", 4), ("light", 0)):
        sel = jet.hadronFlavour == flav
        out[name] = float(ak.sum(has[sel]) / max(ak.sum(sel), 1))
    return out


#: Z boson mass (GeV) [PDG].
M_Z = 91.19


def fsr_recovery(ev: ak.Array) -> dict[str, float]:
    """FSR photons recovered in Z -> mumu events (``FsrPhoton`` linked by ``Muon_fsrPhotonIdx``).

    Z events: the two leading muons with pT > 20 GeV, |eta| < 2.4, of opposite charge. Per event,
    the photons of the two muons at the NanoAOD level (``rate``) and after the CMS H -> ZZ -> 4l
    cuts (``rate_hzz``, :func:`.fsr.hzz_selection`; CMS: FSR recovered in ~5% of Z -> mumu events
    [mem] arXiv:1706.09936). For the H -> ZZ photons: the pT spectrum (median, fractions in 2-5,
    5-10, 10-20, > 20 GeV), the median dR to the muon, and how m(mumu) moves once the photons are
    added (``improved``: fraction of events with |m(mumu gamma) - mZ| < |m(mumu) - mZ|; median
    |m - mZ| before and after).

    Example:
        A Z -> mumu event at 80 GeV whose leading muon radiated a 7 GeV photon (0.03 away):

        >>> ev = ak.Array({"Muon_pt": [[42.0, 38.0]], "Muon_eta": [[0.0, 0.3]], "Muon_phi": [[0.0, 2.9]],
        ...     "Muon_charge": [[-1, 1]], "Muon_fsrPhotonIdx": [[0, -1]], "FsrPhoton_pt": [[7.0]],
        ...     "FsrPhoton_eta": [[0.03]], "FsrPhoton_phi": [[0.0]], "FsrPhoton_relIso03": [[0.1]],
        ...     "FsrPhoton_dROverEt2": [[0.0006]], "FsrPhoton_muonIdx": [[0]]})
        >>> r = fsr_recovery(ev)
        >>> r["rate"], r["rate_hzz"], r["improved"], round(r["dm_before"], 1), round(r["dm_after"], 1)
        (1.0, 1.0, 1.0, 11.0, 4.6)
    """
    from flashsim_coffea.reference.fsr import hzz_selection

    mu = _collection(ev, "Muon")
    fsr = _collection(ev, "FsrPhoton")
    mu = mu[(mu.pt > 20) & (abs(mu.eta) < 2.4)]
    z = (ak.num(mu) >= 2)
    mu, fsr = mu[z], fsr[z]
    z = mu.charge[:, 0] != mu.charge[:, 1]
    mu, fsr = mu[z][:, :2], fsr[z]
    idx = mu.fsrPhotonIdx
    ph = fsr[ak.mask(idx, idx >= 0)]  # the photon of each muon (None: none)
    has = ~ak.is_none(ph, axis=1)
    has_hzz = has & ak.fill_none(hzz_selection(ph), False)
    pa, pb = (tuple(ak.to_numpy(c) for c in _p4(mu[:, k])) for k in (0, 1))
    mass = lambda p: np.sqrt(np.maximum(p[3] ** 2 - p[0] ** 2 - p[1] ** 2 - p[2] ** 2, 0.0))
    m_ll = mass([pa[i] + pb[i] for i in range(4)])
    q = [ak.to_numpy(ak.sum(ak.where(has_hzz, ak.fill_none(c, 0.0), 0.0), axis=1))
         for c in _p4(ak.zip({"pt": ph.pt, "eta": ph.eta, "phi": ph.phi}))]
    m_llg = mass([pa[i] + pb[i] + q[i] for i in range(4)])
    ev_hzz = ak.to_numpy(ak.any(has_hzz, axis=1))
    pt = ak.to_numpy(ak.flatten(ak.fill_none(ph.pt[has_hzz], np.nan)), allow_missing=False)
    dphi = delta_phi(ph.phi, mu.phi)
    dr = ak.to_numpy(ak.flatten(ak.fill_none(np.sqrt((ph.eta - mu.eta) ** 2 + dphi**2)[has_hzz], np.nan)))
    before, after = np.abs(m_ll[ev_hzz] - M_Z), np.abs(m_llg[ev_hzz] - M_Z)
    out = {
        "z_events": float(len(m_ll)),
        "rate": float(np.mean(ak.to_numpy(ak.any(has, axis=1)))) if len(m_ll) else float("nan"),
        "rate_hzz": float(np.mean(ev_hzz)) if len(m_ll) else float("nan"),
        "pt_median": float(np.median(pt)) if len(pt) else float("nan"),
        "dr_median": float(np.median(dr)) if len(dr) else float("nan"),
        "improved": float(np.mean(after < before)) if len(pt) else float("nan"),
        "dm_before": float(np.median(before)) if len(pt) else float("nan"),
        "dm_after": float(np.median(after)) if len(pt) else float("nan"),
    }
    for lo, hi in ((2, 5), (5, 10), (10, 20), (20, np.inf)):
        frac = float(np.mean((pt >= lo) & (pt < hi))) if len(pt) else float("nan")
        out[f"pt_frac_{lo}_{hi if np.isfinite(hi) else 'inf'}"] = frac
    return out


def _copy_origin(pdg: np.ndarray, mother: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The mother (global index, -1 none) of the first copy of each particle ``i``'s copy chain."""
    cur = i.copy()
    for _ in range(64):
        m = mother[cur]
        same = (m >= 0) & (np.abs(pdg[np.maximum(m, 0)]) == np.abs(pdg[cur]))
        if not same.any():
            break
        cur = np.where(same, m, cur)
    return mother[cur]


def fatjet_matches(ev: ak.Array, dr: float = 0.8) -> dict[str, np.ndarray]:
    """Per FatJet (flat, file order): is it top-, W- or H->bb-matched (decay quarks all within ``dr``)?

    Top: the b of a top and both quarks of its W inside; W: both quarks of a W inside and the jet not
    top-matched; H->bb: both b of an H inside. From ``GenPart`` (pdgId, genPartIdxMother, eta, phi): the
    quarks whose mother is the resonance (W copies followed up to the top). Returns boolean arrays
    ``top``, ``W``, ``Hbb`` and the jets' ``msoftdrop``.

    Example:
        A W -> u dbar inside the first jet, its quarks 0.3 apart:

        >>> ev = ak.Array({"FatJet_eta": [[0.0, 2.0]], "FatJet_phi": [[0.0, 0.0]], "FatJet_msoftdrop": [[80.0, 20.0]],
        ...     "GenPart_pdgId": [[24, 2, -1]], "GenPart_genPartIdxMother": [[-1, 0, 0]],
        ...     "GenPart_eta": [[0.0, 0.15, -0.15]], "GenPart_phi": [[0.0, 0.0, 0.0]]})
        >>> {k: v.tolist() for k, v in fatjet_matches(ev).items()}
        {'top': [False, False], 'W': [True, False], 'Hbb': [False, False], 'msoftdrop': [80.0, 20.0]}
    """
    gcount = ak.to_numpy(ak.num(ev.GenPart_pdgId)).astype(np.int64)
    goff = np.concatenate([[0], np.cumsum(gcount)])
    gevt = np.repeat(np.arange(len(gcount)), gcount)
    pdg = ak.to_numpy(ak.flatten(ev.GenPart_pdgId)).astype(np.int64)
    mloc = ak.to_numpy(ak.flatten(ev.GenPart_genPartIdxMother)).astype(np.int64)
    mother = np.where(mloc >= 0, goff[gevt] + mloc, -1)
    geta = ak.to_numpy(ak.flatten(ev.GenPart_eta)).astype(np.float64)
    gphi = ak.to_numpy(ak.flatten(ev.GenPart_phi)).astype(np.float64)
    apdg = np.abs(pdg)
    am = np.where(mother >= 0, apdg[np.maximum(mother, 0)], 0)
    quark = (apdg <= 5) & (apdg >= 1) & (mother >= 0)
    w_q = np.flatnonzero(quark & (am == 24))
    top_b = np.flatnonzero(quark & (am == 6) & (apdg == 5))
    h_b = np.flatnonzero(quark & (am == 25) & (apdg == 5))
    w_origin = _copy_origin(pdg, mother, mother[w_q])
    w_top = np.where((w_origin >= 0) & (apdg[np.maximum(w_origin, 0)] == 6), w_origin, -1)
    jcount = ak.to_numpy(ak.num(ev.FatJet_eta)).astype(np.int64)
    joff = np.concatenate([[0], np.cumsum(jcount)])
    jeta = ak.to_numpy(ak.flatten(ev.FatJet_eta)).astype(np.float64)
    jphi = ak.to_numpy(ak.flatten(ev.FatJet_phi)).astype(np.float64)
    n_j = len(jeta)

    def matched(prod: np.ndarray, key: np.ndarray, need: int) -> np.ndarray:
        """Jets holding all ``need`` products of some group ``key`` (groups of another size never match)."""
        ok = key >= 0
        prod, key = prod[ok], key[ok]
        size = np.unique(key, return_counts=True)
        full = np.isin(key, size[0][size[1] == need])
        prod, key = prod[full], key[full]
        ev_p = gevt[prod]
        nj = jcount[ev_p]
        pi = np.repeat(np.arange(len(prod)), nj)
        ji = joff[ev_p][pi] + (np.arange(len(pi)) - np.repeat(np.cumsum(nj) - nj, nj))
        dphi = delta_phi(gphi[prod][pi], jphi[ji])
        inside = (geta[prod][pi] - jeta[ji]) ** 2 + dphi**2 < dr**2
        pair_key = ji * (len(pdg) + 1) + key[pi]
        u, c = np.unique(pair_key[inside], return_counts=True)
        out = np.zeros(n_j, bool)
        out[(u // (len(pdg) + 1))[c == need]] = True
        return out

    top = matched(np.concatenate([top_b, w_q]), np.concatenate([mother[top_b], w_top]), 3)
    w = matched(w_q, mother[w_q], 2) & ~top
    hbb = matched(h_b, mother[h_b], 2)
    return {"top": top, "W": w, "Hbb": hbb, "msoftdrop": ak.to_numpy(ak.flatten(ev.FatJet_msoftdrop)).astype(np.float64)}


def mass_peak(m: np.ndarray, lo: float, hi: float, width: float = 4.0) -> float:
    """Position (GeV) of the maximum of a histogram of ``m`` in [lo, hi] (``width`` bins, 3-bin running mean).

    Example:
        >>> mass_peak(np.random.default_rng(1).normal(80.0, 8.0, 5000), 38.0, 142.0)
        80.0
    """
    counts, edges = np.histogram(m, bins=np.arange(lo, hi + width / 2, width))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    return float(0.5 * (edges[:-1] + edges[1:])[np.argmax(smooth)])


def fatjet_msd_peaks(ev: ak.Array) -> dict[str, float]:
    """Soft-drop mass peaks (GeV) of top-, W- and H->bb-matched fat jets (:func:`fatjet_matches`) and their counts.

    CMS: top ~ 170-175, W ~ 80-85, H ~ 120-125 GeV after the PUPPI soft-drop mass corrections (JME-18-002,
    arXiv:2004.08262; CMS-PAS-BTV-22-001).
    """
    mt = fatjet_matches(ev)
    m = mt["msoftdrop"]
    out = {}
    for name, lo, hi in (("top", 100.0, 260.0), ("W", 40.0, 140.0), ("Hbb", 60.0, 200.0)):
        sel = mt[name] & (m > 0)
        out[name] = mass_peak(m[sel], lo, hi) if sel.sum() >= 10 else float("nan")
        out[f"n_{name}"] = float(sel.sum())
    return out
