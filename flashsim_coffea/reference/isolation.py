"""PF-like isolation cone sums around reconstructed leptons and photons.

Isolation inputs are generator particles seen through a simple acceptance (no PF
smearing): hard-event final-state particles (neutrinos excluded) and pileup (PU)
particles from :func:`pileup.simulate_pileup`, all with pT > 0.5 GeV (Delphes
isolation ``PTMin`` [card]). Categories (PF isolation, notes section 3):

* ``ch``: charged particles in the tracker (abs(eta) < 2.5) from the PV: hard-event
  charged particles and PU charged particles with abs(dz) < 0.1 mm (not removable
  by the vertex association [pu-card]);
* ``nh``: neutral hadrons (and charged hadrons beyond the tracker) - calorimetric E_T;
* ``ph``: photons (and electrons beyond the tracker) - E_T;
* ``pu``: PU charged particles in the tracker with abs(dz) > 0.1 mm;
* ``pu_trk``: the subset of ``pu`` with abs(dz) < 2 mm (seen by the muon tracker
  isolation, which only requires dz < 0.2 cm [mem]).

Muons carry no calorimeter deposit: hard-event muons are counted as charged tracks only.
The object's own truth particle is excluded; electrons and photons also veto a small
cone (PF e/gamma footprint removal, [mem] EGM: 0.015 charged / 0.08 photons in the
endcap).

From the sums: :func:`rel_iso_dbeta` (muons), :func:`rel_iso_rho` (electrons, photons),
:func:`rel_iso_chg` (charged only, ``pfRelIso03_chg``), :func:`mini_rel_iso_parts` (miniIso,
all and charged), :func:`tk_rel_iso`, :func:`puppi_rel_iso` (muon ``puppiIsoId``); and
:func:`count_charged`, the charged particles near an object inside its jet (``jetNDauCharged``).

Example:
    A 40 GeV muon with a 2 GeV pion, a 3 GeV photon and, from a PU vertex 5 mm away, a
    2 GeV pion within dR < 0.4; a K0L far away. The muon (flat index 0) is its own
    ``self_idx``:

    >>> import awkward as ak
    >>> truth = ak.Array([{"particles": [
    ...     {"pdgId": 13, "pt": 40.0, "eta": 0.0, "phi": 0.0, "charge": -1.0},
    ...     {"pdgId": 211, "pt": 2.0, "eta": 0.1, "phi": 0.1, "charge": 1.0},
    ...     {"pdgId": 22, "pt": 3.0, "eta": -0.2, "phi": 0.0, "charge": 0.0},
    ...     {"pdgId": 130, "pt": 5.0, "eta": 1.0, "phi": 2.0, "charge": 0.0},
    ... ]}])
    >>> pu = ak.Array([[{"pdgId": -211, "pt": 2.0, "eta": 0.05, "phi": -0.1, "charge": -1.0, "vz": 5.0}]])
    >>> c = candidates(truth, pu)
    >>> sums = cone_sums(c, evt=np.array([0]), eta=np.array([0.0]), phi=np.array([0.0]),
    ...                  self_idx=np.array([0]), radius=0.4)
    >>> sums  # ch, nh, ph, pu, pu_trk
    array([[2., 0., 3., 2., 0.]])
    >>> rel_iso_dbeta(sums, np.array([40.0]))  # (2 + max(0, 0 + 3 - 0.5 x 2)) / 40
    array([0.1])
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

PARAMS: dict = {
    "pt_min": 0.5,  # GeV, charged isolation candidate threshold [card] (Delphes Isolation PTMin)
    # neutral (photon / neutral hadron) E_T threshold: PF cluster thresholds and ECAL/HCAL noise
    # at Run-2/3 pileup [mem]; with it the PU neutral sum in a 0.3 cone ~ rho x EA [derived]
    "pt_min_neutral": 1.0,
    "eta_tracker": 2.5,  # [card]
    "dz_pv_mm": 0.1,  # charged PU within 0.1 mm is indistinguishable from the PV [pu-card]
    "dz_trk_mm": 2.0,  # muon tracker-isolation dz window (0.2 cm) [mem]
    "dbeta": 0.5,  # delta-beta factor, pfRelIso04_all doc string (notes section 3)
    "mini_r": (10.0, 0.05, 0.2),  # miniIso cone 10/pT clamped to [0.05, 0.2] [mem] (arXiv:1007.2221)
    # electron rho x EA (Fall17 94X, abs(eta) edges) [mem] (cutBasedElectronID-Fall17-94X-V2)
    "ea_electron_edges": (1.0, 1.479, 2.0, 2.2, 2.3, 2.4),
    "ea_electron": (0.1440, 0.1562, 0.1032, 0.0859, 0.1116, 0.1321, 0.1654),
    # muon miniIso EA (Spring15/Fall17 muon EAs) [mem]
    "ea_muon_edges": (0.8, 1.3, 2.0, 2.2),
    "ea_muon": (0.0566, 0.0562, 0.0363, 0.0119, 0.0064),
    # photon total (ch + nh + ph) EA, Fall17 V2 photon ID [mem]
    "ea_photon_edges": (1.0, 1.479, 2.0, 2.2, 2.3, 2.4),
    "ea_photon": (0.19, 0.20, 0.17, 0.16, 0.17, 0.18, 0.20),
    # e/gamma footprint veto cones [mem] (EGM PF isolation, endcap)
    "veto_charged_endcap": 0.015,
    "veto_photon_endcap": 0.08,
    "veto_photon_barrel": 0.02,
    # default rho when none is given: Rho_All = 0.571 nTrueInt + 4.5 [meas] nano_tt_v12 (notes section 1), applied to
    # the number of pileup vertices (the same file fits 0.586 nPU + 3.97 against Pileup_nPU)
    "rho_slope": 0.571,
    "rho_offset": 4.5,
    # PUPPI combined isolation of muons (CMSSW PATMuonProducer::puppiCombinedIsolation: dR < 0.4,
    # mean of the with- and without-lepton PUPPI sums, neutral veto 0.01). Neutral weights [mem]
    # (PUPPI: D. Bertolini et al., JHEP 10 (2014) 059; CMS JINST 15 (2020) P09018): with the lepton
    # among the PV charged particles a neutral within 0.4 of it gets alpha = log((pT/dR)^2) far above
    # the PU median -> weight ~1; without it, hard-event neutrals (next to other PV activity) ~0.9,
    # PU neutrals ~0.1
    "puppi_r": 0.4,
    "puppi_veto_neutral": 0.01,
    "puppi_w_with_lep": 1.0,
    "puppi_w_hard": 0.9,
    "puppi_w_pu": 0.1,
}

CH, NH, PH, PU, PU_TRK = range(5)
_NU = (12, 14, 16)


def _flat(a: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(a)))


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def candidates(truth: ak.Array, pu: ak.Array | None) -> dict:
    """Flat isolation inputs of the hard event (``hard``) and of PU (``pu``).

    Arguments:
        truth: the truth record (only ``particles``: ``pdgId pt eta phi charge`` are read).
        pu: the PU particles (:func:`.pileup.simulate_pileup`; ``vz`` read too), or None.

    Returns:
        ``{"hard": set, "pu": set, "n_pu_vtx": array}``. Each set: ``off`` (event
        offsets), ``eta phi pt`` (pt = E_T for neutrals), ``cat`` (category code ``CH``,
        ``NH``, ``PH``, ``PU``, ``PU_TRK``, see the module doc), ``src`` (flat index in
        ``truth.particles``, -1 for PU); ``n_pu_vtx``: the number of PU vertices per event.
    """
    p = truth.particles
    pmin, etk = PARAMS["pt_min"], PARAMS["eta_tracker"]
    n_h = np.asarray(ak.num(p))
    pid = np.abs(_flat(p.pdgId))
    pt, eta, phi = _flat(p.pt), _flat(p.eta), _flat(p.phi)
    chg = _flat(p.charge) != 0
    trk = chg & (np.abs(eta) < etk)
    cat = np.where(trk, CH, np.where((pid == 22) | (pid == 11), PH, NH))
    nmin = PARAMS["pt_min_neutral"]
    keep = (pt > np.where(cat == CH, pmin, nmin)) & ~np.isin(pid, _NU) & ((pid != 13) | trk)
    evt = np.repeat(np.arange(len(n_h)), n_h)
    sets = {"hard": _set(evt[keep], len(n_h), eta[keep], phi[keep], pt[keep], cat[keep], np.flatnonzero(keep))}
    if pu is None:
        sets["pu"] = _set(np.zeros(0, np.int64), len(n_h), *(np.zeros(0),) * 3, np.zeros(0, np.int64), np.zeros(0, np.int64))
        sets["n_pu_vtx"] = np.zeros(len(n_h))
        return sets
    n_p = np.asarray(ak.num(pu))
    qpt, qeta, qphi, qvz = _flat(pu.pt), _flat(pu.eta), _flat(pu.phi), _flat(pu.vz)
    qpid, qchg = np.abs(_flat(pu.pdgId)), _flat(pu.charge) != 0
    qtrk = qchg & (np.abs(qeta) < etk)
    adz = np.abs(qvz)
    qcat = np.where(
        qtrk,
        np.where(adz < PARAMS["dz_pv_mm"], CH, np.where(adz < PARAMS["dz_trk_mm"], PU_TRK, PU)),
        np.where((qpid == 22) | (qpid == 11), PH, NH),
    )
    qkeep = qpt > np.where((qcat == NH) | (qcat == PH), PARAMS["pt_min_neutral"], pmin)
    qevt = np.repeat(np.arange(len(n_p)), n_p)
    sets["pu"] = _set(qevt[qkeep], len(n_p), qeta[qkeep], qphi[qkeep], qpt[qkeep], qcat[qkeep], np.full(qkeep.sum(), -1))
    # number of PU vertices = distinct vz values per event (for the default rho)
    key = np.unique(qevt * 4000.0 + np.clip(qvz, -1999.0, 1999.0))
    kev = np.floor((key + 2000.0) / 4000.0).astype(np.int64)
    sets["n_pu_vtx"] = np.bincount(kev, minlength=len(n_p)).astype(np.float64)
    return sets


def _set(evt, n_ev, eta, phi, pt, cat, src) -> dict:
    return {
        "off": _offsets(np.bincount(evt, minlength=n_ev)),
        "eta": np.asarray(eta, np.float64),
        "phi": np.asarray(phi, np.float64),
        "pt": np.asarray(pt, np.float64),
        "cat": np.asarray(cat, np.int64),
        "src": np.asarray(src, np.int64),
    }


def default_rho(cands: dict) -> np.ndarray:
    """Rho (GeV) per event from the number of PU vertices ``n``: ``rho_slope n + rho_offset``.

    The [meas] nano_tt_v12 linear fit Rho_All = 0.571 Pileup_nTrueInt + 4.5 (notes section 1),
    used when no rho is given.

    Example:
        >>> default_rho({"n_pu_vtx": np.array([0.0, 30.0])})
        array([ 4.5 , 21.63])
    """
    return PARAMS["rho_slope"] * cands["n_pu_vtx"] + PARAMS["rho_offset"]


@numba.njit(cache=True)
def _cone(o_evt, o_eta, o_phi, o_self, o_r, o_vch, o_vph, off, eta, phi, pt, cat, src, out):  # pragma: no cover
    for i in range(len(o_evt)):
        e = o_evt[i]
        r2 = o_r[i] * o_r[i]
        vch2 = o_vch[i] * o_vch[i]
        vph2 = o_vph[i] * o_vph[i]
        for k in range(off[e], off[e + 1]):
            if o_self[i] >= 0 and src[k] == o_self[i]:
                continue
            deta = eta[k] - o_eta[i]
            if deta * deta >= r2:
                continue
            dphi = phi[k] - o_phi[i]
            if dphi > np.pi:
                dphi -= 2 * np.pi
            elif dphi < -np.pi:
                dphi += 2 * np.pi
            dr2 = deta * deta + dphi * dphi
            if dr2 >= r2:
                continue
            c = cat[k]
            if c == 2:
                if dr2 < vph2:
                    continue
            elif c != 1:
                if dr2 < vch2:
                    continue
            out[i, c] += pt[k]


def cone_sums(
    cands: dict,
    evt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    self_idx: np.ndarray,
    radius: np.ndarray,
    veto_charged: np.ndarray | float = 0.0,
    veto_photon: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Per object, the (n, 5) sums [ch, nh, ph, pu, pu_trk] (GeV) within ``radius``.

    Arguments:
        cands: the isolation inputs (:func:`candidates`).
        evt, eta, phi: event index and direction of each object.
        self_idx: flat index in ``truth.particles`` of the object's own particle (-1: none).
        radius: cone radius per object (or one for all).
        veto_charged, veto_photon: inner veto radii (e/gamma footprint, :func:`egamma_veto`).

    Returns:
        An (n, 5) float64 array; ``pu`` includes ``pu_trk`` (see the module doc).
        Example in the module docstring.
    """
    n = len(evt)
    out = np.zeros((n, 5))
    if n == 0:
        return out
    args = (
        np.asarray(evt, np.int64),
        np.asarray(eta, np.float64),
        np.asarray(phi, np.float64),
        np.asarray(self_idx, np.int64),
        np.broadcast_to(np.asarray(radius, np.float64), (n,)).copy(),
        np.broadcast_to(np.asarray(veto_charged, np.float64), (n,)).copy(),
        np.broadcast_to(np.asarray(veto_photon, np.float64), (n,)).copy(),
    )
    for key in ("hard", "pu"):
        s = cands[key]
        _cone(*args, s["off"], s["eta"], s["phi"], s["pt"], s["cat"], s["src"], out)
    out[:, PU] += out[:, PU_TRK]
    return out


