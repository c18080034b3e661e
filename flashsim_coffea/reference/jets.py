"""AK4 CHS-like reco jets of the reference detector (NanoAOD ``Jet`` collection).

:func:`reconstruct_jets`:

1. PF candidates (:mod:`pflow`) after CHS (PU tracks with abs(dz) > 0.1 mm dropped
   [pu-card]) are clustered with anti-kT R = 0.4 (:func:`jetalgo.cluster`), B/C hadrons
   and partons as ghosts -> ``hadronFlavour`` / ``partonFlavour`` (arXiv:1712.07158).
   Soft PU candidates (pT < 1 GeV) are not clustered but absorbed by the nearest jet
   within R (anti-kT metric dR^2/pT^2): the same result for soft particles, at a
   fraction of the cost. They make the neutral-PU offset ~ rho x area, with its
   fluctuations.
2. Raw jet = constituent sum x a per-jet "unmodelled detector" factor N(1, sigma_x)
   (PF confusion, calorimeter non-uniformity, out-of-cone showering); sigma_x completes
   the emergent resolution to the UL18 CHS JER of the notes (section 7) [derived].
3. JEC: L1 = 1 - rho x area / pT_raw (CMS L1FastJet), then an MC-truth L2L3 factor
   (table ``L2L3``, derived on the reference detector's own ttbar + QCD samples).
   ``rawFactor = 1 - raw/corrected``.
4. Energy fractions, multiplicities, ``jetId`` (UL tight / tightLepVeto), ``puId``
   (Run-2 style, from hidden PU quantities), ``genJetIdx`` (closest GenJet within
   dR < 0.2 = R/2), b-tag scores (:mod:`btag`).

Written: pt > 15 GeV, abs(eta) < 4.7, pT-descending, cast with ``schema.cast("Jet", ...)``.
``area`` = pi R^2 minus the overlap (lens) with each harder jet closer than 2R, times
a 3% jitter (ghost-area fluctuations) [design; [meas] median area 0.499 in nano_tt_v12].

Example:
    Two Drell-Yan events with 20 PU interactions each. Leptons are PF candidates, so
    they make jets too: the jet of the leading muon of event 1 fails ``tightLepVeto``
    (``jetId`` 2), the jet of the other, a lone muon, fails the tight ID (``jetId`` 0).

    >>> from flashsim_coffea.reference.genlevel import gen_collections
    >>> from flashsim_coffea.reference.pileup import event_quantities, simulate_pileup
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy", n=2, seed=1))
    >>> n_pu = np.array([20, 20])
    >>> pu = simulate_pileup(n_pu, np.random.default_rng(1))
    >>> rho = event_quantities(n_pu, n_pu, pu, np.random.default_rng(2), truth=truth)["Rho_fixedGridRhoFastjetAll"]
    >>> jets = reconstruct_jets(truth, pu, gen_collections(truth)["GenJet"], rho, np.random.default_rng(3))
    >>> jets.pt
    <Array [[72.3, 38.4, 35, 18.8, 17.5], [...]] type='2 * var * float32'>
    >>> jets.genJetIdx.tolist(), jets.jetId.tolist()
    ([[0, 2, 1, 3, -1], [0, 1, -1]], [[6, 6, 6, 6, 6], [2, 0, 6]])
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.reference import btag, jetalgo, pflow

PARAMS: dict = {
    "R": 0.4,  # AK4 [CMS]
    "cluster_ptmin": 3.0,  # GeV, before soft-PU absorption and JEC [design]
    "soft_pu_pt": 1.0,  # GeV, PU candidates below are absorbed, not clustered [design]
    "ptmin": 15.0,  # NanoAOD Jet pt > 15 [meas]
    "eta_max": 4.7,  # [meas] NanoAOD jets
    "area_jitter": 0.03,  # relative [design, meas spread of Jet_area]
    "genjet_dr": 0.2,  # R/2 [NanoAOD / PAT jet-genjet matching]
    # puId applies below 50 GeV; jets above get 7 [notes section 7]
    "puid_ptmax": 50.0,
    # jetId beyond abs(eta) 3: UL asks > 10 neutral PF candidates [mem]; our HF towers
    # (0.175 x 0.175) are coarser than CMS PF HF clusters, so the count is scaled down [design]
    "jetid_hf_min_neutral": 3,
}

# unmodelled part of the resolution: sigma_x(pT) = sqrt(S^2/pT + C^2) per abs(eta) bin,
# derived as the quadrature difference between the UL18 CHS JER (notes section 7, [jrdb])
# and the emergent resolution of the PF simulation [derived: scripts in the lead's README]
JER_X = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "S": (0.50, 0.90, 0.90, 0.0),
    "C": (0.035, 0.035, 0.0, 0.03),
}

# MC-truth L2L3 response R of L1-corrected jets vs pT_L1 (GeV) per abs(eta) bin: median of
# pT_L1 / pT_GenJet in GenJet-pT bins, placed at the median pT_L1 of the bin (CMS MC-truth
# method). The correction is 1/R, interpolated in log pT_L1, flat beyond the ends
# [derived: 1500 ttbar + 1000 QCD events, mu = 36, GenJets matched within dR < 0.2]
L2L3 = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "pt": (
        (14.8, 20.1, 24.9, 32.4, 41.7, 56.6, 79.3, 114.8, 181.1, 301.6, 592.7),
        (14.6, 19.5, 25.0, 32.3, 41.9, 55.4, 79.3, 117.7, 180.8, 304.0, 509.0),
        (12.7, 15.2, 22.1, 29.3, 36.9, 56.9, 72.3, 106.9, 174.8),
        (14.9, 20.3, 25.2, 32.7, 42.5, 52.4, 80.9, 123.5),
    ),
    "R": (
        (0.860, 0.900, 0.906, 0.925, 0.935, 0.954, 0.961, 0.972, 0.974, 0.981, 0.985),
        (0.854, 0.870, 0.905, 0.925, 0.939, 0.952, 0.958, 0.974, 0.976, 0.978, 0.978),
        (0.740, 0.750, 0.790, 0.830, 0.850, 0.900, 0.910, 0.930, 0.956),
        (0.836, 0.890, 0.910, 0.935, 0.945, 0.950, 0.965, 0.975),
    ),
}

# L1: offset = k(eta) x rho x area. For CHS jets only neutral PU (and PU in HF) remains, so
# k < 1 centrally; forward all PU stays in the jet [derived: PU pT inside GenJet-matched
# jets per rho x area on the reference detector; CMS L1FastJet parametrises the same way]
L1 = {
    "eta_edges": (0.0, 1.3, 2.5, 3.0, 5.0),
    "k": (0.33, 0.45, 0.75, 1.0),
}

_K = pflow.KIND


@numba.njit(cache=True)
def _absorb(jet_off, jeta, jphi, jpt, cevt, ceta, cphi, radius, antikt):  # pragma: no cover - numba
    """Index of the jet (global) that takes each candidate: within ``radius``, smallest
    dR^2/pT^2 (anti-kT) or dR (``antikt`` False); -1 if none."""
    out = np.full(len(cevt), -1, np.int64)
    r2 = radius * radius
    for k in range(len(cevt)):
        ev = cevt[k]
        best = 1e300
        for j in range(jet_off[ev], jet_off[ev + 1]):
            de = ceta[k] - jeta[j]
            dp = abs(cphi[k] - jphi[j])
            if dp > np.pi:
                dp = 2 * np.pi - dp
            d2 = de * de + dp * dp
            if d2 < r2:
                m = d2 / (jpt[j] * jpt[j]) if antikt else d2
                if m < best:
                    best = m
                    out[k] = j
    return out


@numba.njit(cache=True)
def _areas(jet_off, jeta, jphi, radius):  # pragma: no cover - numba
    """pi R^2 minus the lens overlap with every harder jet (jets pT-ordered per event)."""
    n = len(jeta)
    out = np.full(n, np.pi * radius * radius)
    for ev in range(len(jet_off) - 1):
        for i in range(jet_off[ev], jet_off[ev + 1]):
            for j in range(jet_off[ev], i):
                de = jeta[i] - jeta[j]
                dp = abs(jphi[i] - jphi[j])
                if dp > np.pi:
                    dp = 2 * np.pi - dp
                d = np.sqrt(de * de + dp * dp)
                if d < 2 * radius:
                    lens = 2 * radius**2 * np.arccos(d / (2 * radius)) - 0.5 * d * np.sqrt(4 * radius**2 - d * d)
                    out[i] -= lens
        for i in range(jet_off[ev], jet_off[ev + 1]):
            out[i] = max(out[i], 0.1 * np.pi * radius * radius)
    return out


@numba.njit(cache=True)
def _match(jet_off, jeta, jphi, gen_off, geta, gphi, dr_max):  # pragma: no cover - numba
    """Per reco jet (in the given order), the event-local index of the closest unused GenJet."""
    out = np.full(len(jeta), -1, np.int64)
    for ev in range(len(jet_off) - 1):
        g0, g1 = gen_off[ev], gen_off[ev + 1]
        used = np.zeros(g1 - g0, np.bool_)
        for i in range(jet_off[ev], jet_off[ev + 1]):
            best = dr_max * dr_max
            for g in range(g0, g1):
                if used[g - g0]:
                    continue
                de = jeta[i] - geta[g]
                dp = abs(jphi[i] - gphi[g])
                if dp > np.pi:
                    dp = 2 * np.pi - dp
                d2 = de * de + dp * dp
                if d2 < best:
                    best = d2
                    out[i] = g - g0
            if out[i] >= 0:
                used[out[i]] = True
    return out


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _binned(table: dict, key: str, aeta: np.ndarray) -> np.ndarray:
    b = np.clip(np.searchsorted(table["eta_edges"], aeta, side="right") - 1, 0, len(table["eta_edges"]) - 2)
    return np.asarray(table[key])[b]


def l2l3_response(pt_l1: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """Tabulated MC-truth response of L1-corrected jets (see ``L2L3``): the L2L3 correction is its inverse.

    Example:
        >>> l2l3_response(np.array([20.0, 100.0, 20.0]), np.array([0.5, 0.5, 3.5]))
        array([0.89934823, 0.96789615, 0.88740029])
    """
    b = np.clip(np.searchsorted(L2L3["eta_edges"], aeta, side="right") - 1, 0, len(L2L3["eta_edges"]) - 2)
    x = np.log(np.maximum(pt_l1, 1.0))
    out = np.empty(len(pt_l1))
    for i in range(len(L2L3["R"])):
        m = b == i
        out[m] = np.interp(x[m], np.log(L2L3["pt"][i]), L2L3["R"][i])
    return out


def _kin(px, py, pz, e):
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, np.arctan2(py, px), mass


def jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const, n_charged, n_neutral) -> np.ndarray:
    """UL (2017/18) PF jet ID: 2 = tight, 6 = tight + tightLepVeto, 0 = fail [mem, notes section 7]."""
    c1 = aeta <= 2.6
    c2 = (aeta > 2.6) & (aeta <= 2.7)
    c3 = (aeta > 2.7) & (aeta <= 3.0)
    tight = np.select(
        [c1, c2, c3],
        [
            (nhf < 0.90) & (nemf < 0.90) & (n_const > 1) & (chf > 0) & (n_charged > 0),
            (nhf < 0.90) & (nemf < 0.99),
            (nemf > 0.01) & (nemf < 0.99) & (n_neutral > 1),
        ],
        (nemf < 0.90) & (nhf > 0.2) & (n_neutral > PARAMS["jetid_hf_min_neutral"]),
    )
    lepveto = tight & np.where(aeta <= 2.7, (muf < 0.8) & (cemf < 0.8), True)
    return (2 * tight + 4 * lepveto).astype(np.uint8)


def reconstruct_jets(
    truth: ak.Array,
    pu: ak.Array,
    genjets: ak.Array | None,
    rho: np.ndarray,
    rng: np.random.Generator,
    *,
    return_extras: bool = False,
):
    """Reco AK4 jets (NanoAOD ``Jet``, see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pu: the PU particles (:func:`.pileup.simulate_pileup`).
        genjets: the final ``GenJet`` collection for ``genJetIdx`` (None: all -1).
        rho: ``Rho_fixedGridRhoFastjetAll`` per event (GeV), for the L1 correction.
        rng: the stage's random generator.
        return_extras: also return the hidden per-candidate / per-jet quantities.

    Returns:
        The jagged ``Jet`` records (pT-descending, cast); with ``return_extras`` a tuple
        (jets, extras), extras a dict with ``pf`` and ``pf_counts`` (the PF candidates),
        ``cand_jet``, ``all_jets`` and ``hidden`` (used by :mod:`.met` and for validation).
    """
    R = PARAMS["R"]
    n_ev = len(truth)
    rho = np.asarray(rho, dtype=np.float64)
    f, counts = pflow.build_flat(truth, pu, rng)
    n_c = len(f["pt"])
    cevt = np.repeat(np.arange(n_ev), counts)
    soft_pu = (f["hardFrac"] < 0.5) & (f["pt"] < PARAMS["soft_pu_pt"])
    clus = f["fromPV"] & ~soft_pu
    cidx = np.flatnonzero(clus)
    ccounts = np.bincount(cevt[cidx], minlength=n_ev)
    inputs = ak.unflatten(
        ak.zip({k: f[k][cidx] for k in ("px", "py", "pz", "energy")}, depth_limit=1), ccounts
    )
    cj, index = jetalgo.cluster(inputs, R, PARAMS["cluster_ptmin"], hadrons=truth.hadrons, partons=truth.partons)
    jcounts = np.asarray(ak.num(cj))
    joff = _offsets(jcounts)
    n_j = int(joff[-1])
    # constituent -> global jet id
    cand_jet = np.full(n_c, -1, np.int64)
    coff = _offsets(ccounts)
    nconst = np.asarray(ak.flatten(ak.num(index, axis=2)))
    local = ak.to_numpy(ak.flatten(index, axis=None)).astype(np.int64)
    const_evt = np.repeat(np.repeat(np.arange(n_ev), jcounts), nconst)
    cand_jet[cidx[coff[const_evt] + local]] = np.repeat(np.arange(n_j), nconst)
    jeta0 = ak.to_numpy(ak.flatten(cj.eta))
    jphi0 = ak.to_numpy(ak.flatten(cj.phi))
    jpt0 = ak.to_numpy(ak.flatten(cj.pt))
    # soft PU absorbed by the jets (anti-kT metric); CHS-removed PU tracks in the cone (for beta)
    s_idx = np.flatnonzero(soft_pu & f["fromPV"])
    cand_jet[s_idx] = _absorb(joff, jeta0, jphi0, jpt0, cevt[s_idx], f["eta"][s_idx], f["phi"][s_idx], R, True)
    r_idx = np.flatnonzero(~f["fromPV"])
    rem_jet = _absorb(joff, jeta0, jphi0, jpt0, cevt[r_idx], f["eta"][r_idx], f["phi"][r_idx], R, False)

    # ---- per-jet sums over constituents
    m = cand_jet >= 0
    jid = cand_jet[m]

    def jsum(w):
        return np.bincount(jid, w[m] if isinstance(w, np.ndarray) else None, n_j)

    px, py, pz, e = (jsum(f[k]) for k in ("px", "py", "pz", "energy"))
    kind = f["kind"]
    e_by = {k: jsum(np.where(kind == v, f["energy"], 0.0)) for k, v in _K.items()}
    n_by = {k: jsum((kind == v).astype(np.float64)) for k, v in _K.items()}
    n_const = jsum(np.ones(n_c))
    is_trk = (kind == _K["charged_hadron"]) | (kind == _K["electron"]) | (kind == _K["muon"])
    trk_pt_pv = jsum(np.where(is_trk, f["pt"], 0.0))
    trk_pt_pu = np.bincount(rem_jet[rem_jet >= 0], f["pt"][r_idx][rem_jet >= 0], n_j)
    hard_pt = jsum(f["pt"] * f["hardFrac"])
    sum_pt = jsum(f["pt"])
    disp = is_trk & (f["pt"] > 1.0) & (f["d0sig"] > 3.0)
    n_disp = jsum(disp.astype(np.float64))
    soft_lep = ((kind == _K["muon"]) | (kind == _K["electron"])) & (f["pt"] > 2.0)
    n_softlep = jsum(soft_lep.astype(np.float64))
    pt_c, eta_c, phi_c, _ = _kin(px, py, pz, e)
    dr2 = (f["eta"][m] - eta_c[jid]) ** 2 + (np.mod(f["phi"][m] - phi_c[jid] + np.pi, 2 * np.pi) - np.pi) ** 2
    width = np.bincount(jid, f["pt"][m] * dr2, n_j) / np.maximum(sum_pt, 1e-9)

    # ---- raw jet: constituents x unmodelled detector response
    aeta_c = np.abs(eta_c)
    sx = np.sqrt(_binned(JER_X, "S", aeta_c) ** 2 / np.maximum(pt_c, 1.0) + _binned(JER_X, "C", aeta_c) ** 2)
    s = np.maximum(1.0 + sx * rng.standard_normal(n_j), 0.2)
    raw = (px * s, py * s, pz * s, e * s)
    pt_raw, eta, phi, mass_raw = _kin(*raw)
    area = _areas(joff, eta, phi, R) * (1.0 + PARAMS["area_jitter"] * rng.standard_normal(n_j))
    jevt = np.repeat(np.arange(n_ev), jcounts)
    offset = _binned(L1, "k", np.abs(eta)) * rho[jevt] * area
    l1 = np.maximum(1.0 - offset / np.maximum(pt_raw, 1e-9), 1e-4)
    pt_l1 = pt_raw * l1
    corr = l1 / l2l3_response(pt_l1, np.abs(eta))
    pt = pt_raw * corr
    mass = mass_raw * corr

    # ---- selection and final order
    sel = (pt > PARAMS["ptmin"]) & (np.abs(eta) < PARAMS["eta_max"])
    key = jevt * 1e6 - np.minimum(pt, 9.9e5)
    order = np.argsort(key, kind="stable")
    order = order[sel[order]]
    out_counts = np.bincount(jevt[order], minlength=n_ev)
    fl = {k: np.asarray(ak.to_numpy(ak.flatten(cj[k])))[order] for k in ("hadronFlavour", "partonFlavour")}
    o = order
    e_tot = np.maximum(e[o], 1e-9)
    chf, nhf = e_by["charged_hadron"][o] / e_tot, (e_by["neutral_hadron"][o] + e_by["hf"][o]) / e_tot
    cemf, nemf, muf = e_by["electron"][o] / e_tot, e_by["photon"][o] / e_tot, e_by["muon"][o] / e_tot
    n_charged = n_by["charged_hadron"][o] + n_by["electron"][o] + n_by["muon"][o]
    n_neutral = n_by["photon"][o] + n_by["neutral_hadron"][o] + n_by["hf"][o]
    aeta = np.abs(eta[o])
    jetid = jet_id(aeta, chf, nhf, cemf, nemf, muf, n_const[o], n_charged, n_neutral)

    # GenJet matching
    if genjets is not None:
        goff = _offsets(np.asarray(ak.num(genjets)))
        gen_idx = _match(
            _offsets(out_counts),
            eta[o],
            phi[o],
            goff,
            ak.to_numpy(ak.flatten(genjets.eta)).astype(np.float64),
            ak.to_numpy(ak.flatten(genjets.phi)).astype(np.float64),
            PARAMS["genjet_dr"],
        )
    else:
        gen_idx = np.full(len(o), -1)

    beta = trk_pt_pv[o] / np.maximum(trk_pt_pv[o] + trk_pt_pu[o], 1e-9)
    hidden = {
        "pt": pt[o],
        "eta": eta[o],
        "hadronFlavour": fl["hadronFlavour"],
        "partonFlavour": fl["partonFlavour"],
        "n_disp": n_disp[o],
        "n_softlep": n_softlep[o],
        "n_const": n_const[o],
        "width": width[o],
        "beta": beta,
        "hard_frac": hard_pt[o] / np.maximum(sum_pt[o], 1e-9),
        "has_track": n_charged > 0,
    }
    tags = btag.tag_scores(hidden, rng, hidden)
    puid, hidden["puid_disc"] = pu_id(hidden, rng)

    cols = {
        "pt": pt[o],
        "eta": eta[o],
        "phi": phi[o],
        "mass": mass[o],
        "area": area[o],
        "rawFactor": 1.0 - 1.0 / corr[o],
        **tags,
        "chHEF": chf,
        "neHEF": nhf,
        "chEmEF": cemf,
        "neEmEF": nemf,
        "muEF": muf,
        "nConstituents": np.minimum(n_const[o], 255),
        "nElectrons": np.minimum(n_by["electron"][o], 255),
        "nMuons": np.minimum(n_by["muon"][o], 255),
        "jetId": jetid,
        "puId": puid,
        "hadronFlavour": fl["hadronFlavour"],
        "partonFlavour": fl["partonFlavour"],
        "genJetIdx": gen_idx,
    }
    jets = schema.cast("Jet", ak.unflatten(ak.zip(cols, depth_limit=1), out_counts))
    if not return_extras:
        return jets
    extras = {
        "pf": f,
        "pf_counts": counts,
        "cand_jet": cand_jet,  # global id in the all-jets arrays below (-1 unclustered)
        "all_jets": {
            "evt": jevt,
            "pt_raw": pt_raw,
            "pt_const": pt_c,
            "pt_l1": pt_l1,
            "pt": pt,
            "eta": eta,
            "phi": phi,
            "area": area,
            "pu_pt": sum_pt - hard_pt,
            "em_frac": (e_by["photon"] + e_by["electron"]) / np.maximum(e, 1e-9),
            "mu_frac": e_by["muon"] / np.maximum(e, 1e-9),
            "selected_order": order,
        },
        "hidden": hidden,
    }
    return jets, extras


PUID = {
    # discriminant = hard-pT fraction (what the PU-ID MVA estimates) smeared, plus the track
    # fraction beta inside the tracker; WPs per region tuned to the Run-2 performance (loose
    # ~99% / tight ~90% hard-jet efficiency in the tracker, JINST 15 (2020) P09018) [derived]
    # WPs = 1%, 5%, 10% quantiles of the GenJet-matched-jet discriminant (tracker) and 5%,
    # 10%, 20% beyond it (pT 15-50 GeV, ttbar, mu 36); they reject ~50/75/80% (tracker)
    # and ~45/60/75% (forward) of unmatched PU jets
    "noise_central": 0.15,
    "noise_forward": 0.30,
    "wp_central": (0.26, 0.42, 0.50),  # loose, medium, tight
    "wp_forward": (0.08, 0.19, 0.32),
}


def pu_id(h: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run-2 ``Jet_puId`` = 4 loose + 2 medium + 1 tight (7 above 50 GeV), and the discriminant."""
    central = np.abs(h["eta"]) < 2.5
    noise = np.where(central, PUID["noise_central"], PUID["noise_forward"])
    d = np.where(central, 0.5 * h["hard_frac"] + 0.5 * h["beta"], h["hard_frac"])
    d = d + noise * rng.standard_normal(len(d))
    wps = np.where(central[:, None], np.asarray(PUID["wp_central"])[None], np.asarray(PUID["wp_forward"])[None])
    passed = d[:, None] > wps
    code = 4 * passed[:, 0] + 2 * passed[:, 1] + 1 * passed[:, 2]
    code = np.where(code == 4, 4, np.where(code == 6, 6, np.where(code == 7, 7, 0)))
    return np.where(h["pt"] >= PARAMS["puid_ptmax"], 7, code).astype(np.int32), d
