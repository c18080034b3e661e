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
