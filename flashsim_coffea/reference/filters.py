"""Generator-level filters: keep, reject or down-weight one Pythia event after hadronisation.

A filter is a plain function of Pythia's event record (``pythia.event``) returning the
probability to keep the event: 1 (keep), 0 (reject) or in between (biasing: the event is kept
with that probability and then weighs 1 / probability). :func:`flashsim_coffea.reference.pythia.generate_block`
calls the filter of a process (:data:`flashsim_coffea.reference.processes.FILTERS`) on every
event Pythia makes, draws the keep decision from a seeded stream, multiplies the kept event's
generator weight by 1 / probability and counts the events tried and kept; the sample's metadata
carries the filter efficiency (weighted) and the cross-section times it
(:func:`flashsim_coffea.reference.generate.cross_section`).

The filters serve the two seed analyses (``analyses/vbf_hmumu.py``, ``analyses/zh_llbb.py``).
They reject only events without two muons in the acceptance (thresholds in :data:`CUTS`, each
looser than the reconstructed cut with its margin). Events with the two muons and a jet pair
that the selection could pick are kept (weight 1); the others are kept with probability
``CUTS["bias_keep"]`` and weight 1 / that: one of the reconstructed jets the analyses select
may be a pileup jet the generator record does not hold (a check on 1500 unfiltered
``dy_mumu_vbf`` events: of the 24 that the VBF cuts other than m_ll select, 8 have no gen
jet pair passing, 7 of them with a pileup jet among the two leading reco jets, 1 with a 15 GeV
gen jet raised to 31 GeV by pileup; none fails the muon acceptance), so a hard jet-pair filter
would bias the sample. The sample
stays unbiased for any selection within the muon acceptance; the weight-1 events carry the
statistics where the signal regions are. Gen objects:

- muons: final-state muons (after QED FSR, as the detector sees them), the two leading ones;
- jets: anti-kT R = 0.4 on every visible final-state particle with abs(eta) < 5 (Pythia's
  ``SlowJet`` on FastJet's core, select = 2: no neutrinos; CMS ``ak4GenJetsNoNu``), dropped
  within dR < 0.4 of the two leading muons (the analyses' jet-muon cleaning);
- jet pairs: every pair of the three leading jets (the reconstructed leading two may be
  another pair after resolution, pileup jets and pT reordering).

Cost: about 1 ms per event (one Python pass over the record, clustering in C++), against
~30 ms for Pythia to make the event.

Example:
    Pairs among the leading jets; jets as rows ``(px, py, pz, e)``:

    >>> jets = np.array([[60.0, 0, 40, 72.1], [-50.0, 0, -300, 304.2], [5.0, 20, 0, 20.7]])
    >>> m, deta = pairs(jets)
    >>> m.round(1).tolist(), deta.round(2).tolist()
    ([271.8, 48.9, 114.6], [3.12, 0.63, 2.49])

References:
    T. Sjostrand et al., PYTHIA 8.3 ``SlowJet`` (arXiv:2203.11601, section 12); M. Cacciari,
    G. Salam, G. Soyez, "The anti-kt jet clustering algorithm", JHEP 04 (2008) 063; CMS, "Electroweak
    production of two jets in association with a Z boson ... at 13 TeV", Eur. Phys. J. C 78 (2018)
    589, arXiv:1712.09814 (the fiducial region of :func:`ewk_zjj_fiducial`).
"""

from __future__ import annotations

import numpy as np

#: Filter thresholds (GeV) and the reconstructed cut each one serves, with its margin.
CUTS: dict = {
    # muons: the analyses take pT > 20, abs(eta) < 2.4 [analyses/selection.py]; muon pT resolution
    # ~1-2 % at 20-100 GeV (cms_detector_params.md), so 15 GeV is > 10 sigma looser
    "mu_pt": 15.0,
    "mu_eta": 2.5,
    "jet_R": 0.4,  # AK4 [CMS GenJet]
    "particle_eta": 5.0,  # jet inputs (HF reaches 5.2)
    "clean_dr": 0.4,  # jet-muon cleaning of the analyses
    # VBF H->mumu: reco pT(j1) > 35, pT(j2) > 25, abs(eta) < 4.7, m_jj > 150, deta_jj > 2
    # [analyses/vbf_hmumu.py]; jet pT resolution ~15-20 % at 25 GeV, ~10 % at 100 GeV
    "vbf_jet_pt": 15.0,  # 10 GeV (2-3 sigma of resolution + the response) below the reco 25
    "vbf_jet_eta": 4.9,
    "vbf_mjj": 100.0,  # 1/3 below the reco 150 (~3 sigma of the m_jj resolution)
    "vbf_deta": 1.5,  # 0.5 below the reco 2 (eta resolution of a jet ~0.03)
    # m(mumu) window of the VBF samples whose hard process does not fix it (top pairs): the Drell-Yan VBF
    # samples' generated range, which holds the analysis' m_ll histogram (100-180) above 105 and the
    # signal region 115-135 with > 5 sigma of the ~2 % dimuon mass resolution
    "vbf_mll": (105.0, 200.0),
    # ZH -> mumu bb: reco jets pT > 20, abs(eta) < 2.5, 90 < m_jj < 150 [analyses/zh_llbb.py]
    "zh_jet_pt": 12.0,
    "zh_jet_eta": 2.8,
    "zh_mjj_min": 50.0,  # 45 % below 90
    "zh_mjj_max": 250.0,  # 2/3 above 150
    # m(mumu) window of the ZH samples whose hard process does not fix it (top pairs): the analysis' m_ll
    # histogram (60-120) and signal region (75-105) inside with 10 GeV margins (> 8 sigma of the ~2 % dimuon
    # mass resolution at 60 GeV)
    "zh_mll": (50.0, 130.0),
    # CMS EW Zjj fiducial region (arXiv:1712.09814): the two outgoing quarks of the hard process
    "ewk_quark_pt": 25.0,
    "ewk_quark_eta": 5.0,
    "ewk_mjj": 120.0,
    # the keep probability of events with two muons and no jet pair (their weight: 1 / it). On 1500
    # unfiltered dy_mumu_vbf events 1/3 of those the VBF cuts (but m_ll) select fall here (a pileup
    # jet among the two leading ones): 0.1 gives that third ~200 raw events per 200k kept, the
    # jet-pair two thirds ~4000 (kept fraction 0.072 + 0.1 x 0.42 of the tried events)
    "bias_keep": 0.1,
}


