"""Generator-level NanoAOD v12 collections from the truth record.

:func:`gen_collections` builds, for a block of truth events (:func:`.truth.make_truth`):

``GenJet`` / ``GenJetAK8``
    anti-kT R = 0.4 / 0.8 on every final-state particle except neutrinos (CMS
    ``genParticlesForJetsNoNu``), B/C hadrons and partons as ghosts for
    ``hadronFlavour`` / ``partonFlavour`` (:mod:`.jetalgo`); pT > 10 / 100 GeV.
``SubGenJetAK8``
    the two soft-drop (beta 0, z_cut 0.1) subjets of each GenJetAK8, C/A-reclustered constituents
    (:func:`.fatjets.soft_drop_subjets`), jet after jet in GenJetAK8 order as NanoAOD writes them
    ([meas] nano_tt_v12: 666 subjets for 335 GenJetAK8).
``GenMET_pt`` / ``GenMET_phi``
    vector sum of all final-state neutrinos (CMS ``genMetTrue``), event-level arrays.
``GenVisTau``
    visible part of every hadronically decaying tau: the sum of its final-state
    non-neutrino descendants (CMS ``tauGenJets``); ``status`` = decay mode counted as in
    CMSSW ``JetMCTagUtils::genTauDecayMode`` (charged hadrons, photons / 2 = pi0;
    any neutral hadron or other photon count -> 15); ``genPartIdxMother`` = the tau's
    ``GenPart`` index; visible pT > 10 GeV.
``GenDressedLepton``
    Rivet ``ParticleLevelProducer`` leptons: prompt final-state e/mu (not from hadron
    decays; prompt-tau daughters accepted) dressed with the prompt photons within
    dR < 0.1 (each photon to its closest lepton); abs(eta) < 2.5, pT > 15 GeV;
    ``hasTauAnc`` = from a tau decay.
``GenIsolatedPhoton``
    prompt photons not used for dressing, abs(eta) < 2.5, pT > 10 GeV, with
    sum pT(other visible particles, dR < 0.4) < 0.5 pT.

All collections pT-descending and cast with :func:`flashsim_coffea.nanoaod.schema.cast`
(rounded to NanoAOD's stored precision when written: :mod:`flashsim_coffea.nanoaod.storage_precision`).
Sources in ``PARAMS``.

Example:
    Two Drell-Yan events, Z -> ee and Z -> mumu. The electron of event 0 is dressed with
    a hard collinear FSR photon; GenJets cluster leptons too (only neutrinos are left
    out), and with no neutrino in these events GenMET is 0.

    >>> import awkward as ak
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> gen = gen_collections(make_truth(generate_block("dy", n=2, seed=1)))
    >>> sorted(gen)  # doctest: +NORMALIZE_WHITESPACE
    ['GenDressedLepton', 'GenIsolatedPhoton', 'GenJet', 'GenJetAK8', 'GenMET_phi', 'GenMET_pt', 'GenVisTau',
     'SubGenJetAK8']
    >>> gen["GenDressedLepton"].pdgId.tolist()
    [[11, -11], [-13, 13]]
    >>> gen["GenDressedLepton"].pt
    <Array [[72, 26.5], [51.7, 40.4]] type='2 * var * float32'>
    >>> gen["GenJet"].pt
    <Array [[72.8, 38.1, 32.2, 12.4, 12.1], [...]] type='2 * var * float32'>
    >>> gen["GenMET_pt"]
    array([0., 0.], dtype=float32)

References:
    CMSSW ``PhysicsTools/NanoAOD/python/particlelevel_cff.py``, ``taus_cff.py`` and
    ``jetMC_cff.py`` (the NanoAOD tables); A. Buckley et al., "Rivet user manual",
    arXiv:1003.0694 (dressed leptons).
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.reference import jetalgo

PARAMS: dict = {
    "genjet_R": 0.4,  # slimmedGenJets AK4 [CMS]
    "genjet_ptmin": 10.0,  # NanoAOD GenJet pt > 10 [meas, notes section 7]
    "genjetak8_R": 0.8,  # slimmedGenJetsAK8 [CMS]
    "genjetak8_ptmin": 100.0,  # NanoAOD GenJetAK8 pt > 100 [meas, notes section 7]
    "vistau_ptmin": 10.0,  # genVisTauTable cut "pt > 10." [code: cms-sw/cmssw PhysicsTools/NanoAOD/python/taus_cff.py]
    # Rivet ParticleLevelProducer [code: cms-sw/cmssw PhysicsTools/NanoAOD/python/particlelevel_cff.py]
    "lep_dress_dr": 0.1,  # lepConeSize
    "lep_eta_max": 2.5,  # lepMaxEta
    "lep_ptmin": 15.0,  # rivetLeptonTable cut "pt > 15" ([meas] min 15.5 GeV in nano_dy / 2015 OD)
    "pho_ptmin": 10.0,  # rivetPhotonTable cut "pt > 10"
    "pho_eta_max": 2.5,  # phoMaxEta
    "pho_iso_dr": 0.4,  # phoIsoConeSize
    "pho_max_reliso": 0.5,  # phoMaxRelIso
    "particle_eta_max": 5.0,  # particleMaxEta (isolation inputs)
}

_PROMPT = 1 << BITS["isPrompt"]
_DIRECT_PROMPT_TAU = 1 << BITS["isDirectPromptTauDecayProduct"]


def _finish(name: str, fields: dict) -> ak.Array:
    """pT-sort a jagged record and cast."""
    rec = ak.zip(fields)
    return ak.to_packed(schema.cast(name, rec[ak.argsort(rec.pt, axis=1, ascending=False)]))


def _flat(p: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(p[field]))


def _offsets(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(c)])


def _is_neutrino(absid) -> np.ndarray:
    return (absid == 12) | (absid == 14) | (absid == 16)


# ---------------------------------------------------------------- jets and MET


def gen_jets(truth: ak.Array, radius: float, ptmin: float, with_subjets: bool = False):
    """Anti-kT gen jets (records ``pt eta phi mass partonFlavour hadronFlavour``), unrounded.

    With ``with_subjets``, also their soft-drop subjets (``SubGenJetAK8``: two per jet, harder first, jet
    after jet; none when the declustering reaches a single particle), :func:`.fatjets.soft_drop_subjets`.
    """
    p = truth.particles
    visible = p[~_is_neutrino(abs(p.pdgId))]
    jets, index = jetalgo.cluster(visible, radius, ptmin, hadrons=truth.hadrons, partons=truth.partons)
    jets = jets[["pt", "eta", "phi", "mass", "partonFlavour", "hadronFlavour"]]
    if not with_subjets:
        return jets
    from flashsim_coffea.reference import fatjets

    cons = {k: ak.to_numpy(ak.flatten(jetalgo.take(visible[k], index), axis=None)) for k in ("px", "py", "pz", "energy")}
    n_cons = ak.to_numpy(ak.flatten(ak.num(index, axis=2)))
    sub, has = fatjets.soft_drop_subjets(n_cons, cons["px"], cons["py"], cons["pz"], cons["energy"])
    rows = np.repeat(np.flatnonzero(has), 2)
    which = np.tile([0, 1], int(has.sum()))
    pt, eta, phi, mass = _kin(*(sub[rows, which, i] for i in range(4)))
    counts = np.bincount(np.repeat(np.arange(len(jets)), ak.to_numpy(ak.num(jets)))[rows], minlength=len(jets))
    fields = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    subjets = ak.zip({k: ak.unflatten(v, counts) for k, v in fields.items()})
    return jets, subjets


def gen_met(truth: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """(pt, phi) of the vector sum of all final-state neutrinos per event (GeV, rad)."""
    p = truth.particles
    nu = p[_is_neutrino(abs(p.pdgId))]
    px = ak.to_numpy(ak.sum(nu.px, axis=1))
    py = ak.to_numpy(ak.sum(nu.py, axis=1))
    return np.hypot(px, py), np.arctan2(py, px)


# ---------------------------------------------------------------- taus


@numba.njit(cache=True)
def _tau_sums(group, n_groups, px, py, pz, e, charge, absid, pt, neutrino):
    """Per tau: visible four-momentum, charge, counts and the leading charged descendant."""
    vis = np.zeros((n_groups, 4))
    q = np.zeros(n_groups)
    n_e = np.zeros(n_groups, np.int64)
    n_mu = np.zeros(n_groups, np.int64)
    n_ch = np.zeros(n_groups, np.int64)
    n_nh = np.zeros(n_groups, np.int64)
    n_gam = np.zeros(n_groups, np.int64)
    lead = np.full(n_groups, -1, np.int64)
    lead_pt = np.zeros(n_groups)
    for i in range(group.shape[0]):
        g = group[i]
        if neutrino[i]:
            continue
        vis[g, 0] += px[i]
        vis[g, 1] += py[i]
        vis[g, 2] += pz[i]
        vis[g, 3] += e[i]
        q[g] += charge[i]
        a = absid[i]
        if a == 22:
            n_gam[g] += 1
        elif a == 11:
            n_e[g] += 1
        elif a == 13:
            n_mu[g] += 1
        elif charge[i] != 0:
            n_ch[g] += 1
        else:
            n_nh[g] += 1
        if charge[i] != 0 and pt[i] > lead_pt[g]:
            lead_pt[g] = pt[i]
            lead[g] = i
    return vis, q, n_e, n_mu, n_ch, n_nh, n_gam, lead


def tau_decays(truth: ak.Array) -> dict[str, np.ndarray]:
    """Flat table of every decayed tau (one row per tau, ordered by event then GenPart index).

    Keys: ``event``, ``genPartIdx`` (the tau in GenPart), ``px py pz energy pt eta phi
    mass`` (visible, GeV), ``charge``, ``n_charged`` (charged hadrons), ``n_photons``,
    ``n_neutral`` (neutral hadrons), ``hadronic`` (bool, CMS: not exactly one e or mu),
    ``status`` (GenVisTau decay-mode code), ``lead`` (flat index into the event-flattened
    ``truth.particles`` of the leading charged visible descendant, -1 if none).
    """
    p = truth.particles
    counts = np.asarray(ak.num(p), dtype=np.int64)
    evt_all = np.repeat(np.arange(len(counts)), counts)
    tau_idx = _flat(p, "tauIdx").astype(np.int64)
    sel = np.nonzero(tau_idx >= 0)[0]
    m = int(tau_idx.max()) + 1 if len(tau_idx) else 1
    key = evt_all[sel] * m + tau_idx[sel]
    uniq, group = np.unique(key, return_inverse=True)
    absid = np.abs(_flat(p, "pdgId")[sel]).astype(np.int64)
    charge = _flat(p, "charge")[sel].astype(np.float64)
    vis, q, n_e, n_mu, n_ch, n_nh, n_gam, lead = _tau_sums(
        group.astype(np.int64),
        len(uniq),
        _flat(p, "px")[sel],
        _flat(p, "py")[sel],
        _flat(p, "pz")[sel],
        _flat(p, "energy")[sel],
        charge,
        absid,
        _flat(p, "pt")[sel],
        _is_neutrino(absid),
    )
    lead = np.where(lead >= 0, sel[np.maximum(lead, 0)], -1)
    px, py, pz, en = vis.T
    pt = np.hypot(px, py)
    pabs = np.sqrt(px**2 + py**2 + pz**2)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    mass = np.sqrt(np.maximum(en**2 - pabs**2, 0.0))
    hadronic = (n_e != 1) & (n_mu != 1)
    # CMSSW JetMCTagUtils::genTauDecayMode -> GenVisTau status (taus_cff.py doc string)
    pi0 = np.where(n_gam % 2 == 0, n_gam // 2, 99)
    clean = n_nh == 0
    status = np.full(len(uniq), 15, np.int64)
    one, three = clean & (n_ch == 1), clean & (n_ch == 3)
    status[one & (pi0 == 0)] = 0
    status[one & (pi0 == 1)] = 1
    status[one & (pi0 == 2)] = 2
    status[three & (pi0 == 0)] = 10
    status[three & (pi0 == 1)] = 11
    return {
        "event": uniq // m,
        "genPartIdx": uniq % m,
        "px": px,
        "py": py,
        "pz": pz,
        "energy": en,
        "pt": pt,
        "eta": eta,
        "phi": np.arctan2(py, px),
        "mass": mass,
        "charge": np.rint(q).astype(np.int64),
        "n_charged": n_ch,
        "n_photons": n_gam,
        "n_neutral": n_nh,
        "hadronic": hadronic,
        "status": status,
        "lead": lead,
    }


def gen_vis_taus(truth: ak.Array, decays: dict | None = None) -> ak.Array:
    """NanoAOD ``GenVisTau`` (hadronic taus, visible pT > 10 GeV), cast and pT-ordered."""
    d = tau_decays(truth) if decays is None else decays
    keep = d["hadronic"] & (d["pt"] > PARAMS["vistau_ptmin"])
    counts = np.bincount(d["event"][keep], minlength=len(truth))
    fields = {
        "pt": d["pt"],
        "eta": d["eta"],
        "phi": d["phi"],
        "mass": d["mass"],
        "charge": d["charge"],
        "genPartIdxMother": d["genPartIdx"],
        "status": d["status"],
    }
    return _finish("GenVisTau", {k: ak.unflatten(v[keep], counts) for k, v in fields.items()})


# ---------------------------------------------------------------- dressed leptons, isolated photons


@numba.njit(cache=True)
def _dress(off, px, py, pz, e, eta, phi, pt, is_lep, is_pho, visible, dress_dr, iso_dr, eta_max_iso, iso_ptmin):
    """Rivet-style dressing and photon isolation, flat over a block.

    Returns the dressed four-momenta of leptons (rows = every particle, non-zero only
    for leptons), a per-particle "used for dressing" flag and the photon isolation sum.
    """
    n = px.shape[0]
    dressed = np.zeros((n, 4))
    used = np.zeros(n, np.bool_)
    iso = np.zeros(n)
    for ev in range(off.shape[0] - 1):
        s, t = off[ev], off[ev + 1]
        for i in range(s, t):
            if is_lep[i]:
                dressed[i, 0] = px[i]
                dressed[i, 1] = py[i]
                dressed[i, 2] = pz[i]
                dressed[i, 3] = e[i]
        for j in range(s, t):
            if not is_pho[j]:
                continue
            best, best_dr = -1, dress_dr
            for i in range(s, t):
                if not is_lep[i]:
                    continue
                dphi = abs(phi[i] - phi[j])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr = np.sqrt((eta[i] - eta[j]) ** 2 + dphi**2)
                if dr < best_dr:
                    best, best_dr = i, dr
            if best >= 0:
                used[j] = True
                dressed[best, 0] += px[j]
                dressed[best, 1] += py[j]
                dressed[best, 2] += pz[j]
                dressed[best, 3] += e[j]
        for j in range(s, t):
            if not is_pho[j] or used[j] or pt[j] < iso_ptmin:
                continue
            tot = 0.0
            for k in range(s, t):
                if k == j or not visible[k] or abs(eta[k]) > eta_max_iso:
                    continue
                dphi = abs(phi[k] - phi[j])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                if (eta[k] - eta[j]) ** 2 + dphi**2 < iso_dr**2:
                    tot += pt[k]
            iso[j] = tot
    return dressed, used, iso


def _kin(px, py, pz, e):
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return pt, eta, np.arctan2(py, px), mass


def dressed_leptons_and_photons(truth: ak.Array) -> tuple[ak.Array, ak.Array]:
    """NanoAOD ``GenDressedLepton`` and ``GenIsolatedPhoton`` (cast, pT-ordered)."""
    p = truth.particles
    counts = np.asarray(ak.num(p), dtype=np.int64)
    off = _offsets(counts)
    evt = np.repeat(np.arange(len(counts)), counts)
    absid = np.abs(_flat(p, "pdgId")).astype(np.int64)
    flags = _flat(p, "statusFlags").astype(np.int64)
    # Rivet PromptFinalState with acceptTauDecays: not from a hadron decay
    prompt = (flags & (_PROMPT | _DIRECT_PROMPT_TAU)) != 0
    is_lep = prompt & ((absid == 11) | (absid == 13))
    is_pho = prompt & (absid == 22)
    px, py, pz, en = (_flat(p, k) for k in ("px", "py", "pz", "energy"))
    eta, phi, pt = _flat(p, "eta"), _flat(p, "phi"), _flat(p, "pt")
    dressed, used, iso = _dress(
        off, px, py, pz, en, eta, phi, pt, is_lep, is_pho, ~_is_neutrino(absid),
        PARAMS["lep_dress_dr"], PARAMS["pho_iso_dr"], PARAMS["particle_eta_max"], PARAMS["pho_ptmin"],
    )
    lpt, leta, lphi, lmass = _kin(*dressed.T)
    lsel = is_lep & (lpt > PARAMS["lep_ptmin"]) & (np.abs(leta) < PARAMS["lep_eta_max"])
    lc = np.bincount(evt[lsel], minlength=len(counts))
    pdg = _flat(p, "pdgId")
    has_tau = _flat(p, "tauIdx") >= 0
    leptons = _finish(
        "GenDressedLepton",
        {
            "pt": ak.unflatten(lpt[lsel], lc),
            "eta": ak.unflatten(leta[lsel], lc),
            "phi": ak.unflatten(lphi[lsel], lc),
            "mass": ak.unflatten(lmass[lsel], lc),
            "pdgId": ak.unflatten(pdg[lsel], lc),
            "hasTauAnc": ak.unflatten(has_tau[lsel], lc),
        },
    )
    psel = (
        is_pho & ~used & (pt > PARAMS["pho_ptmin"]) & (np.abs(eta) < PARAMS["pho_eta_max"])
        & (iso < PARAMS["pho_max_reliso"] * pt)
    )
    pc = np.bincount(evt[psel], minlength=len(counts))
    photons = _finish(
        "GenIsolatedPhoton",
        {
            "pt": ak.unflatten(pt[psel], pc),
            "eta": ak.unflatten(eta[psel], pc),
            "phi": ak.unflatten(phi[psel], pc),
            "mass": ak.unflatten(np.zeros(int(psel.sum())), pc),
        },
    )
    return leptons, photons


# ---------------------------------------------------------------- all together


def gen_collections(truth: ak.Array) -> dict[str, ak.Array | np.ndarray]:
    """All generator-level NanoAOD collections of a truth block (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).

    Returns:
        ``GenJet``, ``GenJetAK8``, ``GenVisTau``, ``GenDressedLepton``, ``GenIsolatedPhoton``
        (jagged, cast) and ``GenMET_pt``, ``GenMET_phi`` (float32 per event).
    """
    out: dict[str, ak.Array | np.ndarray] = {}
    j = gen_jets(truth, PARAMS["genjet_R"], PARAMS["genjet_ptmin"])
    out["GenJet"] = _finish("GenJet", {f: j[f] for f in j.fields})
    j, sub = gen_jets(truth, PARAMS["genjetak8_R"], PARAMS["genjetak8_ptmin"], with_subjets=True)
    out["GenJetAK8"] = _finish("GenJetAK8", {f: j[f] for f in j.fields})
    out["SubGenJetAK8"] = ak.to_packed(schema.cast("SubGenJetAK8", ak.zip(
        {f: sub[f] for f in sub.fields})))  # jet after jet (GenJetAK8 order), not pT-sorted, as NanoAOD
    met_pt, met_phi = gen_met(truth)
    out["GenMET_pt"] = np.asarray(met_pt, np.float32)
    out["GenMET_phi"] = np.asarray(met_phi, np.float32)
    out["GenVisTau"] = gen_vis_taus(truth)
    out["GenDressedLepton"], out["GenIsolatedPhoton"] = dressed_leptons_and_photons(truth)
    return out
