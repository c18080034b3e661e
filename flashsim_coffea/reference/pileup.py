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
    # ---- Rho variants (CMSSW RecoJets/JetProducers fixedGridRho*): the same grid-median estimator on
    # subsets of the visible particles, each with a scale and pedestal tuned to the [meas] nano_tt_v12
    # fits vs Pileup_nPU [derived]:
    # fixedGridRhoAll: FixedGridEnergyDensity, 18 x 10 cells of 0.6 x 2pi/10 over abs(eta) < 5.4, all PF
    # candidates [code: RecoJets/JetAlgorithms/src/FixedGridEnergyDensity.cc]; [meas] 0.558 nPU + 3.82
    "rho_fixed_eta_max": 5.4,
    "rho_fixed_n_eta": 18,
    "rho_fixed_n_phi": 10,
    "rho_scale_fixed_all": 0.757,
    "rho_pedestal_fixed_all": 1.82,
    # FastJet grid (0.55, abs(y) < 2.5): calorimeter towers (every visible non-muon particle at the calo
    # response below), [meas] 0.305 nPU + 2.10
    "rho_calo_hadron_response": 0.55,  # CMS calo-tower response to low-pT hadrons [mem]
    "rho_scale_calo": 0.595,
    "rho_pedestal_calo": 0.40,
    # charged particles of PU vertices (the tracks CHS removes), [meas] 0.430 nPU + 1.49
    "rho_scale_charged_pu": 0.938,
    "rho_pedestal_charged_pu": 2.96,
    # neutral particles (photons, neutral hadrons), [meas] 0.103 nPU + 0.76
    "rho_scale_neutral": 0.360,
    "rho_pedestal_neutral": 0.40,
    # ---- Pileup summary (CMSSW PhysicsTools/NanoAOD/plugins/NPUTablesProducer.cc [code]): out-of-time
    # crossings -12..-1 (early) and +1..+3 (late) of the CMS mixing window [code: SimGeneral/MixingModule,
    # minBunch -12 / maxBunch 3], each Poisson(nTrueInt): [meas] nano_tt_v12 sumEOOT - 12 nTrueInt has mean
    # 2.9 and rms 20.4 (sqrt(12 x 36.3) = 20.9), sumLOOT - 3 nTrueInt rms 10.7 (10.4)
    "oot_early_bx": 12,
    "oot_late_bx": 3,
    "pudensity_dz_cm": 0.1,  # PU vertices within 1 mm of the PV [code: NPUTablesProducer]
    # gpudensity: generator PU vertices in the abs(z) bin of the PV, / (20 x bin width) [code: NanoAOD
    # globals_cff.py puTable zbins, cm]
    "gpudensity_zbins_cm": (0.0, 1.7, 2.6, 3.0, 3.5, 4.2, 5.2, 6.0, 7.5, 9.0, 12.0),
    # ---- PV fit quality (adaptive vertex fit of the PV tracks; CMSSW RecoVertex/PrimaryVertexProducer)
    # track selection for the PV fit (TrackFilterForPVFinding) [mem]: abs(eta) < 2.4, d0/sigma < 4; pT > 0.45
    # stands for the hit requirements (>= 2 pixel layers, >= 5 strip hits, chi2/ndof) low-pT loopers and
    # secondaries fail [derived: <PV_ndof> = 145 in nano_tt_v12; all tracks of pT > 0.1 give 210]
    "pv_trk_eta_max": 2.4,
    "pv_trk_d0sig_max": 4.0,
    "pv_trk_pt_min": 0.45,
    # adaptive weight w = 1 / (1 + exp((chi2 - sigmacut^2) / 2T)) at the final temperature T = 1,
    # sigmacut = chi2cut = 2.5 of offlinePrimaryVertices [mem]; ndof = 2 sum(w) - 3 (AdaptiveVertexFitter)
    "pv_sigma_cut": 2.5,
    # longitudinal IP resolution / transverse one (arXiv:1405.6569 Figs. 15-16: ~1.5-2x) [mem]
    "pv_dz_over_d0_res": 1.7,
    # pulls of the PV-fit compatibility: track errors include the alignment / material terms CMS inflates
    # them with, so the pulls are narrower than 1 [derived: <PV_chi2> = 0.77 in nano_tt_v12]
    "pv_pull_scale": 0.92,
    # PV score (CMSSW CommonTools/RecoAlgos/src/PrimaryVertexSorting.cc [code]): sum pT^2 of the PV's
    # leptons and of its anti-kT 0.4 track jets (x 0.8^2), plus (track MET - 2 sqrt(sumEt))^2 when positive
    "pv_score_jet_factor": 0.8,
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