def _four(p) -> tuple[float, float, float, float]:
    return (p.px(), p.py(), p.pz(), p.e())


def muons(event, pt_min: float = CUTS["mu_pt"], eta_max: float = CUTS["mu_eta"]) -> np.ndarray:
    """The final-state muons with pT > ``pt_min`` and abs(eta) < ``eta_max``, pT-descending,
    as rows ``(px, py, pz, e)``."""
    rows = [_four(q) for q in event.particles() if q.isFinal() and q.idAbs() == 13
            and q.pT() > pt_min and abs(q.eta()) < eta_max]
    out = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return out[np.argsort(-np.hypot(out[:, 0], out[:, 1]), kind="stable")]


def _eta_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pt = np.hypot(p[:, 0], p[:, 1])
    return np.arcsinh(p[:, 2] / np.maximum(pt, 1e-9)), np.arctan2(p[:, 1], p[:, 0])


def jets(event, pt_min: float, eta_max: float, leptons: np.ndarray) -> np.ndarray:
    """Anti-kT 0.4 jets of the visible final state (see the module doc) with pT > ``pt_min`` and
    abs(eta) < ``eta_max``, not within dR < 0.4 of any row of ``leptons``; rows ``(px, py, pz, e)``,
    pT-descending."""
    import pythia8mc

    sj = pythia8mc.SlowJet(-1, CUTS["jet_R"], pt_min, CUTS["particle_eta"], 2, 2)
    sj.analyze(event)
    out = np.array([_four(sj.p(i)) for i in range(sj.sizeJet())], dtype=np.float64).reshape(-1, 4)
    out = out[np.argsort(-np.hypot(out[:, 0], out[:, 1]), kind="stable")]
    eta, phi = _eta_phi(out)
    keep = np.abs(eta) < eta_max
    if len(leptons):
        leta, lphi = _eta_phi(leptons)
        dphi = np.angle(np.exp(1j * (phi[:, None] - lphi[None, :])))
        keep &= ~np.any(np.hypot(eta[:, None] - leta[None, :], dphi) < CUTS["clean_dr"], axis=1)
    return out[keep]


