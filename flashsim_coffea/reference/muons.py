"""Reference-detector muons (NanoAOD ``Muon``).

:func:`reconstruct_muons` makes

* **genuine muons** from final-state truth muons (pT > 3 GeV, abs(eta) < 2.4): efficiency
  = tracking plateau [card] x a momentum turn-on (the muon must reach the stations);
  the curvature q/pT is smeared with a Gaussian of relative width
  sqrt(a^2 + (b pT)^2) (card form, a tuned to [meas] nano_tt_v12) plus a wider tail,
  so charge flips appear where the curvature error is large (high pT, forward);
* **fake muons** from hadrons of the hard event: pi/K decays in flight (probability from
  the lifetime and a 1.5 m decay volume, muon momentum fraction from two-body kinematics)
  and punch-through; rates tuned to the unmatched muons of [meas] nano_tt_v12
  (0.35 per ttbar event, median pT 5 GeV, 47% global, 24% medium).

Impact parameters come from the TRUE production vertex (b/c decay products are
displaced) plus resolution; isolation from :mod:`isolation`; IDs from the hidden
quality of each muon (station reach, kink, nearby activity). The impact-parameter
resolution and the ``jetIdx`` cone are those of every lepton (:mod:`leptons`).

Example:
    Two Z -> mumu events, without pileup or jets (``jetIdx`` then -1): three of the four
    muons are found, all prompt (``genPartFlav`` 1) and linked to their ``GenPart``.

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy_mumu", n=2, seed=1))
    >>> mu = reconstruct_muons(truth, None, None, np.random.default_rng(1))
    >>> mu.pt
    <Array [[71.2, 26.2], [35.4]] type='2 * var * float32'>
    >>> mu.charge.tolist(), mu.genPartFlav.tolist(), mu.genPartIdx.tolist(), mu.tightId.tolist()
    ([[-1, 1], [1]], [[1, 1], [1]], [[12, 10], [15]], [[True, True], [True]])
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod.derived import ISO_WP, jet_index
from flashsim_coffea.reference import isolation as iso
from flashsim_coffea.reference.leptons import PARAMS as LEPTON_PARAMS
from flashsim_coffea.reference.leptons import finish, gen_flavour, hadron_candidates, impact_parameters, logistic, truth_flat

MASS = 0.10566

PARAMS: dict = {
    "pt_min": 3.0,  # NanoAOD Muon pt>3 (notes section 3)
    "eta_max": 2.4,  # muon acceptance [card]
    # efficiency plateau (abs(eta)<1.5, >=1.5): card muon tracking eff 99% / 98% [card]
    "eff_plateau": (0.99, 0.98),
    # turn-on in momentum p: muons need p ~ 2.5-3 GeV to reach the stations (barrel abs(eta)<1.2),
    # less in the endcap [mem]; logistic(p; p0, width)
    "eff_p0": (2.6, 2.0),
    "eff_pwidth": 0.4,
    # curvature resolution sigma(pT)/pT = sqrt(a^2 + (b pT)^2) in abs(eta) bins [0,0.9,1.5,2.4]:
    # b from [card], a tuned so sigma68 = 1.1 / 2.6 / 2.3 % at pT~40 [meas] nano_tt_v12
    "res_eta_edges": (0.9, 1.5),
    "res_a": (0.0100, 0.0240, 0.0180),
    "res_b": (1.0e-4, 1.5e-4, 3.5e-4),
    "tail_frac": 0.04,  # non-Gaussian tail (hard scattering, wrong hits) [mem]
    "tail_scale": 2.5,
    "pterr_jitter": 0.10,  # log-normal spread of ptErr around the true sigma [mem]
    # IDs [mem] Muon POG Run 2 + [meas] nano_tt_v12 (prompt: global 100%, medium 100%, tight 98%)
    "p_tracker": 0.995,
    "p_global": 0.99,
    "global_p0": (4.0, 2.8),  # momentum turn-on of global muons (barrel, endcap) [mem]
    "p_pf": 0.995,
    "station_eff": 0.86,  # per-station segment match -> [meas] prompt nStations mostly 3-4
    "station_p": (2.5, 3.5, 4.5, 5.5),  # p needed to reach station k (barrel; endcap x0.7) [mem]
    "medium_fail": 0.008,  # prompt isolated [mem] medium ~98-99%
    "medium_fail_activity": 0.02,  # extra failure for non-isolated muons [derived, meas b: 95%]
    "tight_chi2": 0.985,  # normChi2<10 & muon hits [mem]
    "layers_mean": (13.9, 13.2),  # nTrackerLayers [meas] prompt 10/50/90% = 11/14/16
    "layers_sigma": 1.8,
    # pfIsoId edges on pfRelIso04_all (notes section 3)
    "iso_wp": ISO_WP,
    # fakes from hadrons: decay in flight within an effective 1.5 m volume [mem], BR(mu nu):
    # pi 0.9999, K 0.6356 [PDG]; reconstruction probability of the kinked track as a muon and
    # punch-through probability tuned to [meas] 0.35 unmatched muons / ttbar event
    "dif_length_m": 1.5,
    "dif_reco": 0.55,
    "punch_prob": 1.5e-3,  # per hadron with p > 10 GeV, x min(1, p/50) [mem] (arXiv:1206.4071 <1%)
    # hadron tracks matched to a random muon segment (tracker muons passing the soft ID, in
    # NanoAOD via SoftCutBasedId): per pi/K with p > ~3.5 GeV [mem ~1%, tuned to the [meas] rate]
    "misid_prob": 0.018,
    "misid_p0": 3.5,
    "fake_global": (0.5, 1.0, 0.3),  # dif / punch-through / misid; [meas] 47% of unmatched are global
    "fake_medium": 0.5,  # given global, [meas] 24% of all unmatched are medium
    "fake_ip_scale": 4.0,  # kinked (decay-in-flight) tracks: worse impact parameters [mem]
}

_CTAU_M = {211: 7.8045, 321: 3.7112}  # [PDG]
_BR_MU = {211: 0.9999, 321: 0.6356}  # [PDG]
_MASS = {211: 0.13957, 321: 0.49368}


# ---------------------------------------------------------------------------- muons
def _res_rel(pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    b = np.searchsorted(PARAMS["res_eta_edges"], aeta, side="right")
    return np.hypot(np.asarray(PARAMS["res_a"])[b], np.asarray(PARAMS["res_b"])[b] * pt)


def _fakes(t: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Decay-in-flight and punch-through muons from hard-event pi/K (flat arrays)."""
    h = hadron_candidates(t, PARAMS["eta_max"], PARAMS["pt_min"])
    a = np.abs(t["pdgId"][h])
    pt, eta = t["pt"][h], t["eta"][h]
    p = pt * np.cosh(eta)
    is_k = a == 321
    ctau = np.where(is_k, _CTAU_M[321], _CTAU_M[211])
    m = np.where(is_k, _MASS[321], _MASS[211])
    p_dec = -np.expm1(-PARAMS["dif_length_m"] * m / (p * ctau))
    p_dif = p_dec * np.where(is_k, _BR_MU[321], _BR_MU[211]) * PARAMS["dif_reco"]
    p_pt = np.where(p > 10, PARAMS["punch_prob"] * np.minimum(1.0, p / 50.0), 0.0)
    u = rng.random(len(h))
    dif = u < p_dif
    punch = ~dif & (u < p_dif + p_pt)
    # two-body decay: muon momentum fraction uniform in [(m_mu/m_h)^2, 1]
    xmin = (MASS / m) ** 2
    x = np.where(dif, xmin + (1 - xmin) * rng.random(len(h)), 1.0)
    misid = ~dif & ~punch & (u < p_dif + p_pt + PARAMS["misid_prob"] * logistic((p - PARAMS["misid_p0"]) / 0.5))
    sel = (dif | punch | misid) & (x * pt > PARAMS["pt_min"])
    kink = 0.005 * rng.standard_normal((2, len(h)))
    return {
        "src": h[sel],
        "pt": (x * pt)[sel],
        "eta": (eta + kink[0])[sel],
        "phi": (t["phi"][h] + kink[1])[sel],
        "charge": t["charge"][h][sel],
        "kind": np.where(dif, 0, np.where(punch, 1, 2))[sel],
    }


