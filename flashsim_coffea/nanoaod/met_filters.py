"""MET filters (NanoAOD ``Flag_*`` bits), derived from reconstructed quantities where CMS defines
them on such quantities, else drawn at the failure rates measured in CMS MC.

:func:`met_filters` returns the 28 flags of NanoAOD v12 (:data:`FLAGS`), True = event passes.
The reference detector calls it on its own PV and muons; flash events call the same function on
theirs.

Derived (CMSSW ``RecoMET/METFilters`` definitions on NanoAOD fields):

* ``goodVertices``: the PV is not fake, ``ndof > 4``, abs(z) <= 24 cm, rho <= 2 cm
  (``primaryVertexFilter``).
* ``BadPFMuonFilter``: no PF global muon of pT > 100 GeV whose inner track comes from the
  muon-seeded out-in tracking iteration (algo 14) and is badly measured: segment compatibility
  < 0.3 (when ``segmentComp`` exists), or best-track relative pT error > 2, or inner-track relative
  error > 1 (``ptErr / pt`` stands for both) (``BadParticleFilter``, filterType ``BadPFMuon``);
  the algo-14 origin is a per-muon draw (``PARAMS["algo14_frac"]``).
* ``BadPFMuonDzFilter``: the same muons, with abs(dz) > 0.5 cm added to the bad-measurement
  conditions (``minDzBestTrack``).
* ``BadChargedCandidateFilter``: a global muon of pT > 100 that is *not* a PF muon and is badly
  measured (its track became a PF charged hadron).
* ``BadPFMuonSummer16Filter`` / ``BadChargedCandidateSummer16Filter``: PF muon / any muon of
  pT > 100 with relative pT error > 2 (the 2016 versions, inner track not high purity).

Drawn (noise, halo, calibration and tracking-failure filters need detector information NanoAOD
objects do not carry): each fails with the rate ``PARAMS["rates"]``, the Jeffreys estimate
(k + 0.5) / (N + 1) of the failures k in the N CMS MC events of ``nano_tt_v12.root`` (200, Run-3
ttbar) and ``nano_dy.root`` (40, Run-2 Drell-Yan) where the filter exists. The seven recommended
filters among them never failed (0 of 240 events *together*): they share the joint Jeffreys rate
0.5/241, a seventh each. Filters that are variants of each other share one uniform number, so
their failures nest as in the real files: ``CSCTightHalo2015`` within ``CSCTightHalo`` within
``CSCTightHaloTrkMuUnveto`` (3 of the 7 ``TrkMuUnveto`` failures of nano_tt_v12 are the
``CSCTightHalo`` ones), ``globalSuperTightHalo2016`` within ``globalTightHalo2016``, the three
``trkPOG`` sub-filters together (as in the 2015 open-data ttbar file).

``Flag_trkPOGFilters`` is the AND of the three ``trkPOG_*``; ``Flag_METFilters`` is exactly the AND
of the filters CMS recommends for Run 3 (:data:`METFILTERS`; the CMSSW 13 ``metFilters`` sequence:
in nano_tt_v12 it passes every event while ``CSCTightHalo*`` fail some).

Example:
    Two events: a good vertex, and one with too few tracks (ndof 3); a 300 GeV PF muon with a
    relative pT error of 2.5 in the second:

    >>> import awkward as ak
    >>> pv = {"ndof": np.array([120.0, 3.0]), "x": np.array([0.1, 0.1]), "y": np.zeros(2), "z": np.array([1.0, -3.0])}
    >>> mu = ak.Array([[], [{"pt": 300.0, "ptErr": 750.0, "dz": 0.001, "isGlobal": True, "isPFcand": True}]])
    >>> flags = met_filters(pv, mu, np.random.default_rng(1))
    >>> flags["Flag_goodVertices"], flags["Flag_BadPFMuonSummer16Filter"], flags["Flag_METFilters"]
    (array([ True, False]), array([ True, False]), array([ True, False]))
    >>> len(flags)
    28

References:
    CMS, "Performance of missing transverse momentum reconstruction in proton-proton collisions at
    sqrt(s) = 13 TeV using the CMS detector", JINST 14 (2019) P07004, arXiv:1903.06078 (section 4,
    anomalous high-pT_miss events and their filters). CMSSW ``RecoMET/METFilters`` (python configs and
    ``BadParticleFilter.cc``).
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

#: The NanoAOD v12 MET-filter branches, in the order of ``nano_tt_v12.root``'s own list.
FLAGS: tuple[str, ...] = (
    "Flag_HBHENoiseFilter",
    "Flag_HBHENoiseIsoFilter",
    "Flag_CSCTightHaloFilter",
    "Flag_CSCTightHaloTrkMuUnvetoFilter",
    "Flag_CSCTightHalo2015Filter",
    "Flag_globalTightHalo2016Filter",
    "Flag_globalSuperTightHalo2016Filter",
    "Flag_HcalStripHaloFilter",
    "Flag_hcalLaserEventFilter",
    "Flag_EcalDeadCellTriggerPrimitiveFilter",
    "Flag_EcalDeadCellBoundaryEnergyFilter",
    "Flag_ecalBadCalibFilter",
    "Flag_goodVertices",
    "Flag_eeBadScFilter",
    "Flag_ecalLaserCorrFilter",
    "Flag_trkPOGFilters",
    "Flag_chargedHadronTrackResolutionFilter",
    "Flag_muonBadTrackFilter",
    "Flag_BadChargedCandidateFilter",
    "Flag_BadPFMuonFilter",
    "Flag_BadPFMuonDzFilter",
    "Flag_hfNoisyHitsFilter",
    "Flag_BadChargedCandidateSummer16Filter",
    "Flag_BadPFMuonSummer16Filter",
    "Flag_trkPOG_manystripclus53X",
    "Flag_trkPOG_toomanystripclus53X",
    "Flag_trkPOG_logErrorTooManyClusters",
    "Flag_METFilters",
)

#: The filters ``Flag_METFilters`` is the AND of (CMS Run-3 recommendation, CMSSW 13 ``metFilters``).
METFILTERS: tuple[str, ...] = (
    "Flag_goodVertices",
    "Flag_globalSuperTightHalo2016Filter",
    "Flag_HBHENoiseFilter",
    "Flag_HBHENoiseIsoFilter",
    "Flag_EcalDeadCellTriggerPrimitiveFilter",
    "Flag_BadPFMuonFilter",
    "Flag_BadPFMuonDzFilter",
    "Flag_hfNoisyHitsFilter",
    "Flag_eeBadScFilter",
    "Flag_ecalBadCalibFilter",
)

_JOINT = 0.5 / 241 / 7  # seven recommended drawn filters, 0 failures together in 240 events

PARAMS: dict = {
    # primaryVertexFilter / goodVertices [code: RecoMET/METFilters/python/metFilters_cff.py]
    "pv_min_ndof": 4.0,
    "pv_max_abs_z_cm": 24.0,
    "pv_max_rho_cm": 2.0,
    # BadParticleFilter [code: RecoMET/METFilters/python/BadPFMuonFilter_cfi.py, BadPFMuonDzFilter_cfi.py]
    "bad_mu_pt": 100.0,
    "bad_mu_segcomp": 0.3,
    "bad_mu_best_relerr": 2.0,
    "bad_mu_inner_relerr": 1.0,
    "bad_mu_dz_cm": 0.5,
    # share of muon inner tracks from the muon-seeded out-in iteration (algo 14) [mem: a per-mille
    # fraction of prompt muons; the filter's rate in MC is ~1e-4]
    "algo14_frac": 0.002,
    # failure rates of the drawn filters [meas]: (k + 0.5) / (N + 1) in nano_tt_v12 + nano_dy (N = 240,
    # hfNoisyHits and BadPFMuonDz exist only in nano_tt_v12)
    "rates": {
        "Flag_HBHENoiseFilter": _JOINT,
        "Flag_HBHENoiseIsoFilter": _JOINT,
        "Flag_globalSuperTightHalo2016Filter": _JOINT,
        "Flag_EcalDeadCellTriggerPrimitiveFilter": _JOINT,
        "Flag_eeBadScFilter": _JOINT,
        "Flag_ecalBadCalibFilter": _JOINT,
        "Flag_hfNoisyHitsFilter": _JOINT,
        "Flag_CSCTightHaloTrkMuUnvetoFilter": 10.5 / 241,  # 7 + 3
        "Flag_CSCTightHaloFilter": 5.5 / 241,  # 3 + 2
        "Flag_CSCTightHalo2015Filter": 0.5 / 241,
        "Flag_globalTightHalo2016Filter": 2.5 / 241,  # 2 + 0
        "Flag_HcalStripHaloFilter": 0.5 / 241,
        "Flag_hcalLaserEventFilter": 0.5 / 241,
        "Flag_EcalDeadCellBoundaryEnergyFilter": 11.5 / 241,  # 11 + 0
        "Flag_ecalLaserCorrFilter": 150.5 / 241,  # 122 + 28: MC carries no laser corrections
        "Flag_chargedHadronTrackResolutionFilter": 0.5 / 241,
        "Flag_muonBadTrackFilter": 0.5 / 241,
        "Flag_trkPOG": 0.5 / 241,  # the three sub-filters together
    },
}

#: Drawn filters sharing one uniform number per event (nested failures), in draw order.
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Flag_CSCTightHaloTrkMuUnvetoFilter", "Flag_CSCTightHaloFilter", "Flag_CSCTightHalo2015Filter"),
    ("Flag_globalTightHalo2016Filter", "Flag_globalSuperTightHalo2016Filter"),
    ("Flag_HBHENoiseFilter",),
    ("Flag_HBHENoiseIsoFilter",),
    ("Flag_HcalStripHaloFilter",),
    ("Flag_hcalLaserEventFilter",),
    ("Flag_EcalDeadCellTriggerPrimitiveFilter",),
    ("Flag_EcalDeadCellBoundaryEnergyFilter",),
    ("Flag_ecalBadCalibFilter",),
    ("Flag_eeBadScFilter",),
    ("Flag_ecalLaserCorrFilter",),
    ("Flag_chargedHadronTrackResolutionFilter",),
    ("Flag_muonBadTrackFilter",),
    ("Flag_hfNoisyHitsFilter",),
    ("Flag_trkPOG",),
)
#: per-event uniforms :func:`met_filters` uses: one per group of drawn filters.
N_GROUPS = len(_GROUPS)


def _flat(arr: ak.Array, name: str, default: float) -> np.ndarray:
    if name not in arr.fields:
        return np.full(int(ak.sum(ak.num(arr.pt))), default, dtype=np.float64)
    return ak.to_numpy(ak.flatten(arr[name])).astype(np.float64)


def draws(rng: np.random.Generator, muons: ak.Array, n_events: int) -> dict[str, np.ndarray]:
    """The random numbers :func:`met_filters` uses, drawn from ``rng`` in this order: one uniform per
    muon (``muon``: its algo-14 origin), then an (events, groups of drawn filters) block (``event``,
    ``_GROUPS`` order).

    Example:
        >>> d = draws(np.random.default_rng(1), ak.Array({"pt": [[30.0], []]}), 2)
        >>> d["muon"].shape, d["event"].shape
        ((1,), (2, 15))
    """
    return {"muon": rng.random(int(ak.sum(ak.num(muons.pt)))), "event": rng.random((n_events, len(_GROUPS)))}


def met_filters(pv: Mapping[str, np.ndarray], muons: ak.Array,
                rng: np.random.Generator | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``Flag_*`` bits of every event (module docstring).

    Arguments:
        pv: the primary vertex per event: ``ndof``, ``x``, ``y``, ``z`` (cm, as NanoAOD ``PV_*``).
        muons: jagged ``Muon`` records: ``pt``, ``ptErr``, ``dz``, ``isGlobal``, ``isPFcand`` (and
            ``segmentComp`` when present).
        rng: the random generator (:func:`draws` takes the numbers from it), or the numbers themselves:
            a mapping like :func:`draws`' result (the flash engine gives counter-based ones).

    Returns:
        flag name -> bool array (True = passes), in :data:`FLAGS` order. Example in the module docstring.
    """
    n_ev = len(np.asarray(pv["ndof"]))
    d = rng if isinstance(rng, Mapping) else draws(rng, muons, n_ev)
    p = PARAMS
    out: dict[str, np.ndarray] = {}
    rho = np.hypot(np.asarray(pv["x"], np.float64), np.asarray(pv["y"], np.float64))
    out["Flag_goodVertices"] = (
        (np.asarray(pv["ndof"]) > p["pv_min_ndof"])
        & (np.abs(np.asarray(pv["z"])) <= p["pv_max_abs_z_cm"])
        & (rho <= p["pv_max_rho_cm"])
    )

    # muon-based filters
    counts = np.asarray(ak.num(muons.pt))
    evt = np.repeat(np.arange(n_ev), counts)
    pt = _flat(muons, "pt", 0.0)
    rel = _flat(muons, "ptErr", 0.0) / np.maximum(pt, 1e-9)
    glob = _flat(muons, "isGlobal", 1.0) > 0
    pfmu = _flat(muons, "isPFcand", 1.0) > 0
    seg = _flat(muons, "segmentComp", 1.0)
    dz = np.abs(_flat(muons, "dz", 0.0))
    algo14 = np.asarray(d["muon"], np.float64) < p["algo14_frac"]
    high = (pt > p["bad_mu_pt"]) & glob
    bad = (seg < p["bad_mu_segcomp"]) | (rel > p["bad_mu_best_relerr"]) | (rel > p["bad_mu_inner_relerr"])

    def passes(fail_mu: np.ndarray) -> np.ndarray:
        return np.bincount(evt[fail_mu], minlength=n_ev) == 0

    out["Flag_BadPFMuonFilter"] = passes(high & pfmu & algo14 & bad)
    out["Flag_BadPFMuonDzFilter"] = passes(high & pfmu & algo14 & (bad | (dz > p["bad_mu_dz_cm"])))
    out["Flag_BadChargedCandidateFilter"] = passes(high & ~pfmu & bad)
    out["Flag_BadPFMuonSummer16Filter"] = passes((pt > p["bad_mu_pt"]) & pfmu & (rel > p["bad_mu_best_relerr"]))
    out["Flag_BadChargedCandidateSummer16Filter"] = passes((pt > p["bad_mu_pt"]) & (rel > p["bad_mu_best_relerr"]))

    # drawn filters: one uniform per event and group, nested thresholds within a group
    u = np.asarray(d["event"], np.float64).reshape(n_ev, len(_GROUPS))
    for g, names in enumerate(_GROUPS):
        for name in names:
            out[name] = u[:, g] >= p["rates"][name]
    trk = out.pop("Flag_trkPOG")
    for sub in ("manystripclus53X", "toomanystripclus53X", "logErrorTooManyClusters"):
        out[f"Flag_trkPOG_{sub}"] = trk.copy()  # the same failing events, as in the 2015 open-data file
    subs = ("manystripclus53X", "toomanystripclus53X", "logErrorTooManyClusters")
    out["Flag_trkPOGFilters"] = np.logical_and.reduce([out[f"Flag_trkPOG_{s}"] for s in subs])
    met_ok = np.ones(n_ev, bool)
    for name in METFILTERS:
        met_ok &= out[name]
    out["Flag_METFilters"] = met_ok
    return {name: np.asarray(out[name], dtype=bool) for name in FLAGS}
