"""Pileup (PU) particles and event-level vertex / rho quantities of the reference detector.

:func:`simulate_pileup` draws, for every in-time PU interaction, a parametric
minimum-bias event:

* soft particles in abs(eta) < 5, flat in eta, with a Tsallis pT spectrum
  (mean ~0.52 GeV): charged pions, pi0-like photons (pi0 pseudo-particles: half the
  charged count, carrying the pi0 pT) and a few neutral hadrons (K0L, n);
  particles come in pairs back to back in phi with equal pT (and opposite charge), so
  each interaction balances in the transverse plane, as a real one does: only the
  detector (acceptance, thresholds, resolution) makes PU contribute to MET;
* with a small probability, a hard PU scatter: two back-to-back mini-jets with a
  power-law pT spectrum, fragmented into a few collimated particles. These make the
  unmatched PU jets (after CHS they survive mainly at abs(eta) > 2.5, notes section 7).

Every PU vertex sits at ``vz = z_PU - z_PV`` (mm) from the hard-scatter primary vertex
(truth coordinates put the PV at z = 0).

:func:`event_quantities` gives ``PV_*`` and ``Rho_*``; rho is the FastJet grid median
of the visible pT density of PU + hard-event particles, so it fluctuates and correlates
with the event like the CMS one.

Example:
    Two events with 30 and 41 PU interactions (no hard event: rho then adds a constant
    hard-event share):

    >>> import awkward as ak
    >>> n_pu = np.array([30, 41])
    >>> pu = simulate_pileup(n_pu, np.random.default_rng(1))
    >>> ak.num(pu).tolist()
    [1956, 2566]
    >>> pu.fields
    ['pt', 'eta', 'phi', 'mass', 'px', 'py', 'pz', 'energy', 'pdgId', 'charge', 'vz']
    >>> ev = event_quantities(n_pu.astype(np.float32), n_pu, pu, np.random.default_rng(2))
    >>> ev["PV_npvs"], ev["Rho_fixedGridRhoFastjetAll"]
    (array([27, 33], dtype=uint8), array([21.061092, 25.098866], dtype=float32))
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

PARAMS: dict[str, float] = {
    # per-interaction charged multiplicity dN/deta (13 TeV inelastic, ~5.5 at eta=0),
    # CMS arXiv:1507.05915 [mem]; tuned with the pT spectrum so that rho ~ 0.59 GeV per PU
    # interaction ([meas] nano_tt_v12: Rho_All = 0.586 nPU + 4.0)
    "dndeta_charged": 5.5,
    "eta_max": 5.0,  # calorimeter acceptance [card]
    # Tsallis dN/dpT ~ pT (1 + pT/(n T))^-n, min-bias charged hadrons [mem]; mean 2nT/(n-3)
    "tsallis_n": 7.0,
    "tsallis_T": 0.15,  # GeV
    # charged PU pseudo-particles each carry `charged_merge` pions (count / k, T x k): same pT
    # density, ~20% larger fluctuations, half the particles (speed) [design choice]
    "charged_merge": 2,
    "photon_per_charged": 0.5,  # pi0 pseudo-particles per charged pion [mem, isospin]
    "neutral_hadron_per_charged": 0.12,  # K0L + neutrons per charged [mem]
    "neutral_hadron_pt_scale": 1.4,  # heavier -> harder spectrum [mem]
    # hard PU scatters: P(pT_hat > pt_min) per interaction, dsigma/dpT ~ pT^-(power+1)
    # [mem: sigma(jet pT>20)/sigma_inel ~ few %]; tuned so ~2-3% of reco jets > 30 GeV are
    # unmatched (PU) jets [meas] nano_tt_v12 (notes section 7)
    "hard_prob": 0.025,
    "hard_pt_min": 12.0,  # GeV
    "hard_power": 4.0,
    "hard_sigma_y": 2.0,  # rapidity spread of the mini-jets [mem]
    "hard_frag_width": 0.08,  # angular spread of mini-jet fragments (rad) [mem]
    # vertex positions: PV_z ~ N(1.46, 3.59) cm [meas] nano_tt_v12; the Delphes PU card uses
    # sigma 5.3 cm [pu-card]; PU vertices are drawn from the same luminous region as the PV
    "pv_z_mean_cm": 1.46,
    "pv_z_sigma_cm": 3.59,
    "pv_x_cm": 0.1007,  # beam spot [meas] nano_tt_v12
    "pv_y_cm": -0.0151,
    "pv_xy_sigma_cm": 0.0012,  # [meas] spread 12 um, resolution 10-12 um arXiv:1405.6569
    "pv_z_res_cm": 0.0012,
    # vertex counting [meas] nano_tt_v12: npvs = 0.707 nPU + 4.2, npvsGood = 0.674 nPU + 2.9
    "vtx_eff": 0.707,
    "vtx_fake_mean": 3.2,
    "vtx_notgood_frac": 0.06,
    # rho: FastJet grid median, spacing 0.55 [CMS fixedGridRhoFastjet*], |y|<5 (All), <2.5 (Central)
    "rho_grid": 0.55,
    # gen-level visible density -> PF-level rho (PF thresholds, calorimeter response), tuned to
    # the [meas] slopes dRho/dnPU = 0.586 (All), 0.553 (Central) in nano_tt_v12 [derived]
    "rho_scale_all": 0.737,
    "rho_scale_central": 0.685,
    "rho_hard_offset": 1.5,  # GeV, mean hard-event (ttbar) share, used when truth is not given [derived]
    # pedestal (calorimeter noise, out-of-time PU, not simulated): matches the [meas] intercept
    # Rho_All = 0.586 nPU + 4.0 in ttbar [derived]
    "rho_pedestal": 2.3,
}

_M_PI = 0.13957
_M_K0L = 0.497611
_M_N = 0.939565


def _tsallis(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """pT (GeV) from dN/dpT ~ pT (1 + pT/(nT))^-n: beta-prime(2, n-2) times n T."""
    nn, tt = PARAMS["tsallis_n"], PARAMS["tsallis_T"] * scale
    b = rng.beta(2.0, nn - 2.0, n)
    return nn * tt * b / (1.0 - b)


def _pairs(rng: np.random.Generator, n_inter: int, mean_count: float, pt_scale: float):
    """Back-to-back pairs per interaction: (interaction id, pt, eta, phi, sign) per particle."""
    n_pairs = rng.poisson(mean_count / 2.0, n_inter)
    inter = np.repeat(np.arange(n_inter), n_pairs)
    m = len(inter)
    pt = _tsallis(rng, m, pt_scale)
    phi = rng.uniform(-np.pi, np.pi, m)
    emax = PARAMS["eta_max"]
    eta = rng.uniform(-emax, emax, (2, m))
    phi2 = np.where(phi > 0, phi - np.pi, phi + np.pi)
    sign = np.where(rng.random(m) < 0.5, 1, -1)
    return (
        np.concatenate([inter, inter]),
        np.concatenate([pt, pt]),
        np.concatenate([eta[0], eta[1]]),
        np.concatenate([phi, phi2]),
        np.concatenate([sign, -sign]),
    )


def _minijets(rng: np.random.Generator, n_inter: int):
    """Fragments of hard PU dijets: (interaction id, pt, eta, phi, species 0 ch / 1 gamma / 2 h0)."""
    hard = np.flatnonzero(rng.random(n_inter) < PARAMS["hard_prob"])
    nh = len(hard)
    pthat = PARAMS["hard_pt_min"] * rng.random(nh) ** (-1.0 / PARAMS["hard_power"])
    pthat = np.minimum(pthat, 500.0)
    phi0 = rng.uniform(-np.pi, np.pi, nh)
    # two jets: jet 2 opposite in phi; pT imbalance from kT (5%) [mem]
    jet_inter = np.concatenate([hard, hard])
    jet_pt = np.concatenate([pthat, pthat]) * rng.normal(1.0, 0.05, 2 * nh).clip(0.7, 1.3)
    jet_phi = np.concatenate([phi0, np.where(phi0 > 0, phi0 - np.pi, phi0 + np.pi)])
    jet_eta = rng.normal(0.0, PARAMS["hard_sigma_y"], 2 * nh)
    jet_eta = np.where(np.abs(jet_eta) > 5.5, rng.uniform(-5.5, 5.5, 2 * nh), jet_eta)
    # multiplicity grows like sqrt(pT) [mem]; z fractions from a Dirichlet(2) (no single
    # fragment dominates: a hard neutral fragment would survive CHS as a fake central jet)
    nfrag = 2 + rng.poisson(0.8 * np.sqrt(jet_pt))
    jet = np.repeat(np.arange(2 * nh), nfrag)
    e = rng.gamma(2.0, 1.0, len(jet))
    z = e / np.bincount(jet, e, minlength=2 * nh)[jet]
    width = PARAMS["hard_frag_width"]
    pt = z * jet_pt[jet]
    eta = jet_eta[jet] + rng.normal(0.0, width, len(jet))
    phi = jet_phi[jet] + rng.normal(0.0, width, len(jet))
    species = np.searchsorted([0.6, 0.9], rng.random(len(jet)))  # 60% ch, 30% gamma, 10% h0 [mem]
    keep = np.abs(eta) < PARAMS["eta_max"]
    return jet_inter[jet][keep], pt[keep], eta[keep], phi[keep], species[keep]


def simulate_pileup(n_pu: np.ndarray, rng: np.random.Generator) -> ak.Array:
    """PU particles of every event.

    Arguments:
        n_pu: the number of in-time PU interactions per event (``Pileup_nPU``).
        rng: the random generator.

    Returns:
        Jagged records ``pt eta phi mass px py pz energy`` (GeV), ``pdgId``, ``charge``,
        ``vz`` (mm, relative to the hard-scatter PV). Example in the module docstring.
    """
    n_pu = np.asarray(n_pu, dtype=np.int64)
    n_ev = len(n_pu)
    n_inter = int(n_pu.sum())
    inter_evt = np.repeat(np.arange(n_ev), n_pu)
    sz = PARAMS["pv_z_sigma_cm"] * 10.0
    inter_dz = rng.normal(0.0, sz, n_inter) - rng.normal(0.0, sz, n_inter)  # mm

    lam = PARAMS["dndeta_charged"] * 2 * PARAMS["eta_max"]
    km = PARAMS["charged_merge"]
    ci, cpt, ceta, cphi, csign = _pairs(rng, n_inter, lam / km, float(km))
    gi, gpt, geta, gphi, _ = _pairs(rng, n_inter, lam * PARAMS["photon_per_charged"], 1.0)
    hi, hpt, heta, hphi, _ = _pairs(
        rng, n_inter, lam * PARAMS["neutral_hadron_per_charged"], PARAMS["neutral_hadron_pt_scale"]
    )
    ji, jpt, jeta, jphi, jsp = _minijets(rng, n_inter)
    jcharge = np.where(jsp == 0, np.where(rng.random(len(jsp)) < 0.5, 1, -1), 0)
    nh_is_k = rng.random(len(hi)) < 0.5
    j_is_k = rng.random(len(ji)) < 0.5

    inter = np.concatenate([ci, gi, hi, ji])
    pt = np.concatenate([cpt, gpt, hpt, jpt])
    eta = np.concatenate([ceta, geta, heta, jeta])
    phi = np.concatenate([cphi, gphi, hphi, jphi])
    phi = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    charge = np.concatenate([csign, np.zeros(len(gi)), np.zeros(len(hi)), jcharge]).astype(np.float32)
    h_pid = np.where(nh_is_k, 130, 2112)
    j_pid = np.select([jsp == 0, jsp == 1], [211 * jcharge, 22], np.where(j_is_k, 130, 2112))
    pdg = np.concatenate([211 * csign, np.full(len(gi), 22), h_pid, j_pid]).astype(np.int32)
    mass = np.select([np.abs(pdg) == 211, pdg == 130, pdg == 2112], [_M_PI, _M_K0L, _M_N], 0.0)

    order = np.argsort(inter, kind="stable")
    inter, pt, eta, phi, charge, pdg, mass = (a[order] for a in (inter, pt, eta, phi, charge, pdg, mass))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    counts = np.bincount(inter_evt[inter], minlength=n_ev)
    flat = ak.zip(
        {
            "pt": pt,
            "eta": eta,
            "phi": phi,
            "mass": mass,
            "px": px,
            "py": py,
            "pz": pz,
            "energy": energy,
            "pdgId": pdg,
            "charge": charge,
            "vz": inter_dz[inter],
        },
        depth_limit=1,
    )
    return ak.unflatten(flat, counts)


@numba.njit(cache=True)
def _grid_median(offsets, eta, phi, pt, eta_max, n_eta, n_phi):  # pragma: no cover - numba
    n_ev = len(offsets) - 1
    out = np.zeros(n_ev)
    d_eta = 2 * eta_max / n_eta
    d_phi = 2 * np.pi / n_phi
    area = d_eta * d_phi
    cells = np.zeros(n_eta * n_phi)
    for i in range(n_ev):
        cells[:] = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            if abs(eta[k]) >= eta_max:
                continue
            ie = int((eta[k] + eta_max) / d_eta)
            ip = int((phi[k] + np.pi) / d_phi)
            ie = min(max(ie, 0), n_eta - 1)
            ip = min(max(ip, 0), n_phi - 1)
            cells[ie * n_phi + ip] += pt[k]
        out[i] = np.median(cells) / area
    return out


def _visible(p: ak.Array) -> ak.Array:
    """Generator-level proxy of what PF sees: tracks pT>0.1 in the tracker, calorimeter
    deposits above the tower energy thresholds (ECAL 0.5, HCAL 1 GeV) [card]."""
    apid = abs(p.pdgId)
    nu = (apid == 12) | (apid == 14) | (apid == 16)
    trk = (p.charge != 0) & (abs(p.eta) < 2.5) & (p.pt > 0.1)
    em = (apid == 22) | (apid == 11)
    calo = np.where(em, p.energy > 0.5, p.energy > 1.0)
    return p[~nu & (abs(p.eta) < PARAMS["eta_max"]) & (trk | calo)]


def _rho(parts: ak.Array, eta_max: float) -> np.ndarray:
    counts = np.asarray(ak.num(parts))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    g = PARAMS["rho_grid"]
    n_eta = int(round(2 * eta_max / g))
    n_phi = int(round(2 * np.pi / g))
    return _grid_median(
        offsets,
        np.asarray(ak.flatten(parts.eta), dtype=np.float64),
        np.asarray(ak.flatten(parts.phi), dtype=np.float64),
        np.asarray(ak.flatten(parts.pt), dtype=np.float64),
        eta_max,
        n_eta,
        n_phi,
    )


def event_quantities(
    n_true: np.ndarray,
    n_pu: np.ndarray,
    pu: ak.Array,
    rng: np.random.Generator,
    *,
    truth: ak.Array | None = None,
) -> dict[str, np.ndarray]:
    """PV_npvs, PV_npvsGood, PV_x/y/z (cm), Rho_fixedGridRhoFastjetAll/Central (GeV).

    Arguments:
        n_true: ``Pileup_nTrueInt``, accepted for the contract (unused: every quantity
            follows the actual ``n_pu``).
        n_pu: ``Pileup_nPU``, the PU interactions of ``pu``.
        pu: the PU particles (:func:`simulate_pileup`).
        rng: the random generator.
        truth: the truth record; rho includes its visible particles, else a constant
            offset ``PARAMS["rho_hard_offset"]``.

    Returns:
        Event-level arrays with NanoAOD dtypes. Rho is the grid median of the visible pT
        density. Example in the module docstring.
    """
    n_pu = np.asarray(n_pu, dtype=np.int64)
    n_ev = len(n_pu)
    npvs = 1 + rng.binomial(n_pu, PARAMS["vtx_eff"]) + rng.poisson(PARAMS["vtx_fake_mean"], n_ev)
    good = npvs - rng.binomial(npvs - 1, PARAMS["vtx_notgood_frac"])
    vis = _visible(pu)[["pt", "eta", "phi"]]
    offset = PARAMS["rho_pedestal"]
    if truth is not None:
        vis = ak.concatenate([vis, _visible(truth.particles)[["pt", "eta", "phi"]]], axis=1)
    else:
        offset += PARAMS["rho_hard_offset"]
    rho_all = PARAMS["rho_scale_all"] * _rho(vis, PARAMS["eta_max"]) + offset
    rho_cen = PARAMS["rho_scale_central"] * _rho(vis, 2.5) + offset
    sxy, sz = PARAMS["pv_xy_sigma_cm"], PARAMS["pv_z_sigma_cm"]
    return {
        "PV_npvs": np.minimum(npvs, 255).astype(np.uint8),
        "PV_npvsGood": np.minimum(good, 255).astype(np.uint8),
        "PV_x": (PARAMS["pv_x_cm"] + rng.normal(0, sxy, n_ev)).astype(np.float32),
        "PV_y": (PARAMS["pv_y_cm"] + rng.normal(0, sxy, n_ev)).astype(np.float32),
        "PV_z": (PARAMS["pv_z_mean_cm"] + rng.normal(0, sz, n_ev)).astype(np.float32),
        "Rho_fixedGridRhoFastjetAll": rho_all.astype(np.float32),
        "Rho_fixedGridRhoFastjetCentral": rho_cen.astype(np.float32),
    }