def reconstruct_muons(
    truth: ak.Array,
    pu: ak.Array | None,
    jets: ak.Array | None,
    rng: np.random.Generator,
    *,
    rho: np.ndarray | None = None,
    iso_cands: dict | None = None,
) -> ak.Array:
    """NanoAOD ``Muon`` collection (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`), or None (no pileup).
        jets: the final reco ``Jet`` collection for ``jetIdx``, or None (``jetIdx`` -1).
        rng: the stage's random generator.
        rho: ``Rho_fixedGridRhoFastjetAll`` (GeV) for the miniIso EA correction (default
            from the number of PU vertices, :func:`.isolation.default_rho`).
        iso_cands: precomputed :func:`.isolation.candidates` (shared with electrons/photons).

    Returns:
        The jagged ``Muon`` records, pT-descending, cast to NanoAOD v12 dtypes.
    """
    t = truth_flat(truth)
    n_ev = t["n_ev"]
    cands = iso_cands if iso_cands is not None else iso.candidates(truth, pu)
    rho = iso.default_rho(cands) if rho is None else np.asarray(rho, np.float64)

    # ---- genuine muons: acceptance x efficiency
    g = np.flatnonzero((np.abs(t["pdgId"]) == 13) & (t["pt"] > PARAMS["pt_min"]) & (np.abs(t["eta"]) < PARAMS["eta_max"]))
    aeta_g = np.abs(t["eta"][g])
    endcap = aeta_g > 1.2
    p_g = t["pt"][g] * np.cosh(t["eta"][g])
    plateau = np.where(aeta_g < 1.5, *PARAMS["eff_plateau"])
    eff = plateau * logistic((p_g - np.where(endcap, PARAMS["eff_p0"][1], PARAMS["eff_p0"][0])) / PARAMS["eff_pwidth"])
    g = g[rng.random(len(g)) < eff]
    fk = _fakes(t, rng)

    src = np.concatenate([g, fk["src"]])
    n_g = len(g)
    fake = np.arange(len(src)) >= n_g
    evt = t["evt"][src]
    pt_t = np.concatenate([t["pt"][g], fk["pt"]])
    eta = np.concatenate([t["eta"][g], fk["eta"]])
    phi = np.concatenate([t["phi"][g], fk["phi"]])
    q_t = np.concatenate([t["charge"][g], fk["charge"]]).astype(np.float64)
    n = len(src)
    aeta = np.abs(eta)

    # ---- momentum: Gaussian curvature smearing with a tail
    rel = _res_rel(pt_t, aeta)
    tail = np.where(rng.random(n) < PARAMS["tail_frac"], PARAMS["tail_scale"], 1.0)
    k = q_t / pt_t * (1.0 + rel * tail * rng.standard_normal(n))
    pt = 1.0 / np.maximum(np.abs(k), 1e-6)
    charge = np.where(k < 0, -1, 1)
    pt_err = _res_rel(pt, aeta) * pt * np.exp(PARAMS["pterr_jitter"] * rng.standard_normal(n))

    # ---- impact parameters from the true vertex (decay-in-flight: kinked track)
    fkind_ip = np.concatenate([np.zeros(n_g, np.int64), fk["kind"]])
    ip = impact_parameters(
        t["vx"][src], t["vy"][src], t["vz"][src],
        pt_t * np.cos(phi), pt_t * np.sin(phi), pt_t * np.sinh(eta),
        rng, np.where(fake & (fkind_ip == 0), PARAMS["fake_ip_scale"], 1.0),
    )

    # ---- isolation
    s3 = iso.cone_sums(cands, evt, eta, phi, src, 0.3)
    s4 = iso.cone_sums(cands, evt, eta, phi, src, 0.4)
    rel03 = iso.rel_iso_dbeta(s3, pt)
    rel04 = iso.rel_iso_dbeta(s4, pt)
    mini = iso.mini_rel_iso(cands, evt, eta, phi, src, pt, rho[evt], iso.effective_area(aeta, "muon"))
    tk = iso.tk_rel_iso(s3, pt)

    # ---- IDs from hidden quality
    p = pt_t * np.cosh(eta)
    ec = aeta > 1.2
    u = rng.random((8, n))
    is_trk = u[0] < PARAMS["p_tracker"]
    p0 = np.where(ec, PARAMS["global_p0"][1], PARAMS["global_p0"][0])
    fkind = np.concatenate([np.zeros(n_g, np.int64), fk["kind"]])
    p_glb = np.where(fake, np.asarray(PARAMS["fake_global"])[fkind], PARAMS["p_global"] * logistic((p - p0) / 0.5))
    is_glb = u[1] < p_glb
    is_trk = is_trk | ~is_glb
    is_pf = u[2] < PARAMS["p_pf"]
    loose = is_pf & (is_glb | is_trk)
    reach = np.sum(p[:, None] > np.asarray(PARAMS["station_p"])[None, :] * np.where(ec, 0.7, 1.0)[:, None], axis=1)
    n_st = rng.binomial(np.maximum(reach, 1), PARAMS["station_eff"])
    n_st = np.where(is_glb, np.maximum(n_st, 1), np.minimum(n_st, 1))
    layers_mean = np.where(ec, PARAMS["layers_mean"][1], PARAMS["layers_mean"][0])
    n_lay = np.clip(np.round(layers_mean + PARAMS["layers_sigma"] * rng.standard_normal(n)), 5, 18)
    activity = np.minimum(1.0, rel04)
    p_med_fail = PARAMS["medium_fail"] + PARAMS["medium_fail_activity"] * activity
    medium = loose & np.where(fake, is_glb & (u[3] < PARAMS["fake_medium"]), u[3] > p_med_fail)
    tight = (
        medium & is_glb & is_pf & (n_st >= 2) & (n_lay > 5)
        & (np.abs(ip["dxy"]) < 0.2) & (np.abs(ip["dz"]) < 0.5) & (u[4] < PARAMS["tight_chi2"])
    )
    pf_iso_id = np.sum(rel04[:, None] < np.asarray(PARAMS["iso_wp"])[None, :], axis=1)

    # ---- truth links
    gidx = np.where(fake, -1, t["genPartIdx"][src])
    flav = gen_flavour(truth, evt, gidx)
    cols = {
        "pt": pt, "eta": eta, "phi": phi, "mass": np.full(n, MASS),
        "charge": charge, "pdgId": -13 * charge, "ptErr": pt_err,
        **ip,
        "pfRelIso03_all": rel03, "pfRelIso04_all": rel04, "miniPFRelIso_all": mini, "tkRelIso": tk,
        "looseId": loose, "mediumId": medium, "tightId": tight, "pfIsoId": pf_iso_id,
        "isGlobal": is_glb, "isTracker": is_trk, "isPFcand": is_pf,
        "nStations": n_st, "nTrackerLayers": n_lay,
        "genPartIdx": gidx, "genPartFlav": flav,
        "jetIdx": jet_index(jets, evt, eta, phi, LEPTON_PARAMS["jet_dr"]),
    }
    return finish("Muon", cols, evt, n_ev)
