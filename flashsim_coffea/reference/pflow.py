"""Detector-level particle-flow (PF) candidates from truth + pileup particles.

:func:`build` turns the final-state particles of the hard event (``truth.particles``)
and the PU particles (:func:`pileup.simulate_pileup`) into PF-like candidates:

* **tracks** (abs(eta) < 2.5): charged particles reconstructed with the Delphes CMS
  tracking efficiency and a log-normal pT resolution (card table; hadron constant term
  lowered to the measured CMS 1.5%, notes section 2). Tracked electrons (pT > 2 GeV)
  become PF electrons, tracked muons (pT > 3 GeV, abs(eta) < 2.4) PF muons, the rest
  PF charged hadrons. Each track carries a measured transverse impact parameter
  ``d0`` (mm) with a resolution and non-Gaussian tail (notes section 2), the hidden
  input of the b-tagger.
* **calorimeter towers**: everything not tracked (photons, neutral hadrons, charged
  particles beyond the tracker or lost by it; muons excepted) is summed into ECAL
  (0.035 x 0.035), HCAL (0.087 x 0.087, abs(eta) < 3) or HF (0.175 x 0.175, 3-5)
  towers [card granularity, ECAL merged to PF-cluster size], smeared with
  the card resolutions (notes section 6, Gaussian) and kept above the card thresholds. Charged
  particles reaching the calorimeter untracked are bent in the 3.8 T field (loopers
  below the escape pT are lost). Hadron deposits carry a non-linear response
  ``1 - c/sqrt(E)`` (non-compensating calorimeter, residual after PF calibration [mem]).

Fields (jagged, per event): ``px py pz energy pt eta phi mass`` (GeV), ``pdgId`` (PF
convention: +-211, +-11, +-13, 22, 130, 1 = HF), ``charge``, ``kind`` (see ``KIND``),
``fromPV`` (False only for tracks of PU vertices with abs(dz) > 0.1 mm: CHS removes
them [pu-card]), ``truthIdx`` (index in ``truth.particles`` of the (leading) source
particle, -1 for PU), ``hardFrac`` (energy fraction from the hard event: hidden truth),
``d0`` and ``d0sig`` (tracks; 0 for towers).

Example:
    A Z -> ee event without pileup: above 10 GeV, the two electrons are tracked (kind 2,
    PF electrons) and the hard FSR photon next to the leading one is an ECAL tower (kind 4).

    >>> from flashsim_coffea.reference.pileup import simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> pu = simulate_pileup(np.zeros(2, np.int64), np.random.default_rng(0))  # no pileup
    >>> pf = build(truth, pu, np.random.default_rng(1))
    >>> hard = pf[0][pf[0].pt > 10]
    >>> hard.kind.tolist(), hard.pdgId.tolist(), hard.truthIdx.tolist()
    ([2, 2, 4], [11, -11, 22], [2, 4, 1])
    >>> hard.pt.to_numpy().round(1)
    array([33.3, 18.3, 37.3])
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

#: PF candidate kinds
KIND = {"charged_hadron": 1, "electron": 2, "muon": 3, "photon": 4, "neutral_hadron": 5, "hf": 6}

PARAMS: dict = {
    "eta_tracker": 2.5,  # [card]
    "eta_muon": 2.4,  # [card]
    "eta_calo": 3.0,  # ECAL/HCAL end, HF beyond [card]
    "eta_max": 5.0,  # [card]
    "dz_chs_mm": 0.1,  # CHS: charged PU removed if abs(dz) > 0.1 mm [pu-card]
    # tracking efficiency [card]: (abs(eta)<1.5, 1.5-2.5) x pT ranges
    # hadrons: card values above 1 GeV; below 1 GeV the card's 70/60% is raised to CMS-like
    # 85/75% (iterative tracking reaches ~85-90% at 0.5 GeV, arXiv:1405.6569 [mem])
    "eff_hadron": ((0.85, 0.95), (0.75, 0.85)),  # 0.1<pT<1, pT>1
    "eff_electron": ((0.73, 0.95, 0.99), (0.50, 0.83, 0.90)),  # 0.1-1, 1-100, >100
    "eff_muon": ((0.75, 0.99), (0.70, 0.98)),  # 0.1-1, >1 (x exp(0.5-5e-4 pT) above 1 TeV)
    # track sigma(pT)/pT = sqrt(a^2 + (b pT)^2), abs(eta) bins [0,0.5,1.5,2.5] [card];
    # hadron a scaled by 1/4 to the measured CMS 1.5% (arXiv:1405.6569) as the notes advise
    "res_hadron_a": (0.015, 0.025, 0.0625),
    "res_hadron_b": (1.3e-3, 1.7e-3, 3.1e-3),
    "res_electron_a": (0.03, 0.05, 0.15),
    "res_muon_a": (0.010, 0.015, 0.025),
    "res_muon_b": (1.0e-4, 1.5e-4, 3.5e-4),
    "pf_electron_ptmin": 2.0,  # GeV, PF electron ID [mem]
    "pf_muon_ptmin": 3.0,  # GeV, PF muon ID [mem]
    # impact parameter: sigma(d0) = sqrt(a^2 + (b/pT)^2) (1 + c abs(eta)) mm: 86 um @1 GeV,
    # ~20 um @10 GeV, 15 um @100 GeV (arXiv:1405.6569 quotes 25-90 um and 10 um) ; a fraction
    # of tracks has a 4x wider core (nuclear interactions, wrong hits) [mem]
    "d0_a_mm": 0.015,
    "d0_b_mm": 0.085,
    "d0_eta": 0.25,
    "d0_tail_frac": 0.03,
    "d0_tail_scale": 4.0,
    # field and tracker volume for the bending of untracked charged particles [card]
    "bfield_T": 3.8,
    "tracker_radius_m": 1.29,
    "tracker_halflength_m": 3.0,
    # tower sizes (eta x phi) [card]; ECAL merged to PF-cluster size (2x2 crystals)
    "ecal_cell": 0.035,
    "hcal_cell": 0.087,
    "hf_cell": 0.175,
    # thresholds [card]: ECAL E>0.5 and E/sigma>2; HCAL/HF E>1 and E/sigma>1
    "ecal_emin": 0.5,
    "ecal_nsigma": 2.0,
    "hcal_emin": 1.0,
    "hcal_nsigma": 1.0,
    # hadron response 1 - c/sqrt(E/GeV) [mem: non-compensating HCAL after PF calibration]
    "hadron_response_c": 0.3,
}

_NU = (12, 14, 16)


def ecal_sigma(e: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """ECAL (and HF-EM beyond 2.5) energy resolution in GeV [card], notes section 6.

    Example:
        >>> ecal_sigma(np.array([10.0, 100.0]), np.array([0.5, 2.0]))
        array([0.62187253, 3.06232853])
    """
    base = np.sqrt((0.008 * e) ** 2 + 0.11**2 * e + 0.40**2)
    fwd = np.sqrt((0.107 * e) ** 2 + 2.08**2 * e)
    return np.where(
        aeta < 1.5, (1 + 0.64 * aeta**2) * base, np.where(aeta < 2.5, (2.16 + 5.6 * (aeta - 2) ** 2) * base, fwd)
    )


def hcal_sigma(e: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """HCAL (abs(eta)<3) / HF (3-5) energy resolution in GeV [card], notes section 6.

    Example:
        >>> hcal_sigma(np.array([10.0, 100.0]), np.array([0.5, 4.0]))
        array([ 4.76969601, 29.96664813])
    """
    return np.where(aeta < 3.0, np.sqrt((0.050 * e) ** 2 + 1.50**2 * e), np.sqrt((0.130 * e) ** 2 + 2.70**2 * e))


def _lognormal(rng: np.random.Generator, rel: np.ndarray) -> np.ndarray:
    """Multiplicative log-normal factors with mean 1 and relative width ``rel`` (Delphes-like)."""
    s = np.sqrt(np.log1p(rel**2))
    return np.exp(s * rng.standard_normal(len(rel)) - 0.5 * s**2)


def _flat(arr: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(arr[field]))


def _inputs(truth: ak.Array, pu: ak.Array) -> dict[str, np.ndarray]:
    p = truth.particles
    n_ev = len(p)
    nh, npu = np.asarray(ak.num(p)), np.asarray(ak.num(pu))
    out = {}
    for f in ("pt", "eta", "phi", "px", "py", "pz", "energy", "pdgId", "charge"):
        out[f] = np.concatenate([_flat(p, f), _flat(pu, f)])
    nhf, npf = int(nh.sum()), int(npu.sum())
    out["vx"] = np.concatenate([_flat(p, "vx"), np.zeros(npf)])
    out["vy"] = np.concatenate([_flat(p, "vy"), np.zeros(npf)])
    out["vz"] = np.concatenate([_flat(p, "vz"), _flat(pu, "vz")])
    out["evt"] = np.concatenate([np.repeat(np.arange(n_ev), nh), np.repeat(np.arange(n_ev), npu)])
    starts = np.cumsum(nh) - nh
    out["truthIdx"] = np.concatenate([np.arange(nhf) - np.repeat(starts, nh), np.full(npf, -1)]).astype(np.int32)
    return out


def _track_eff(kind: np.ndarray, pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    fwd = (aeta >= 1.5).astype(int)
    eh = np.asarray(PARAMS["eff_hadron"])[fwd, (pt > 1).astype(int)]
    ee = np.asarray(PARAMS["eff_electron"])[fwd, (pt > 1).astype(int) + (pt > 100)]
    em = np.asarray(PARAMS["eff_muon"])[fwd, (pt > 1).astype(int)]
    em = np.where(pt > 1000, em * np.exp(0.5 - 5e-4 * pt), em)
    eff = np.select([kind == 11, kind == 13], [ee, em], eh)
    return np.where((pt > 0.1) & (aeta < PARAMS["eta_tracker"]), eff, 0.0)


@numba.njit(cache=True)
def _tower_sum(off_h, off_p, cell, eta, phi, e_dep, e_true, is_hard, src, n_cells):  # pragma: no cover - numba
    """Per event, sum deposits sharing a cell; event ``ev`` owns deposits
    ``[off_h[ev], off_h[ev+1])`` (hard event) and ``[off_p[ev], off_p[ev+1])`` (PU).

    Returns per tower: event, cell, deposited energy, energy-weighted eta and phi, hard-event
    energy fraction and the source index of the most energetic deposit."""
    n = len(cell)
    slot = np.full(n_cells, -1, np.int64)
    t_evt = np.empty(n, np.int64)
    t_cell = np.empty(n, np.int64)
    t_e = np.zeros(n)
    t_w = np.zeros(n)
    t_eta = np.zeros(n)
    t_s = np.zeros(n)
    t_c = np.zeros(n)
    t_hard = np.zeros(n)
    t_true = np.zeros(n)
    t_lead_e = np.zeros(n)
    t_src = np.empty(n, np.int64)
    nt = 0
    for ev in range(len(off_h) - 1):
        first = nt
        for kk in range(off_h[ev + 1] - off_h[ev] + off_p[ev + 1] - off_p[ev]):
            nh = off_h[ev + 1] - off_h[ev]
            k = off_h[ev] + kk if kk < nh else off_p[ev] + kk - nh
            j = slot[cell[k]]
            if j < 0:
                j = nt
                nt += 1
                slot[cell[k]] = j
                t_evt[j] = ev
                t_cell[j] = cell[k]
                t_lead_e[j] = -1.0
            w = max(e_dep[k], 1e-9)
            t_e[j] += e_dep[k]
            t_w[j] += w
            t_eta[j] += w * eta[k]
            t_s[j] += w * np.sin(phi[k])
            t_c[j] += w * np.cos(phi[k])
            t_true[j] += e_true[k]
            if is_hard[k]:
                t_hard[j] += e_true[k]
            if e_true[k] > t_lead_e[j]:
                t_lead_e[j] = e_true[k]
                t_src[j] = src[k]
        for j in range(first, nt):
            slot[t_cell[j]] = -1
    t_eta = t_eta[:nt] / t_w[:nt]
    t_phi = np.arctan2(t_s[:nt], t_c[:nt])
    return t_evt[:nt], t_cell[:nt], t_e[:nt], t_eta, t_phi, t_hard[:nt] / np.maximum(t_true[:nt], 1e-9), t_src[:nt]


def build_flat(truth: ak.Array, pu: ak.Array, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """PF candidates as flat arrays (event-ordered) and the per-event counts."""
    x = _inputs(truth, pu)
    n_ev = len(truth)
    apid = np.abs(x["pdgId"])
    aeta = np.abs(x["eta"])
    vis = ~np.isin(apid, _NU) & (aeta < PARAMS["eta_max"])
    x = {k: v[vis] for k, v in x.items()}
    apid, aeta = apid[vis], aeta[vis]
    pt, charge = x["pt"], x["charge"]
    n = len(pt)
    is_pu = x["truthIdx"] < 0
    charged = charge != 0
    tkind = np.where(apid == 11, 11, np.where(apid == 13, 13, 211))
    tracked = charged & (rng.random(n) < _track_eff(tkind, pt, aeta))

    # ---------------- tracks
    t = np.flatnonzero(tracked)
    tb = np.searchsorted([0.5, 1.5], aeta[t])
    tk = tkind[t]
    a = np.select(
        [tk == 11, tk == 13],
        [np.asarray(PARAMS["res_electron_a"])[tb], np.asarray(PARAMS["res_muon_a"])[tb]],
        np.asarray(PARAMS["res_hadron_a"])[tb],
    )
    b = np.where(tk == 13, np.asarray(PARAMS["res_muon_b"])[tb], np.asarray(PARAMS["res_hadron_b"])[tb])
    tpt = pt[t]
    rel = np.sqrt(a**2 + (b * tpt) ** 2)
    is_e = tk == 11
    # PF electrons: track combined with the ECAL measurement
    e_rel = ecal_sigma(x["energy"][t], aeta[t]) / x["energy"][t]
    rel = np.where(is_e, 1.0 / np.sqrt(rel**-2 + e_rel**-2), rel)
    scale = _lognormal(rng, rel)
    kind = np.where(
        is_e & (tpt > PARAMS["pf_electron_ptmin"]),
        KIND["electron"],
        np.where(
            (tk == 13) & (tpt > PARAMS["pf_muon_ptmin"]) & (aeta[t] < PARAMS["eta_muon"]),
            KIND["muon"],
            KIND["charged_hadron"],
        ),
    )
    sgn = np.sign(charge[t]).astype(np.int32)
    pid = np.select([kind == KIND["electron"], kind == KIND["muon"]], [-11 * sgn, -13 * sgn], 211 * sgn)
    tmass = np.select([kind == KIND["electron"], kind == KIND["muon"]], [0.000511, 0.10566], 0.13957)
    # transverse impact parameter (mm): true d0 of the production vertex + resolution
    px, py = x["px"][t], x["py"][t]
    d0_true = (x["vx"][t] * py - x["vy"][t] * px) / tpt
    sig_d0 = np.sqrt(PARAMS["d0_a_mm"] ** 2 + (PARAMS["d0_b_mm"] / tpt) ** 2) * (1 + PARAMS["d0_eta"] * aeta[t])
    tail = np.where(rng.random(len(t)) < PARAMS["d0_tail_frac"], PARAMS["d0_tail_scale"], 1.0)
    d0 = d0_true + sig_d0 * tail * rng.standard_normal(len(t))
    tpt_m = tpt * scale
    trk = {
        "evt": x["evt"][t],
        "pt": tpt_m,
        "eta": x["eta"][t],
        "phi": x["phi"][t],
        "mass": tmass,
        "pdgId": pid.astype(np.int32),
        "charge": charge[t].astype(np.float32),
        "kind": kind.astype(np.int8),
        "fromPV": ~is_pu[t] | (np.abs(x["vz"][t]) < PARAMS["dz_chs_mm"]),
        "truthIdx": x["truthIdx"][t],
        "hardFrac": (~is_pu[t]).astype(np.float64),
        "d0": d0,
        "d0sig": np.abs(d0) / sig_d0,
    }

    # ---------------- calorimeter deposits
    c = np.flatnonzero(~tracked & (apid != 13))
    ce, ceta, cphi, cpt = x["energy"][c], x["eta"][c], x["phi"][c], pt[c]
    caeta = aeta[c]
    cch = charge[c]
    # bending of charged particles up to the tracker boundary; loopers never arrive
    r_exit = np.minimum(PARAMS["tracker_radius_m"], PARAMS["tracker_halflength_m"] / np.sinh(np.maximum(caeta, 1e-3)))
    kb = 0.3 * PARAMS["bfield_T"] * r_exit / (2 * cpt)
    arrive = (cch == 0) | (kb < 1)
    cphi = cphi - np.sign(cch) * np.arcsin(np.minimum(kb, 1.0))
    cphi = np.mod(cphi + np.pi, 2 * np.pi) - np.pi
    em = (apid[c] == 11) | (apid[c] == 22)
    resp = np.where(em, 1.0, 1.0 - PARAMS["hadron_response_c"] / np.sqrt(np.maximum(ce, 0.1)))
    hf = caeta >= PARAMS["eta_calo"]
    sub = np.where(hf, 2, np.where(em, 0, 1))  # 0 ECAL, 1 HCAL, 2 HF
    keep = arrive
    evt_c = x["evt"][c][keep]
    cell_size = np.select([sub == 0, sub == 1], [PARAMS["ecal_cell"], PARAMS["hcal_cell"]], PARAMS["hf_cell"])[keep]
    n_eta_c = np.ceil(2 * PARAMS["eta_max"] / np.array([PARAMS["ecal_cell"], PARAMS["hcal_cell"], PARAMS["hf_cell"]]))
    n_phi_c = np.ceil(2 * np.pi / np.array([PARAMS["ecal_cell"], PARAMS["hcal_cell"], PARAMS["hf_cell"]]))
    sk = sub[keep]
    ie = np.floor((ceta[keep] + PARAMS["eta_max"]) / cell_size).astype(np.int64)
    ip = np.floor((cphi[keep] + np.pi) / cell_size).astype(np.int64)
    cells_per_sub = int((n_eta_c * n_phi_c).max())
    cell = sk * cells_per_sub + ie * n_phi_c[sk].astype(np.int64) + ip
    e_true = ce[keep]
    # deposits are ordered hard (by event) then PU (by event): two offset arrays
    pu_k = is_pu[c][keep]
    nh_dep = np.bincount(evt_c[~pu_k], minlength=n_ev)
    np_dep = np.bincount(evt_c[pu_k], minlength=n_ev)
    off_h = np.concatenate([[0], np.cumsum(nh_dep)])
    off_p = off_h[-1] + np.concatenate([[0], np.cumsum(np_dep)])
    tw_evt, tw_cell, tw_e, tw_eta, tw_phi, tw_hard, tw_src = _tower_sum(
        off_h,
        off_p,
        cell,
        ceta[keep],
        cphi[keep],
        e_true * resp[keep],
        e_true,
        ~pu_k,
        x["truthIdx"][c][keep],
        3 * cells_per_sub,
    )
    tw_sub = tw_cell // cells_per_sub  # 0 ECAL, 1 HCAL, 2 HF
    tw_aeta = np.abs(tw_eta)
    sigma = np.where(tw_sub == 0, ecal_sigma(tw_e, tw_aeta), hcal_sigma(tw_e, tw_aeta))
    # Gaussian (not log-normal: at sigma/E ~ 1 its upper tail fakes energetic towers)
    e_meas = tw_e + sigma * rng.standard_normal(len(tw_e))
    e_pos = np.maximum(e_meas, 0.0)
    sig_m = np.where(tw_sub == 0, ecal_sigma(e_pos, tw_aeta), hcal_sigma(e_pos, tw_aeta))
    emin = np.where(tw_sub == 0, PARAMS["ecal_emin"], PARAMS["hcal_emin"])
    nsig = np.where(tw_sub == 0, PARAMS["ecal_nsigma"], PARAMS["hcal_nsigma"])
    ok = (e_meas > emin) & (e_meas > nsig * sig_m)
    tkind_tw = np.select([tw_sub == 0, tw_sub == 1], [KIND["photon"], KIND["neutral_hadron"]], KIND["hf"])[ok]
    n_tw = int(ok.sum())
    tw = {
        "evt": tw_evt[ok],
        "pt": e_meas[ok] / np.cosh(tw_eta[ok]),
        "eta": tw_eta[ok],
        "phi": tw_phi[ok],
        "mass": np.zeros(n_tw),
        "pdgId": np.select([tkind_tw == KIND["photon"], tkind_tw == KIND["neutral_hadron"]], [22, 130], 1).astype(
            np.int32
        ),
        "charge": np.zeros(n_tw, np.float32),
        "kind": tkind_tw.astype(np.int8),
        "fromPV": np.ones(n_tw, bool),
        "truthIdx": tw_src[ok].astype(np.int32),
        "hardFrac": tw_hard[ok],
        "d0": np.zeros(n_tw),
        "d0sig": np.zeros(n_tw),
    }
    out = {k: np.concatenate([trk[k], tw[k]]) for k in trk}
    order = np.argsort(out["evt"], kind="stable")
    out = {k: v[order] for k, v in out.items()}
    ptc, etac, phic, m = out["pt"], out["eta"], out["phi"], out["mass"]
    out["px"], out["py"], out["pz"] = ptc * np.cos(phic), ptc * np.sin(phic), ptc * np.sinh(etac)
    out["energy"] = np.sqrt((ptc * np.cosh(etac)) ** 2 + m**2)
    counts = np.bincount(out.pop("evt"), minlength=n_ev)
    return out, counts


def build(truth: ak.Array, pu: ak.Array, rng: np.random.Generator) -> ak.Array:
    """PF candidates per event.

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`).
        rng: the random generator.

    Returns:
        Jagged records, fields in the module docstring.
    """
    flat, counts = build_flat(truth, pu, rng)
    return ak.unflatten(ak.zip(flat, depth_limit=1), counts)