def _visible_flat(p: ak.Array) -> dict[str, np.ndarray]:
    """The particles :func:`_visible` keeps, as flat numpy arrays (same selection)."""
    f = {k: ak.to_numpy(ak.flatten(p[k])) for k in ("pt", "eta", "phi", "energy", "pdgId", "charge")}
    apid = np.abs(f["pdgId"])
    nu = (apid == 12) | (apid == 14) | (apid == 16)
    trk = (f["charge"] != 0) & (np.abs(f["eta"]) < 2.5) & (f["pt"] > 0.1)
    em = (apid == 22) | (apid == 11)
    calo = np.where(em, f["energy"] > 0.5, f["energy"] > 1.0)
    keep = ~nu & (np.abs(f["eta"]) < PARAMS["eta_max"]) & (trk | calo)
    counts = np.bincount(np.repeat(np.arange(len(p)), np.asarray(ak.num(p)))[keep], minlength=len(p))
    out = {k: v[keep] for k, v in f.items()}
    out["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if "vz" in p.fields:
        out["vz"] = ak.to_numpy(ak.flatten(p.vz))[keep]
    return out


@numba.njit(cache=True)
def _rho_multi(off_a, off_b, eta, phi, pt, calo_pt, flags, fixed, grid):  # pragma: no cover - numba
    """Per event the grid medians of four pT densities of the particles ``[off_a[ev], off_a[ev+1])``
    and ``[off_b[ev], off_b[ev+1])``: all particles on the ``fixed`` grid (eta_max, n_eta, n_phi),
    and, within abs(eta) < 2.5 on the FastJet ``grid`` (n_eta, n_phi), ``calo_pt`` of flag-4 particles,
    pT of flag-1 (charged PU) and flag-2 (neutral) particles."""
    n_ev = len(off_a) - 1
    out = np.zeros((n_ev, 4))
    f_emax, f_ne, f_np = fixed[0], int(fixed[1]), int(fixed[2])
    c_ne, c_np = int(grid[0]), int(grid[1])
    f_de, f_dp = 2 * f_emax / f_ne, 2 * np.pi / f_np
    c_de, c_dp = 5.0 / c_ne, 2 * np.pi / c_np
    cells_f = np.zeros(f_ne * f_np)
    cells_c = np.zeros((3, c_ne * c_np))
    for ev in range(n_ev):
        cells_f[:] = 0.0
        cells_c[:, :] = 0.0
        for part in range(2):
            lo = off_a[ev] if part == 0 else off_b[ev]
            hi = off_a[ev + 1] if part == 0 else off_b[ev + 1]
            for k in range(lo, hi):
                if abs(eta[k]) < f_emax:
                    ie = min(max(int((eta[k] + f_emax) / f_de), 0), f_ne - 1)
                    ip = min(max(int((phi[k] + np.pi) / f_dp), 0), f_np - 1)
                    cells_f[ie * f_np + ip] += pt[k]
                if abs(eta[k]) < 2.5 and flags[k] != 0:
                    ie = min(max(int((eta[k] + 2.5) / c_de), 0), c_ne - 1)
                    ip = min(max(int((phi[k] + np.pi) / c_dp), 0), c_np - 1)
                    c = ie * c_np + ip
                    if flags[k] & 4:
                        cells_c[0, c] += calo_pt[k]
                    if flags[k] & 1:
                        cells_c[1, c] += pt[k]
                    if flags[k] & 2:
                        cells_c[2, c] += pt[k]
        out[ev, 0] = np.median(cells_f) / (f_de * f_dp)
        for j in range(3):
            out[ev, j + 1] = np.median(cells_c[j]) / (c_de * c_dp)
    return out


def rho_variants(pu: ak.Array, truth: ak.Array | None = None) -> dict[str, np.ndarray]:
    """``Rho_fixedGridRhoAll`` and the central ``Calo``, ``ChargedPileUp`` and ``Neutral`` FastJet rhos.

    Each is the grid median of the pT density of a subset of the visible particles (as
    ``Rho_fixedGridRhoFastjetAll`` is), times a scale plus a pedestal (``PARAMS["rho_*"]``):
    every visible particle on the 0.6 x 2pi/10 grid of CMS ``FixedGridEnergyDensity`` (All);
    calorimeter deposits (no muons, hadrons at the calo-tower response), PU charged particles
    away from the PV (abs(dz) > 0.1 mm: the ones CHS removes) and neutral particles, all on the
    FastJet grid (0.55) within abs(eta) < 2.5. Deterministic: no random draw.

    Arguments:
        pu: the PU particles (:func:`simulate_pileup`).
        truth: the truth record (its visible particles are included when given).

    Returns:
        float32 arrays by NanoAOD branch name.

    Example:
        >>> pu = simulate_pileup(np.array([30, 41]), np.random.default_rng(1))
        >>> {k[len("Rho_fixedGridRho"):]: v for k, v in rho_variants(pu).items()}  # doctest: +NORMALIZE_WHITESPACE
        {'All': array([17.829193, 23.716974], dtype=float32),
         'FastjetCentralCalo': array([ 8.876955, 12.321082], dtype=float32),
         'FastjetCentralChargedPileUp': array([14.43432 , 18.322433], dtype=float32),
         'FastjetCentralNeutral': array([3.095948 , 4.4950595], dtype=float32)}
    """
    from flashsim_coffea.reference.pflow import PARAMS as PF_PARAMS

    a = _visible_flat(pu)
    if truth is not None:
        b = _visible_flat(truth.particles)
        b["vz"] = np.zeros(len(b["pt"]))
    else:
        b = {k: v[:0] for k, v in a.items()}
        b["offsets"] = np.zeros(len(pu) + 1, np.int64)
    n_a = len(a["pt"])
    cat = {k: np.concatenate([a[k], b[k]]) for k in ("pt", "eta", "phi", "pdgId", "charge", "vz")}
    is_pu = np.arange(len(cat["pt"])) < n_a
    apid = np.abs(cat["pdgId"])
    charged = cat["charge"] != 0
    em = (apid == 22) | (apid == 11)
    calo_pt = cat["pt"] * np.where(em, 1.0, PARAMS["rho_calo_hadron_response"])
    flags = (
        1 * (charged & is_pu & (np.abs(cat["vz"]) > PF_PARAMS["dz_chs_mm"]))
        + 2 * ~charged
        + 4 * (apid != 13)
    ).astype(np.int64)
    g = PARAMS["rho_grid"]
    fixed = np.array([PARAMS["rho_fixed_eta_max"], PARAMS["rho_fixed_n_eta"], PARAMS["rho_fixed_n_phi"]], np.float64)
    grid = np.array([round(5.0 / g), round(2 * np.pi / g)], np.float64)
    f64 = np.float64
    med = _rho_multi(
        a["offsets"], b["offsets"] + n_a, cat["eta"].astype(f64), cat["phi"].astype(f64), cat["pt"].astype(f64),
        calo_pt.astype(f64), flags, fixed, grid,
    )
    names = ("fixedGridRhoAll", "fixedGridRhoFastjetCentralCalo", "fixedGridRhoFastjetCentralChargedPileUp",
             "fixedGridRhoFastjetCentralNeutral")
    keys = ("fixed_all", "calo", "charged_pu", "neutral")
    return {
        f"Rho_{n}": (PARAMS[f"rho_scale_{k}"] * med[:, j] + PARAMS[f"rho_pedestal_{k}"]).astype(np.float32)
        for j, (n, k) in enumerate(zip(names, keys))
    }


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def pileup_summary(
    n_true: np.ndarray, n_pu: np.ndarray, pu: ak.Array, pv_z: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``Pileup_sumEOOT``, ``Pileup_sumLOOT``, ``Pileup_pudensity``, ``Pileup_gpudensity`` as CMSSW's
    ``NPUTablesProducer`` computes them, from this pileup model.

    * ``sumEOOT`` / ``sumLOOT``: the interactions of the 12 early / 3 late out-of-time crossings of
      the CMS mixing window, each crossing Poisson(``nTrueInt``) (only in-time PU is simulated as
      particles; out-of-time PU enters as counts only).
    * ``pudensity``: the simulated PU vertices within 1 mm of the PV (their ``vz``), as a float count.
    * ``gpudensity``: the generator PU vertices whose abs(z) falls in the abs(``PV_z``) bin of the CMS
      ``zbins``, divided by 20 x the bin width (cm); the count is drawn from the luminous region of
      this model (``PARAMS["pv_z_*"]``), Binomial(``nPU``, P(abs(z) in the bin)), as the PU ``vz``
      are relative to the PV and carry no absolute z.

    Arguments:
        n_true: ``Pileup_nTrueInt`` per event.
        n_pu: ``Pileup_nPU`` per event.
        pu: the PU particles (:func:`simulate_pileup`).
        pv_z: ``PV_z`` per event (cm).
        rng: the random generator (out-of-time counts and the gpudensity count).

    Returns:
        Arrays with NanoAOD dtypes (int32 sums, float32 densities).

    Example:
        >>> n_pu = np.array([30, 41])
        >>> pu = simulate_pileup(n_pu, np.random.default_rng(1))
        >>> s = pileup_summary(n_pu.astype(np.float32), n_pu, pu, np.array([0.3, -5.0]), np.random.default_rng(2))
        >>> s["Pileup_sumEOOT"], s["Pileup_sumLOOT"], s["Pileup_pudensity"]
        (array([346, 514], dtype=int32), array([ 93, 112], dtype=int32), array([1., 0.], dtype=float32))
    """
    n_true = np.asarray(n_true, dtype=np.float64)
    n_pu = np.asarray(n_pu, dtype=np.int64)
    n_ev = len(n_pu)
    eoot = rng.poisson(PARAMS["oot_early_bx"] * np.maximum(n_true, 0.0))
    loot = rng.poisson(PARAMS["oot_late_bx"] * np.maximum(n_true, 0.0))
    # pudensity: distinct PU vertices (one vz per interaction) within 1 mm of the PV
    vz = ak.to_numpy(ak.flatten(pu.vz))
    evt = np.repeat(np.arange(n_ev), np.asarray(ak.num(pu)))
    near = np.abs(vz) < 10.0 * PARAMS["pudensity_dz_cm"]
    pairs = np.unique(np.stack([evt[near].astype(np.float64), vz[near]]), axis=1)
    pud = np.bincount(pairs[0].astype(np.int64), minlength=n_ev).astype(np.float64)
    # gpudensity: abs(z) bins (lower_bound over the edges but the last, as CMSSW)
    edges = np.asarray(PARAMS["gpudensity_zbins_cm"])
    az = np.abs(np.asarray(pv_z, dtype=np.float64))
    k = np.clip(np.searchsorted(edges[:-1], az, side="left"), 1, len(edges) - 1)
    lo, hi = edges[k - 1], np.where(k == len(edges) - 1, np.inf, edges[k])
    mu, sig = PARAMS["pv_z_mean_cm"], PARAMS["pv_z_sigma_cm"]
    prob = (
        _norm_cdf((hi - mu) / sig) - _norm_cdf((lo - mu) / sig) + _norm_cdf((-lo - mu) / sig) - _norm_cdf((-hi - mu) / sig)
    )
    n_bin = rng.binomial(n_pu, np.clip(prob, 0.0, 1.0))
    gpud = n_bin / (20.0 * (edges[k] - edges[k - 1]))
    return {
        "Pileup_sumEOOT": eoot.astype(np.int32),
        "Pileup_sumLOOT": loot.astype(np.int32),
        "Pileup_pudensity": pud.astype(np.float32),
        "Pileup_gpudensity": gpud.astype(np.float32),
    }


def _track_rel_pt_err(kind: np.ndarray, pt: np.ndarray, aeta: np.ndarray) -> np.ndarray:
    """Relative track pT uncertainty of PF tracks, the resolution :mod:`.pflow` draws them with."""
    from flashsim_coffea.reference import pflow

    pp = pflow.PARAMS
    b = np.searchsorted([0.5, 1.5], aeta)
    mu = kind == pflow.KIND["muon"]
    el = kind == pflow.KIND["electron"]
    a = np.select(
        [el, mu], [np.asarray(pp["res_electron_a"])[b], np.asarray(pp["res_muon_a"])[b]], np.asarray(pp["res_hadron_a"])[b]
    )
    bb = np.where(mu, np.asarray(pp["res_muon_b"])[b], np.asarray(pp["res_hadron_b"])[b])
    return np.sqrt(a**2 + (bb * pt) ** 2)


def vertex_quality(
    pf: dict[str, np.ndarray],
    pf_counts: np.ndarray,
    cand_jet: np.ndarray,
    truth: ak.Array,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """``PV_ndof``, ``PV_chi2`` (reduced) and ``PV_score`` from the tracks of the hard-scatter vertex.

    The PV tracks are the reconstructed PF tracks of the hard event plus the PU tracks that CHS
    keeps (abs(dz) < 0.1 mm), within the PV-finding selection (``PARAMS["pv_trk_*"]``). Each has a
    compatibility chi2 = (d0/sigma)^2 + (dz/sigma_z)^2 with the vertex: d0 as :mod:`.pflow` measured
    it (displaced decays included), dz = the true longitudinal impact parameter of its production
    vertex plus resolution (sigma_z = ``pv_dz_over_d0_res`` x sigma_d0, 3% of tracks with the 4x
    tail of :mod:`.pflow`); PU tracks sit uniformly within the CHS window. The adaptive fit gives
    each track the weight w = 1 / (1 + exp((chi2 - 2.5^2)/2)); ``ndof = 2 sum(w) - 3`` and the
    reduced chi2 = sum(w chi2) / (2 sum(w)) (the fitted position absorbs 3 of the 2 sum(w) degrees
    of freedom and, for Gaussian tracks, the same share of the chi2). ``score`` is CMS's vertex
    ranking (PrimaryVertexSorting): sum of the squared pT of the leptons and of the track jets
    (x 0.8^2), tracks scaled by (pT - sigma_pT)/pT, plus the excess of the track MET over
    2 sqrt(sum pT), squared; its candidates are every hard-event track and the CHS-kept PU tracks
    (CMS assigns dz-compatible and b-jet tracks to the PV too). Track jets are these tracks grouped
    by the anti-kT jet that clustered them (``cand_jet``); unclustered tracks are single-track jets.

    Arguments:
        pf: flat PF candidates (:func:`.pflow.build_flat`, as in the jets' extras).
        pf_counts: PF candidates per event.
        cand_jet: per candidate, the id of the jet that took it (-1 none).
        truth: the truth record (production vertices of the hard tracks).
        rng: the random generator (dz measurements).

    Returns:
        float32 arrays ``PV_ndof``, ``PV_chi2``, ``PV_score``, NanoAOD precision (8 mantissa bits).

    Example:
        Two Drell-Yan events without pileup (the vertex of the second has few tracks):

        >>> from flashsim_coffea.reference import pflow
        >>> from flashsim_coffea.reference.pythia import generate_block
        >>> from flashsim_coffea.reference.truth import make_truth
        >>> truth = make_truth(generate_block("dy", n=2, seed=1))
        >>> f, counts = pflow.build_flat(truth, simulate_pileup(np.zeros(2, np.int64), np.random.default_rng(0)),
        ...                              np.random.default_rng(1))
        >>> q = vertex_quality(f, counts, np.full(len(f["pt"]), -1), truth, np.random.default_rng(2))
        >>> q["PV_ndof"], q["PV_chi2"]
        (array([160.79987 ,  12.777827], dtype=float32), array([0.9495901 , 0.90751725], dtype=float32))
        >>> q["PV_score"]
        array([1444.1727, 4079.8657], dtype=float32)
    """
    from flashsim_coffea.reference import pflow

    n_ev = len(pf_counts)
    kind = pf["kind"]
    evt = np.repeat(np.arange(n_ev), pf_counts)
    is_trk = (kind == pflow.KIND["charged_hadron"]) | (kind == pflow.KIND["electron"]) | (kind == pflow.KIND["muon"])
    hard_trk = is_trk & (pf["hardFrac"] > 0.5)  # towers carry truthIdx too; tracks are pure
    pu_trk = is_trk & (pf["hardFrac"] <= 0.5) & pf["fromPV"]
    aeta = np.abs(pf["eta"])
    pp = pflow.PARAMS
    sig_d0 = np.sqrt(pp["d0_a_mm"] ** 2 + (pp["d0_b_mm"] / np.maximum(pf["pt"], 0.1)) ** 2) * (1 + pp["d0_eta"] * aeta)
    d0sig = pf["d0sig"]
    sel = (hard_trk | pu_trk) & (aeta < PARAMS["pv_trk_eta_max"]) & (d0sig < PARAMS["pv_trk_d0sig_max"])
    sel &= pf["pt"] > PARAMS["pv_trk_pt_min"]
    idx = np.flatnonzero(sel)
    n = len(idx)
    # true longitudinal IP of the production vertex (mm); PU tracks: flat within the CHS window
    p = truth.particles
    off = np.concatenate([[0], np.cumsum(np.asarray(ak.num(p)))])
    vx, vy, vz = (ak.to_numpy(ak.flatten(p[c])) for c in ("vx", "vy", "vz"))
    g = off[evt[idx]] + np.maximum(pf["truthIdx"][idx], 0)
    phi_i, eta_i = pf["phi"][idx], pf["eta"][idx]
    rt = (vx[g] * np.cos(phi_i) + vy[g] * np.sin(phi_i))  # transverse distance along the track
    dz_true = np.where(hard_trk[idx], vz[g] - rt * np.sinh(eta_i), rng.uniform(-pp["dz_chs_mm"], pp["dz_chs_mm"], n))
    sig_z = PARAMS["pv_dz_over_d0_res"] * sig_d0[idx]
    tail = np.where(rng.random(n) < pp["d0_tail_frac"], pp["d0_tail_scale"], 1.0)
    dz = dz_true + sig_z * tail * rng.standard_normal(n)
    s = PARAMS["pv_pull_scale"]
    chi2 = (s * d0sig[idx]) ** 2 + (s * dz / sig_z) ** 2
    w = 1.0 / (1.0 + np.exp(np.minimum((chi2 - PARAMS["pv_sigma_cut"] ** 2) / 2.0, 50.0)))
    e = evt[idx]
    sw = np.bincount(e, w, n_ev)
    swc = np.bincount(e, w * chi2, n_ev)
    ndof = 2.0 * sw - 3.0
    red = swc / np.maximum(2.0 * sw, 1e-9)

    # score (PrimaryVertexSorting): the charged candidates the PV owns (PFCandidatePrimaryVertexSorter,
    # quality <= 3: used in the fit, dz-compatible, b-tracks near jet axes), i.e. every hard-event track and
    # the CHS-kept PU tracks; pT scaled by (pT - sigma_pT) / pT
    ui = np.flatnonzero(hard_trk | pu_trk)
    ue = evt[ui]
    rel = _track_rel_pt_err(kind[ui], pf["pt"][ui], aeta[ui])
    scale = np.clip(1.0 - rel, 0.0, None)
    px, py, pts = pf["px"][ui] * scale, pf["py"][ui] * scale, pf["pt"][ui] * scale
    lep = (kind[ui] == pflow.KIND["electron"]) | (kind[ui] == pflow.KIND["muon"])
    score = np.bincount(ue[lep], pts[lep] ** 2, n_ev).astype(np.float64)  # int64 when no lepton
    # track jets: PV tracks grouped by their anti-kT jet; unclustered tracks are their own jet
    cj = cand_jet[ui]
    grouped = ~lep & (cj >= 0)
    single = ~lep & (cj < 0)
    if grouped.any():
        ids, inv = np.unique(cj[grouped], return_inverse=True)
        jx, jy = np.bincount(inv, px[grouped]), np.bincount(inv, py[grouped])
        jevt = np.zeros(len(ids), np.int64)
        jevt[inv] = ue[grouped]
        jpt2 = jx**2 + jy**2
        score += PARAMS["pv_score_jet_factor"] ** 2 * np.bincount(jevt, jpt2, n_ev)
        sum_et_jets = np.bincount(jevt, np.sqrt(jpt2), n_ev)
    else:
        sum_et_jets = np.zeros(n_ev)
    score += PARAMS["pv_score_jet_factor"] ** 2 * np.bincount(ue[single], pts[single] ** 2, n_ev)
    metx, mety = np.bincount(ue, px, n_ev), np.bincount(ue, py, n_ev)
    sum_et = np.bincount(ue[lep | single], pts[lep | single], n_ev) + sum_et_jets
    above = np.hypot(metx, mety) - 2.0 * np.sqrt(sum_et)
    score += np.where(above > 0, above, 0.0) ** 2
    f32 = np.float32
    return {
        "PV_ndof": np.maximum(ndof, 0.0).astype(f32),
        "PV_chi2": red.astype(f32),
        "PV_score": score.astype(f32),
    }