def rel_iso_dbeta(sums: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """(ch + max(0, nh + ph - 0.5 pu)) / pT: muon ``pfRelIso03/04_all`` (notes section 3)."""
    neu = np.maximum(sums[:, NH] + sums[:, PH] - PARAMS["dbeta"] * sums[:, PU], 0.0)
    return (sums[:, CH] + neu) / pt


def effective_area(aeta: np.ndarray, kind: str) -> np.ndarray:
    """Effective area (per unit rho) of ``kind`` in {electron, muon, photon} at abs(eta).

    Example:
        >>> effective_area(np.array([0.5, 1.2, 2.45]), "electron")
        array([0.144 , 0.1562, 0.1654])
    """
    return np.asarray(PARAMS[f"ea_{kind}"])[np.searchsorted(PARAMS[f"ea_{kind}_edges"], aeta, side="right")]


def rel_iso_rho(sums: np.ndarray, pt: np.ndarray, rho: np.ndarray, ea: np.ndarray, scale=1.0) -> np.ndarray:
    """(ch + max(0, nh + ph - rho EA scale)) / pT: electron/photon ``pfRelIso03_all``;
    ``scale`` = (R/0.3)^2 for miniIso."""
    neu = np.maximum(sums[:, NH] + sums[:, PH] - rho * ea * scale, 0.0)
    return (sums[:, CH] + neu) / pt


def mini_radius(pt: np.ndarray) -> np.ndarray:
    """miniIso cone: 10 GeV / pT clamped to [0.05, 0.2].

    Example:
        >>> mini_radius(np.array([20.0, 100.0, 400.0]))
        array([0.2 , 0.1 , 0.05])
    """
    k, lo, hi = PARAMS["mini_r"]
    return np.clip(k / np.maximum(pt, 1e-3), lo, hi)


def mini_rel_iso(
    cands: dict, evt, eta, phi, self_idx, pt, rho, ea, veto_charged=0.0, veto_photon=0.0
) -> np.ndarray:
    """``miniPFRelIso_all``: cone 10/pT in [0.05, 0.2], rho x EA x (R/0.3)^2 correction."""
    return mini_rel_iso_parts(cands, evt, eta, phi, self_idx, pt, rho, ea, veto_charged, veto_photon)[0]


def mini_rel_iso_parts(
    cands: dict, evt, eta, phi, self_idx, pt, rho, ea, veto_charged=0.0, veto_photon=0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(``miniPFRelIso_all``, ``miniPFRelIso_chg``) of muons and electrons from one set of mini-cone sums.

    ``_chg`` is the charged PV part alone (CMSSW ``miniPFIsolation().chargedHadronIso() / pT``: no
    PU correction). Arguments as :func:`mini_rel_iso`.

    Example:
        A 40 GeV muon (mini-cone 0.2) with a 2 GeV pion inside and a photon on the cone's edge:

        >>> import awkward as ak
        >>> truth = ak.Array([{"particles": [
        ...     {"pdgId": 13, "pt": 40.0, "eta": 0.0, "phi": 0.0, "charge": -1.0},
        ...     {"pdgId": 211, "pt": 2.0, "eta": 0.1, "phi": 0.1, "charge": 1.0},
        ...     {"pdgId": 22, "pt": 3.0, "eta": -0.2, "phi": 0.0, "charge": 0.0}]}])
        >>> c = candidates(truth, None)
        >>> one = np.ones(1)
        >>> mini_rel_iso_parts(c, np.array([0]), 0 * one, 0 * one, np.array([0]), 40 * one, 20 * one, 0.05 * one)
        (array([0.05]), array([0.05]))
    """
    r = mini_radius(pt)
    s = cone_sums(cands, evt, eta, phi, self_idx, r, veto_charged, veto_photon)
    return rel_iso_rho(s, pt, rho, ea, (r / 0.3) ** 2), rel_iso_chg(s, pt)


def rel_iso_chg(sums: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Charged-only relative isolation: charged PV pT in the cone / pT (``pfRelIso03_chg``,
    ``miniPFRelIso_chg`` of muons and electrons; NanoAOD ``sumChargedHadronPt / pt``).

    Example:
        >>> rel_iso_chg(np.array([[2.0, 1.0, 3.0, 2.0, 0.0]]), np.array([40.0]))
        array([0.05])
    """
    return sums[:, CH] / pt


@numba.njit(cache=True)
def _count(o_evt, o_eta, o_phi, o_self, o_r, a_eta, a_phi, a_r, pt_min,
           off, eta, phi, pt, cat, src, out):  # pragma: no cover - numba
    for i in range(len(o_evt)):
        e = o_evt[i]
        r2 = o_r[i] * o_r[i]
        ar2 = a_r[i] * a_r[i]
        for k in range(off[e], off[e + 1]):
            if cat[k] != 0 or pt[k] <= pt_min:
                continue
            if o_self[i] >= 0 and src[k] == o_self[i]:
                continue
            deta = eta[k] - o_eta[i]
            dphi = (phi[k] - o_phi[i] + np.pi) % (2 * np.pi) - np.pi
            if deta * deta + dphi * dphi >= r2:
                continue
            deta = eta[k] - a_eta[i]
            dphi = (phi[k] - a_phi[i] + np.pi) % (2 * np.pi) - np.pi
            if deta * deta + dphi * dphi >= ar2:
                continue
            out[i] += 1


def count_charged(
    cands: dict, evt: np.ndarray, eta: np.ndarray, phi: np.ndarray, self_idx: np.ndarray, radius: float,
    pt_min: float, axis_eta: np.ndarray, axis_phi: np.ndarray, axis_radius: float,
) -> np.ndarray:
    """Number of charged PV candidates (category ``CH``) with pT > ``pt_min`` within ``radius`` of
    each object and within ``axis_radius`` of a second axis (its jet), the object's own particle
    excluded: the charged jet daughters near a lepton (``jetNDauCharged``, :mod:`.leptons`).

    Example:
        The muon of the module example with its jet along (0.05, 0.05): the 2 GeV pion counts, the
        PU pion (charged PU, not from the PV) does not:

        >>> import awkward as ak
        >>> truth = ak.Array([{"particles": [
        ...     {"pdgId": 13, "pt": 40.0, "eta": 0.0, "phi": 0.0, "charge": -1.0},
        ...     {"pdgId": 211, "pt": 2.0, "eta": 0.1, "phi": 0.1, "charge": 1.0}]}])
        >>> pu = ak.Array([[{"pdgId": -211, "pt": 2.0, "eta": 0.05, "phi": -0.1, "charge": -1.0, "vz": 5.0}]])
        >>> z = np.zeros(1)
        >>> count_charged(candidates(truth, pu), np.array([0]), z, z, np.array([0]), 0.4, 1.0, z + 0.05, z + 0.05, 0.4)
        array([1])
    """
    n = len(evt)
    out = np.zeros(n, np.int64)
    if n == 0:
        return out
    f = np.float64
    args = (
        np.asarray(evt, np.int64), np.asarray(eta, f), np.asarray(phi, f), np.asarray(self_idx, np.int64),
        np.full(n, radius, f), np.asarray(axis_eta, f), np.asarray(axis_phi, f), np.full(n, axis_radius, f), float(pt_min),
    )
    for key in ("hard", "pu"):
        s = cands[key]
        _count(*args, s["off"], s["eta"], s["phi"], s["pt"], s["cat"], s["src"], out)
    return out


def puppi_rel_iso(cands: dict, evt: np.ndarray, eta: np.ndarray, phi: np.ndarray, self_idx: np.ndarray,
                  pt: np.ndarray) -> np.ndarray:
    """PUPPI combined relative isolation of muons (``puppiIsoId``), dR < 0.4.

    CMSSW ``PATMuonProducer::puppiCombinedIsolation``: the mean of two PUPPI-weighted sums,
    one with PUPPI weights computed with the lepton among the charged PV particles and one
    without. Charged PV candidates have weight 1, charged PU 0 (both versions). Neutrals:
    with the lepton, those in its cone carry a large PUPPI alpha and weight
    ``PARAMS["puppi_w_with_lep"]``; without it, neutrals of the hard event weigh
    ``puppi_w_hard`` and PU neutrals ``puppi_w_pu``. CMSSW vetoes neutrals within 0.01 (here
    photons only, the e/gamma footprint veto of :func:`cone_sums`).

    Example:
        The module example's muon: (2 + 0.5 x 3 + 0.5 x 0.9 x 3) / 40 (the photon is from the hard event):

        >>> import awkward as ak
        >>> truth = ak.Array([{"particles": [
        ...     {"pdgId": 13, "pt": 40.0, "eta": 0.0, "phi": 0.0, "charge": -1.0},
        ...     {"pdgId": 211, "pt": 2.0, "eta": 0.1, "phi": 0.1, "charge": 1.0},
        ...     {"pdgId": 22, "pt": 3.0, "eta": -0.2, "phi": 0.0, "charge": 0.0}]}])
        >>> z = np.zeros(1)
        >>> puppi_rel_iso(candidates(truth, None), np.array([0]), z, z, np.array([0]), np.array([40.0])).round(5)
        array([0.12125])
    """
    r, v = PARAMS["puppi_r"], PARAMS["puppi_veto_neutral"]
    s_all = cone_sums(cands, evt, eta, phi, self_idx, r, 0.0, v)
    hard_only = {"hard": cands["hard"], "pu": _empty(len(cands["hard"]["off"]) - 1)}
    s_hard = cone_sums(hard_only, evt, eta, phi, self_idx, r, 0.0, v)
    neu_all = s_all[:, NH] + s_all[:, PH]
    neu_hard = s_hard[:, NH] + s_hard[:, PH]
    with_lep = s_all[:, CH] + PARAMS["puppi_w_with_lep"] * neu_all
    no_lep = s_all[:, CH] + PARAMS["puppi_w_hard"] * neu_hard + PARAMS["puppi_w_pu"] * (neu_all - neu_hard)
    return 0.5 * (with_lep + no_lep) / pt


def _empty(n_ev: int) -> dict:
    z = np.zeros(0)
    return _set(np.zeros(0, np.int64), n_ev, z, z, z, np.zeros(0, np.int64), np.zeros(0, np.int64))


def tk_rel_iso(sums03: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Muon ``tkRelIso``: tracks in dR < 0.3 within dz < 0.2 cm of the muon, over pT."""
    return (sums03[:, CH] + sums03[:, PU_TRK]) / pt


def egamma_veto(aeta: np.ndarray, photon: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(charged, photon) footprint veto radii for electrons / photons at abs(eta)."""
    ee = aeta > 1.479
    vch = np.where(ee, PARAMS["veto_charged_endcap"], 0.0)
    vph = np.where(ee, PARAMS["veto_photon_endcap"], PARAMS["veto_photon_barrel"])
    return vch, vph