def pairs(jets: np.ndarray, leading: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Invariant mass and abs(delta eta) of every pair of the ``leading`` first rows of ``jets``
    (rows ``(px, py, pz, e)``), pairs in the order (0, 1), (0, 2), (1, 2), ... Example in the module doc."""
    j = jets[:leading]
    a, b = np.triu_indices(len(j), k=1)
    s = j[a] + j[b]
    m = np.sqrt(np.maximum(s[:, 3] ** 2 - np.sum(s[:, :3] ** 2, axis=1), 0.0))
    eta, _ = _eta_phi(j)
    return m, np.abs(eta[a] - eta[b])


def vbf_dijet(event) -> float:
    """Keep probability for VBF H -> mumu: 0 without two muons in acceptance, 1 with a VBF-like jet
    pair (pT > 15 GeV, abs(eta) < 4.9, m_jj > 100 GeV, abs(delta eta) > 1.5: the selection with
    margins, :data:`CUTS`), else ``CUTS["bias_keep"]``."""
    return _vbf_keep(event, None)


def vbf_dijet_mll(event) -> float:
    """:func:`vbf_dijet` with the two leading muons' mass in ``CUTS["vbf_mll"]`` (105-200 GeV, as the
    Drell-Yan VBF samples), else 0: for processes whose m(mumu) spreads far wider (top pairs)."""
    return _vbf_keep(event, CUTS["vbf_mll"])


def _muon_pair(event, m_ll: tuple[float, float] | None) -> np.ndarray | None:
    """The two leading muons in acceptance (rows ``(px, py, pz, e)``), with their mass in ``m_ll`` if given;
    ``None`` without such a pair (the event is rejected)."""
    mu = muons(event)[:2]
    if len(mu) < 2 or (m_ll is not None and not m_ll[0] <= pairs(mu, 2)[0][0] < m_ll[1]):
        return None
    return mu


def _vbf_keep(event, m_ll: tuple[float, float] | None) -> float:
    mu = _muon_pair(event, m_ll)
    if mu is None:
        return 0.0
    j = jets(event, CUTS["vbf_jet_pt"], CUTS["vbf_jet_eta"], mu)
    m, deta = pairs(j)
    return 1.0 if np.any((m > CUTS["vbf_mjj"]) & (deta > CUTS["vbf_deta"])) else CUTS["bias_keep"]


def zh_dijet(event) -> float:
    """Keep probability for ZH -> mumu bb: 0 without two muons in acceptance, 1 with a central jet
    pair (pT > 12 GeV, abs(eta) < 2.8, 50 < m_jj < 250 GeV: the selection with margins, no flavour
    cut, :data:`CUTS`), else ``CUTS["bias_keep"]``."""
    return _zh_keep(event, None)


def zh_dijet_mll(event) -> float:
    """:func:`zh_dijet` with the two leading muons' mass in ``CUTS["zh_mll"]`` (50-130 GeV), else 0: for
    processes whose m(mumu) spreads far wider (top pairs)."""
    return _zh_keep(event, CUTS["zh_mll"])


def _zh_keep(event, m_ll: tuple[float, float] | None) -> float:
    mu = _muon_pair(event, m_ll)
    if mu is None:
        return 0.0
    j = jets(event, CUTS["zh_jet_pt"], CUTS["zh_jet_eta"], mu)
    m, _ = pairs(j)
    return 1.0 if np.any((m > CUTS["zh_mjj_min"]) & (m < CUTS["zh_mjj_max"])) else CUTS["bias_keep"]


def ewk_zjj_fiducial(event) -> bool:
    """The two outgoing quarks of the hard process (status -23) in the CMS EW Zjj fiducial region:
    pT > 25 GeV, abs(eta) < 5, m_jj > 120 GeV (arXiv:1712.09814; its m_ll > 50 GeV holds by construction)."""
    q = np.array([_four(p) for p in event.particles() if p.status() == -23 and 1 <= p.idAbs() <= 5],
                 dtype=np.float64).reshape(-1, 4)
    if len(q) < 2:
        return False
    eta, _ = _eta_phi(q[:2])
    pt = np.hypot(q[:2, 0], q[:2, 1])
    m, _ = pairs(q[:2])
    return bool(np.all(pt > CUTS["ewk_quark_pt"]) and np.all(np.abs(eta) < CUTS["ewk_quark_eta"])
                and m[0] > CUTS["ewk_mjj"])


#: generator-level images of the two analyses' signal regions (without the ZH b tag), the fiducial regions
#: that normalise the Z+jet samples (:data:`flashsim_coffea.reference.processes.NORMALISATION`); cuts as in
#: ``analyses/zh_llbb.py`` and ``analyses/vbf_hmumu.py`` on the filter's muons and jets.
SIGNAL_REGIONS: dict = {
    "zh": {"mu_pt": 20.0, "mu_eta": 2.4, "m_ll": (75.0, 105.0), "jet_pt": (20.0, 20.0), "jet_eta": 2.5,
           "m_jj": (90.0, 150.0), "deta_jj": 0.0},
    "vbf": {"mu_pt": 20.0, "mu_eta": 2.4, "m_ll": (115.0, 135.0), "jet_pt": (35.0, 25.0), "jet_eta": 4.7,
            "m_jj": (150.0, np.inf), "deta_jj": 2.0},
}


def in_signal_region(event, region: str) -> bool:
    """Whether the two leading muons and the two leading jets of ``event`` (a Pythia event record, objects of
    :func:`muons` and :func:`jets`) pass the cuts of ``SIGNAL_REGIONS[region]``."""
    c = SIGNAL_REGIONS[region]
    mu = muons(event, c["mu_pt"], c["mu_eta"])
    if len(mu) < 2:
        return False
    m_ll, _ = pairs(mu, 2)
    if not c["m_ll"][0] <= m_ll[0] < c["m_ll"][1]:
        return False
    j = jets(event, c["jet_pt"][1], c["jet_eta"], mu[:2])
    if len(j) < 2 or np.hypot(j[0, 0], j[0, 1]) <= c["jet_pt"][0]:
        return False
    m_jj, deta = pairs(j, 2)
    return bool(c["m_jj"][0] < m_jj[0] < c["m_jj"][1] and deta[0] > c["deta_jj"])


def zh_signal_region(event) -> bool:
    """:func:`in_signal_region` of the ZH -> mumu bb selection (b tag left out)."""
    return in_signal_region(event, "zh")


def vbf_signal_region(event) -> bool:
    """:func:`in_signal_region` of the VBF H -> mumu selection."""
    return in_signal_region(event, "vbf")
