"""HLT decisions (NanoAOD ``HLT_*`` bits) emulated from reconstructed objects.

:func:`emulate` takes the ``Muon``, ``Electron`` and ``Jet`` collections and the MET in NanoAOD
form and returns one bool per event and path (:data:`PATHS`). The reference detector calls it on
its own objects; flash events call the same function on the flash objects, so a trigger bit is
*derived*, never learnt. Same inputs and seed: same bits.

Two kinds of legs, parameters in :data:`PARAMS`:

* **lepton legs** carry the measured per-object efficiency of CMS's trigger papers: an
  error-function turn-on in the offline pT (50% point ``pt50``, width ``width``) times a plateau per
  abs(eta) bin, times the online ID / isolation proxies below (the papers measure the efficiency for
  offline tight, isolated leptons). Each lepton gets *one* uniform number shared by all its legs, and
  fires a leg when the number is below the leg's efficiency: a muon firing ``IsoMu27`` fires
  ``IsoMu24``, as online.
* **jet, HT and MET legs** compare *online* quantities with the HLT thresholds: each jet's online pT is
  its offline pT x (1 + ``jet_res`` z) (one normal z per jet, shared by all paths), online HT and MHT
  are sums of online jets, online MET = ``met_scale`` x MET + ``met_res`` z (one z per event). Online
  b-tag scores are the offline ones moved in logit space, logit(s_on) = logit(s_off) + ``bias`` +
  ``noise`` x L (L logistic, one per jet): the online taggers (DeepCSV, DeepJet, ParticleNet run on
  HLT PF jets) differ from the offline ones (calibration, inputs), their scale is tuned to the
  trigger rates of the CMS ttbar sample.

Online ID / isolation proxies (offline NanoAOD fields):

* ``IsoMu*`` (combined PF-cluster + tracker relative isolation online): logistic in
  ``pfRelIso04_all``, 50% at 0.25; ``TrkIsoVVL`` (tracker isolation < 0.4 online): logistic in
  ``tkRelIso``, 50% at 0.4; non-tight muons (``tightId`` False) x 0.95.
* ``WPTight_Gsf`` (shower shape, H/E, ECAL/HCAL/track isolation online): a factor per offline
  ``cutBased`` value (veto .. tight, which includes the isolation) 0.05, 0.3, 0.75, 0.95, 1;
  ``CaloIdL_TrackIdL_IsoVL``: 0.4, 0.9, 0.97, 1, 1. Electron eta is the supercluster eta
  (``eta + deltaEtaSC`` when the field exists).
* ``IDTight`` (MET paths) uses the jets with ``jetId`` bit 2 (tight); PF jets of the b-tag paths
  need loose / tight ID: the offline tight bit stands for both.
* ParticleNet online score: ``btagPNetB`` when the jets carry it, else ``btagDeepFlavB``; DeepCSV
  and DeepJet online: ``btagDeepFlavB``. Scores of -1 (no tagger inputs) count as 0.

Example:
    Three events: a 30 GeV isolated muon, a 20 GeV one, and four b jets with 600 GeV of HT.

    >>> import awkward as ak
    >>> mu = ak.Array([[{"pt": 30.0, "eta": 0.3, "phi": 0.0, "dz": 0.0, "pfRelIso04_all": 0.02,
    ...                  "tkRelIso": 0.01, "tightId": True}], [{"pt": 20.0, "eta": 0.3, "phi": 0.0,
    ...                  "dz": 0.0, "pfRelIso04_all": 0.02, "tkRelIso": 0.01, "tightId": True}], []])
    >>> el = ak.zip({"pt": [[], [], []], "eta": [[], [], []], "phi": [[], [], []]})
    >>> jet = {"pt": [[], [], [200.0, 150.0, 130.0, 120.0]], "eta": [[], [], [0.1, -0.5, 1.0, 1.5]],
    ...        "phi": [[], [], [0.0, 3.0, 1.5, -1.5]], "jetId": [[], [], [6, 6, 6, 6]],
    ...        "btagDeepFlavB": [[], [], [0.99, 0.98, 0.97, 0.9]]}
    >>> met = {"pt": np.array([40.0, 10.0, 30.0]), "phi": np.zeros(3)}
    >>> bits = emulate(mu, el, ak.zip(jet), met, np.random.default_rng(1))
    >>> bits["HLT_IsoMu24"], bits["HLT_Mu50"]
    (array([ True, False, False]), array([False, False, False]))
    >>> bits["HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5"]
    array([False, False,  True])

References:
    CMS, "Performance of the CMS muon trigger system in proton-proton collisions at sqrt(s) = 13
    TeV", JINST 16 (2021) P07001, arXiv:2102.04790 (CMS-MUO-19-001).
    CMS, "Electron and photon reconstruction and identification with the CMS experiment at the CERN
    LHC", JINST 16 (2021) P05014, arXiv:2012.06888 (CMS-EGM-17-001).
    CMS, "Performance of the CMS Level-1 trigger in proton-proton collisions at sqrt(s) = 13 TeV",
    JINST 15 (2020) P10017, arXiv:2006.10165 (CMS-TRG-17-001).
    CMS, "The CMS trigger system", JINST 12 (2017) P01020, arXiv:1609.02366.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np
from scipy.special import ndtr, ndtri

#: Parameters per leg. Lepton legs: ``pt50`` / ``width`` (GeV, error-function turn-on in offline pT),
#: ``plateau`` per abs(eta) bin (``eta_edges``), ``eta_max``. Sources: [MUO] JINST 16 P07001 (L1 x HLT
#: efficiency of tight isolated muons, 2016-2018: plateau ~0.96 barrel to ~0.90 endcap for IsoMu24;
#: Mu50 ~1-2% higher; dimuon legs ~0.97-0.98) [mem of the paper's figures]; [EGM] JINST 16 P05014 and
#: [TRG] JINST 15 P10017 (L1 e/gamma + HLT WPTight ~0.96 barrel / ~0.91 endcap, 50% at threshold +1-3 GeV,
#: CaloIdL_TrackIdL_IsoVL legs ~0.98) [mem]; jets/MET: [TRG] and JINST 12 P01020 (PF jet / HT / MET turn-ons
#: from the online-offline resolution) [mem]. b-tag online ``bias`` / ``noise`` and the ParticleNet path's L1
#: stage: [derived] maximum likelihood of the real bits of nano_tt_v12 (semileptonic ttbar) given this emulation
#: run on its own reconstructed objects (rates 0.415 PNet 2BTagSum0p65, 0.14 DeepJet 4p5, 0.175 DeepCSV 4p5;
#: emulated 0.43, 0.17, 0.21).
PARAMS: dict = {
    "mu_eta_edges": (0.9, 1.2, 2.1),  # bins: abs(eta) < 0.9, 0.9-1.2, 1.2-2.1, 2.1-2.4
    "ele_eta_edges": (1.479, 2.0),  # barrel / endcap / far endcap (SC eta)
    "legs": {
        # single muon [MUO]
        "IsoMu24": {"pt50": 24.2, "width": 0.5, "plateau": (0.96, 0.93, 0.92, 0.88), "eta_max": 2.4, "iso": "pf"},
        "IsoMu27": {"pt50": 27.2, "width": 0.5, "plateau": (0.96, 0.93, 0.92, 0.88), "eta_max": 2.4, "iso": "pf"},
        "Mu50": {"pt50": 50.5, "width": 1.2, "plateau": (0.97, 0.95, 0.94, 0.91), "eta_max": 2.4, "iso": None},
        # double muon / muon-electron legs with tracker isolation [MUO]
        "Mu23": {"pt50": 23.3, "width": 0.5, "plateau": (0.97, 0.95, 0.94, 0.92), "eta_max": 2.4, "iso": "trk"},
        "Mu17": {"pt50": 17.3, "width": 0.4, "plateau": (0.97, 0.95, 0.94, 0.92), "eta_max": 2.4, "iso": "trk"},
        "Mu8": {"pt50": 8.2, "width": 0.3, "plateau": (0.98, 0.97, 0.96, 0.94), "eta_max": 2.4, "iso": "trk"},
        # single electron [EGM, TRG]
        "Ele32": {"pt50": 33.0, "width": 1.8, "plateau": (0.96, 0.92, 0.90), "eta_max": 2.5, "id": "wptight"},
        "Ele35": {"pt50": 36.0, "width": 1.8, "plateau": (0.96, 0.92, 0.90), "eta_max": 2.5, "id": "wptight"},
        # double electron / muon-electron legs [EGM]
        "Ele23": {"pt50": 23.8, "width": 1.0, "plateau": (0.985, 0.97, 0.96), "eta_max": 2.5, "id": "idl"},
        "Ele12": {"pt50": 12.6, "width": 0.8, "plateau": (0.985, 0.97, 0.96), "eta_max": 2.5, "id": "idl"},
    },
    # online isolation proxies: logistic(-(iso - center) / scale) [design, see module docstring]
    "iso_pf": (0.25, 0.04),  # Muon_pfRelIso04_all
    "iso_trk": (0.40, 0.05),  # Muon_tkRelIso
    "mu_nontight_factor": 0.95,  # [MUO] looser offline IDs a few % less efficient [mem]
    "ele_id_factor": {"wptight": (0.05, 0.3, 0.75, 0.95, 1.0), "idl": (0.4, 0.9, 0.97, 1.0, 1.0)},  # by cutBased
    # DZ filters of the dilepton paths: abs(dz1 - dz2) < 0.2 cm and the filter's efficiency [MUO, EGM: ~0.95-0.99
    # in data, ~0.98 in MC] [mem]
    "dz_max_cm": 0.2,
    "dz_eff": 0.98,
    # jets: online pT = offline x (1 + jet_res z) (HLT PF vs offline PUPPI jets) [TRG, mem]
    "jet_res": 0.08,
    "jet_eta_central": 2.5,  # "Central" PF jets and HT
    "jet_eta_central_2018": 2.4,  # the 2018-style 4p5 b-tag paths
    # MET: online PF MET = met_scale x offline Type-1 MET + met_res z; MHT from online jets pT > 20, abs(eta) < 5,
    # tight ID [TRG, JINST 12 P01020: PFMET120 plateaus ~250 GeV offline] [mem]
    "met_scale": 0.9,
    "met_res": 20.0,
    # online b-tag scores: logit shift and logistic noise per tagger [derived, see above]
    "btag": {"PNet": (-1.0, 1.0), "DeepJet": (-0.25, 1.0), "DeepCSV": (0.25, 0.8)},
    # the ParticleNet quad-jet path's L1 seeds (HTT280er / QuadJet) and calo-jet stage: efficiency
    # plateau x turn-on(online HT; ht50, width) [derived: nano_tt_v12, where the path fires in only ~55% of
    # the events passing its PF-jet and b-tag thresholds offline, rising with HT]
    "pnet_l1": (0.70, 250.0, 50.0),
}

#: The emulated paths (NanoAOD branch names).
PATHS: tuple[str, ...] = (
    "HLT_IsoMu24",
    "HLT_IsoMu24_eta2p1",
    "HLT_IsoMu27",
    "HLT_Mu50",
    "HLT_Ele32_WPTight_Gsf",
    "HLT_Ele35_WPTight_Gsf",
    "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass3p8",
    "HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_Mass8",
    "HLT_Ele23_Ele12_CaloIdL_TrackIdL_IsoVL",
    "HLT_Ele23_Ele12_CaloIdL_TrackIdL_IsoVL_DZ",
    "HLT_Mu23_TrkIsoVVL_Ele12_CaloIdL_TrackIdL_IsoVL_DZ",
    "HLT_Mu8_TrkIsoVVL_Ele23_CaloIdL_TrackIdL_IsoVL_DZ",
    "HLT_PFJet500",
    "HLT_PFHT1050",
    "HLT_PFMET120_PFMHT120_IDTight",
    "HLT_PFMETNoMu120_PFMHTNoMu120_IDTight",
    "HLT_QuadPFJet70_50_40_35_PFBTagParticleNet_2BTagSum0p65",
    "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepCSV_4p5",
    "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5",
)


def turn_on(pt, pt50: float, width: float):
    """Error-function turn-on: the Gaussian CDF of (pT - pt50) / width (numpy or awkward ``pt``).

    Example:
        >>> turn_on(np.array([23.0, 24.2, 26.0]), 24.2, 0.5).round(3)
        array([0.008, 0.5  , 1.   ])
    """
    return ndtr((pt - pt50) / width)


def _field(arr: ak.Array, name: str, default: float) -> ak.Array:
    return arr[name] if name in arr.fields else ak.full_like(arr.pt, default, dtype=np.float64)


def _flat(arr: ak.Array, name: str, default: float) -> np.ndarray:
    """A field of jagged records as a flat float64 numpy array (``default`` when absent)."""
    if name not in arr.fields:
        return np.full(int(ak.sum(ak.num(arr.pt))), default, dtype=np.float64)
    return ak.to_numpy(ak.flatten(arr[name])).astype(np.float64)


def _logistic(x: np.ndarray, center: float, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip((x - center) / scale, -50.0, 50.0)))


def _muon_eff(mu: ak.Array, leg: str, eta_max: float | None = None) -> ak.Array:
    p = PARAMS["legs"][leg]
    aeta = np.abs(_flat(mu, "eta", 0.0))
    eff = np.asarray(p["plateau"])[np.searchsorted(PARAMS["mu_eta_edges"], aeta)] * turn_on(
        _flat(mu, "pt", 0.0), p["pt50"], p["width"]
    )
    if p["iso"] == "pf":
        eff = eff * _logistic(_flat(mu, "pfRelIso04_all", 0.0), *PARAMS["iso_pf"])
    elif p["iso"] == "trk":
        eff = eff * _logistic(_flat(mu, "tkRelIso", 0.0), *PARAMS["iso_trk"])
    eff = eff * np.where(_flat(mu, "tightId", 1.0) > 0, 1.0, PARAMS["mu_nontight_factor"])
    eff = np.where(aeta < (eta_max if eta_max is not None else p["eta_max"]), eff, 0.0)
    return ak.unflatten(eff, ak.num(mu.pt))


def _electron_eff(el: ak.Array, leg: str) -> ak.Array:
    p = PARAMS["legs"][leg]
    aeta = np.abs(_flat(el, "eta", 0.0) + _flat(el, "deltaEtaSC", 0.0))  # supercluster eta
    eff = np.asarray(p["plateau"])[np.searchsorted(PARAMS["ele_eta_edges"], aeta)] * turn_on(
        _flat(el, "pt", 0.0), p["pt50"], p["width"]
    )
    factor = np.asarray(PARAMS["ele_id_factor"][p["id"]])
    cb = np.clip(_flat(el, "cutBased", len(factor) - 1).astype(np.int64), 0, len(factor) - 1)
    eff = np.where(aeta < p["eta_max"], eff * factor[cb], 0.0)
    return ak.unflatten(eff, ak.num(el.pt))


#: per-event uniforms :func:`emulate` uses: three DZ filters, the online MET, the ParticleNet path's L1 stage.
N_EVENT_DRAWS = 5


def draws(rng: np.random.Generator, muons: ak.Array, electrons: ak.Array, jets: ak.Array) -> dict[str, np.ndarray]:
    """The random numbers :func:`emulate` uses, drawn from ``rng`` in this order: one uniform per
    muon (``muon``), per electron (``electron``), one normal per jet (``jet_normal``), one uniform
    per jet (``jet_uniform``), then an (events, :data:`N_EVENT_DRAWS`) uniform block (``event``).

    Example:
        >>> d = draws(np.random.default_rng(1), ak.Array({"pt": [[30.0], []]}), ak.Array({"pt": [[], []]}),
        ...           ak.Array({"pt": [[], [50.0, 40.0]]}))
        >>> {k: np.shape(v) for k, v in d.items()}
        {'muon': (1,), 'electron': (0,), 'jet_normal': (2,), 'jet_uniform': (2,), 'event': (2, 5)}
    """
    n_jet = int(ak.sum(ak.num(jets.pt)))
    return {
        "muon": rng.random(int(ak.sum(ak.num(muons.pt)))),
        "electron": rng.random(int(ak.sum(ak.num(electrons.pt)))),
        "jet_normal": rng.standard_normal(n_jet),
        "jet_uniform": rng.random(n_jet),
        "event": rng.random((len(jets), N_EVENT_DRAWS)),
    }


def _pair(fire_a: ak.Array, fire_b: ak.Array, ok_pair: ak.Array | None = None) -> np.ndarray:
    """Events with two *different* objects of one collection, the first firing leg a and the
    other leg b (``ok_pair``: an extra condition on the pair, from ``ak.combinations``)."""
    fa = ak.combinations(fire_a, 2)
    fb = ak.combinations(fire_b, 2)
    good = (fa["0"] & fb["1"]) | (fa["1"] & fb["0"])
    if ok_pair is not None:
        good = good & ok_pair
    return ak.to_numpy(ak.any(good, axis=1))


def _mass2(a, b):
    """Invariant mass squared of two massless objects (pt, eta, phi)."""
    return 2.0 * a.pt * b.pt * (np.cosh(a.eta - b.eta) - np.cos(a.phi - b.phi))


def _online_tag(score: np.ndarray, logistic_noise: np.ndarray, tagger: str) -> np.ndarray:
    """Online b-tag score (flat arrays): the offline one moved in logit space."""
    bias, noise = PARAMS["btag"][tagger]
    s = np.clip(score, 1e-4, 1.0 - 1e-4)
    return 1.0 / (1.0 + np.exp(-(np.log(s / (1.0 - s)) + bias + noise * logistic_noise)))


def emulate(
    muons: ak.Array,
    electrons: ak.Array,
    jets: ak.Array,
    met: Mapping[str, np.ndarray] | ak.Array,
    rng: np.random.Generator | Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Trigger bits of every path in :data:`PATHS` (module docstring).

    Arguments:
        muons: jagged ``Muon`` records: ``pt eta phi`` (and ``dz``, ``pfRelIso04_all``, ``tkRelIso``,
            ``tightId`` when present).
        electrons: jagged ``Electron`` records: ``pt eta phi`` (and ``deltaEtaSC``, ``dz``, ``cutBased``).
        jets: jagged ``Jet`` records: ``pt eta phi`` (and ``jetId``, ``btagDeepFlavB``, ``btagPNetB``).
        met: the Type-1 PF MET, ``pt`` and ``phi`` per event (a dict of arrays or a record array).
        rng: the random generator (:func:`draws` takes the numbers from it), or the numbers
            themselves: a mapping like :func:`draws`' result (the flash engine gives counter-based
            ones, so that an event's bits do not depend on its chunk).

    Returns:
        path name -> bool array (one per event). Example in the module docstring.
    """
    n_ev = len(jets)
    d = rng if isinstance(rng, Mapping) else draws(rng, muons, electrons, jets)
    u_mu = ak.unflatten(np.asarray(d["muon"], np.float64), ak.num(muons.pt))
    u_el = ak.unflatten(np.asarray(d["electron"], np.float64), ak.num(electrons.pt))
    n_j = ak.num(jets.pt)
    z_jet = ak.unflatten(np.asarray(d["jet_normal"], np.float64), n_j)
    u_tag = np.clip(np.asarray(d["jet_uniform"], np.float64), 1e-12, 1 - 1e-12)
    l_tag = np.log(u_tag / (1.0 - u_tag))
    u_ev = np.asarray(d["event"], np.float64).reshape(n_ev, N_EVENT_DRAWS)
    out: dict[str, np.ndarray] = {}

    # ---- muons
    fires = {leg: u_mu < _muon_eff(muons, leg) for leg in ("IsoMu24", "IsoMu27", "Mu50", "Mu23", "Mu17", "Mu8")}
    out["HLT_IsoMu24"] = ak.to_numpy(ak.any(fires["IsoMu24"], axis=1))
    out["HLT_IsoMu24_eta2p1"] = ak.to_numpy(ak.any(u_mu < _muon_eff(muons, "IsoMu24", eta_max=2.1), axis=1))
    out["HLT_IsoMu27"] = ak.to_numpy(ak.any(fires["IsoMu27"], axis=1))
    out["HLT_Mu50"] = ak.to_numpy(ak.any(fires["Mu50"], axis=1))
    mu_dz = _field(muons, "dz", 0.0)
    pairs = ak.combinations(ak.zip({"pt": muons.pt, "eta": muons.eta, "phi": muons.phi, "dz": mu_dz}), 2)
    dz_ok = abs(pairs["0"].dz - pairs["1"].dz) < PARAMS["dz_max_cm"]
    m2 = _mass2(pairs["0"], pairs["1"])
    dz_filter = u_ev[:, 0] < PARAMS["dz_eff"]
    for mass, tag in ((3.8, "Mass3p8"), (8.0, "Mass8")):
        out[f"HLT_Mu17_TrkIsoVVL_Mu8_TrkIsoVVL_DZ_{tag}"] = (
            _pair(fires["Mu17"], fires["Mu8"], dz_ok & (m2 > mass**2)) & dz_filter
        )

    # ---- electrons
    efires = {leg: u_el < _electron_eff(electrons, leg) for leg in ("Ele32", "Ele35", "Ele23", "Ele12")}
    out["HLT_Ele32_WPTight_Gsf"] = ak.to_numpy(ak.any(efires["Ele32"], axis=1))
    out["HLT_Ele35_WPTight_Gsf"] = ak.to_numpy(ak.any(efires["Ele35"], axis=1))
    el_dz = _field(electrons, "dz", 0.0)
    epairs = ak.combinations(el_dz, 2)
    out["HLT_Ele23_Ele12_CaloIdL_TrackIdL_IsoVL"] = _pair(efires["Ele23"], efires["Ele12"])
    out["HLT_Ele23_Ele12_CaloIdL_TrackIdL_IsoVL_DZ"] = _pair(
        efires["Ele23"], efires["Ele12"], abs(epairs["0"] - epairs["1"]) < PARAMS["dz_max_cm"]
    ) & (u_ev[:, 1] < PARAMS["dz_eff"])

    # ---- muon-electron
    emu_dz = ak.cartesian([mu_dz, el_dz])
    emu_ok = abs(emu_dz["0"] - emu_dz["1"]) < PARAMS["dz_max_cm"]
    emu_filter = u_ev[:, 2] < PARAMS["dz_eff"]
    for mleg, eleg, name in (
        ("Mu23", "Ele12", "HLT_Mu23_TrkIsoVVL_Ele12_CaloIdL_TrackIdL_IsoVL_DZ"),
        ("Mu8", "Ele23", "HLT_Mu8_TrkIsoVVL_Ele23_CaloIdL_TrackIdL_IsoVL_DZ"),
    ):
        c = ak.cartesian([fires[mleg], efires[eleg]])
        out[name] = ak.to_numpy(ak.any(c["0"] & c["1"] & emu_ok, axis=1)) & emu_filter

    # ---- jets, HT, MET
    pt_on = jets.pt * (1.0 + PARAMS["jet_res"] * z_jet)
    aeta = abs(jets.eta)
    tight = (_field(jets, "jetId", 6) // 2) % 2 == 1
    out["HLT_PFJet500"] = ak.to_numpy(ak.any((pt_on > 500.0) & (aeta < 5.0), axis=1))
    central = (aeta < PARAMS["jet_eta_central"]) & tight
    ht = ak.to_numpy(ak.sum(ak.where(central & (pt_on > 30.0), pt_on, 0.0), axis=1))
    out["HLT_PFHT1050"] = ht > 1050.0
    mht_jets = tight & (aeta < 5.0) & (pt_on > 20.0)
    mhx = -ak.to_numpy(ak.sum(ak.where(mht_jets, pt_on * np.cos(jets.phi), 0.0), axis=1))
    mhy = -ak.to_numpy(ak.sum(ak.where(mht_jets, pt_on * np.sin(jets.phi), 0.0), axis=1))
    mht = np.hypot(mhx, mhy)
    met_pt, met_phi = np.asarray(met["pt"], np.float64), np.asarray(met["phi"], np.float64)
    z_met = ndtri(np.clip(u_ev[:, 3], 1e-12, 1 - 1e-12))
    met_on = np.maximum(PARAMS["met_scale"] * met_pt + PARAMS["met_res"] * z_met, 0.0)
    out["HLT_PFMET120_PFMHT120_IDTight"] = (met_on > 120.0) & (mht > 120.0)
    # NoMu: the muons' momenta added back to the MET (online PF muons removed)
    mux = ak.to_numpy(ak.sum(muons.pt * np.cos(muons.phi), axis=1))
    muy = ak.to_numpy(ak.sum(muons.pt * np.sin(muons.phi), axis=1))
    nomu_x = met_on * np.cos(met_phi) + mux
    nomu_y = met_on * np.sin(met_phi) + muy
    out["HLT_PFMETNoMu120_PFMHTNoMu120_IDTight"] = (np.hypot(nomu_x, nomu_y) > 120.0) & (mht > 120.0)

    # ---- multi-jet b-tag paths
    deepjet = np.maximum(_flat(jets, "btagDeepFlavB", 0.0), 0.0)
    pnet = np.maximum(_flat(jets, "btagPNetB", 0.0), 0.0) if "btagPNetB" in jets.fields else deepjet

    def online(score, tagger):
        return ak.unflatten(_online_tag(score, l_tag, tagger), n_j)

    def leading_ok(sel, thresholds):
        """The online pTs of the selected jets, descending, pass the thresholds in order."""
        pts = ak.sort(ak.where(sel, pt_on, -1.0), axis=1, ascending=False)
        pts = ak.fill_none(ak.pad_none(pts, len(thresholds), axis=1, clip=True), -1.0)
        ok = np.ones(n_ev, bool)
        for i, t in enumerate(thresholds):
            ok &= ak.to_numpy(pts[:, i]) > t
        return ok

    c25 = (aeta < PARAMS["jet_eta_central"]) & tight
    on_pnet = online(pnet, "PNet")
    tagged = ak.sort(ak.where(c25 & (pt_on > 35.0), on_pnet, 0.0), axis=1, ascending=False)
    top2 = ak.to_numpy(ak.sum(ak.pad_none(tagged, 2, axis=1, clip=True), axis=1))
    plateau, ht50, ht_width = PARAMS["pnet_l1"]  # L1 HTT / QuadJet seeds and the calo-jet stage
    l1 = u_ev[:, 4] < plateau * turn_on(ht, ht50, ht_width)
    out["HLT_QuadPFJet70_50_40_35_PFBTagParticleNet_2BTagSum0p65"] = (
        l1 & leading_ok(c25, (70.0, 50.0, 40.0, 35.0)) & (top2 > 0.65)
    )
    c24 = (aeta < PARAMS["jet_eta_central_2018"]) & tight
    ht24 = ak.to_numpy(ak.sum(ak.where(c24 & (pt_on > 30.0), pt_on, 0.0), axis=1))
    quad = leading_ok(c24, (75.0, 60.0, 45.0, 40.0)) & (ht24 > 330.0)
    for tagger in ("DeepCSV", "DeepJet"):
        n_tag = ak.to_numpy(ak.sum(c24 & (pt_on > 30.0) & (online(deepjet, tagger) > 0.24), axis=1))
        out[f"HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTag{tagger}_4p5"] = quad & (n_tag >= 3)
    return {name: np.asarray(out[name], dtype=bool) for name in PATHS}
