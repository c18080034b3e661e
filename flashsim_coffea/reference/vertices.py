"""Secondary vertices of the reference detector (NanoAOD ``SV``, IVF) and their links.

:func:`reconstruct_svs` builds NanoAOD's ``SV`` collection (``slimmedSecondaryVertices``, the
inclusive vertex finder IVF, CMS-BTV-16-002 section 4) from the truth record and adds the v12
links ``Jet_svIdx1``, ``Jet_svIdx2``, ``Jet_nSVs``, ``Muon_svIdx``, ``Electron_svIdx``:

1. Tracks: charged final-state particles with pT > 0.8 GeV and abs(eta) < 2.5 (IVF track
   selection), each kept with the tracking efficiency. A track's production vertex is the
   generator's (Pythia ``xProd/yProd/zProd``: the true decay point of the B/C hadron or tau it
   comes from, the hard vertex at the origin). Tracks sharing a displaced production point make
   one true decay vertex. K0S and Lambda are left undecayed by the generator (``tau0Max`` = 10 mm)
   and are treated as V0s the SV collection does not keep: no V0 vertex is made (see the
   differences below).
2. Fake vertices: in each jet, with a probability growing with its number of prompt tracks, two
   or three of them (PV tracks) are fitted into a vertex at a small flight distance along the jet.
3. Merging: decay vertices of one cascade (B -> D) closer than the IVF clustering distance
   (500 um) are fitted as one vertex; further apart they stay two (when each has two tracks).
4. Fit: position = true vertex (track-weighted) + Gaussian error with the covariance of a
   vertex fit: transverse to the flight direction ``1/sqrt(sum 1/sigma_IP^2)`` of its tracks
   (CMS-TRK-11-001 impact-parameter resolution), along it that divided by the tracks' RMS opening
   angle; the PV error is added. ``ndof = 2 sum(w) - 3`` with adaptive-fitter weights w,
   ``chi2`` = chi2/ndof drawn for that ndof. Kinematics: sum of the tracks with the pion mass
   (electrons and muons with theirs), as PF candidates carry.
5. Selection as in CMSSW: at least two tracks; a seed track with 3D IP >= 50 um and IP
   significance >= 1.2; 2D flight significance >= 2.5 and cos(p, flight) >= 0.95 (IVF
   ``inclusiveCandidateVertexFinder``); 3D significance ``dlenSig`` > 3 (NanoAOD ``vertexTable``);
   a vertex-finding efficiency per vertex (clustering, fit and arbitration losses).
   So the efficiency depends on flight distance (significance), track multiplicity and pT.

Written pT-descending (NanoAOD keeps the IVF order; pT order makes the flash side simpler).
Links as NanoAOD's ``PATObjectCrossLinker`` fills them (``matchOneToVertices`` /
``matchVertexToMany``), with the jet-constituent test replaced by dR(SV, jet axis) < 0.4:
``Jet_nSVs`` = number of SVs within dR < 0.4 of the jet (an SV may belong to two jets),
``Jet_svIdx1/2`` the first two of them in SV order (-1 if fewer); ``Muon_svIdx`` /
``Electron_svIdx`` = the SV whose tracks include the lepton's (gen-matched) track, else -1.
Unlike real v12 files (where the links index the vertex collection before the ``dlenSig`` > 3
cut of the SV table), every link here points into the written ``SV`` collection.

Differences from CMS, known: ``slimmedSecondaryVertices`` has no K0S mass veto (that is in the
b-tagging SV filter), so real files hold some V0 and material-interaction vertices (the SVs of
``nano_dy.root`` are mostly soft, 0.4-0.6 GeV masses); here the light-jet SV rate (fakes, V0s,
material) is the one fake rate of step 2 (fakes only inside jets). NanoAOD's reduced
float precision is not applied.

Example:
    The SVs of two ttbar events (pT-ordered, with their track counts) and the links of a hand-made jet:

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("ttbar", n=2, seed=3))
    >>> jet = ak.Array([[{"pt": 50.0, "eta": 0.0, "phi": 0.0}], []])
    >>> pv = (np.zeros(2, np.float32), np.zeros(2, np.float32), np.zeros(2, np.float32))
    >>> sv, jet2, _, _ = reconstruct_svs(truth, jet, None, None, pv, np.random.default_rng(1))
    >>> sv.fields  # doctest: +NORMALIZE_WHITESPACE
    ['pt', 'eta', 'phi', 'mass', 'x', 'y', 'z', 'dlen', 'dlenSig', 'dxy', 'dxySig', 'pAngle', 'chi2', 'ndof',
     'ntracks', 'charge']
    >>> ak.num(sv).tolist(), sv.ntracks.tolist()
    ([3, 1], [[3, 4, 2], [4]])
    >>> bool(ak.all(sv.dlen >= sv.dxy)), jet2.fields[-3:]
    (True, ['svIdx1', 'svIdx2', 'nSVs'])

References:
    CMS, "Identification of heavy-flavour jets with the CMS detector in pp collisions at 13 TeV",
    JINST 13 (2018) P05011, arXiv:1712.07158 (CMS-BTV-16-002), section 4.2 (IVF).
    CMS, "Description and performance of track and primary-vertex reconstruction with the CMS
    tracker", JINST 9 (2014) P10009, arXiv:1405.6569 (CMS-TRK-11-001).
    CMSSW ``RecoVertex/AdaptiveVertexFinder/python/inclusiveCandidateVertexFinder_cfi.py``,
    ``inclusiveVertexing_cff.py``; ``PhysicsTools/NanoAOD/python/vertices_cff.py``,
    ``plugins/VertexTableProducer.cc`` (``pAngle`` = acos of p_SV . (PV - SV): near pi),
    ``plugins/PATObjectCrossLinker.cc`` (the links).
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod import schema, sv_links

PARAMS: dict = {
    # IVF track selection [code: inclusiveCandidateVertexFinder_cfi minPt 0.8]; tracker acceptance [card]
    "track_pt_min": 0.8,
    "track_eta_max": 2.5,
    # tracking efficiency of charged hadrons in jets [mem] CMS-TRK-11-001 (~ 90-95 % above 1 GeV)
    "track_eff": 0.93,
    # per-track impact-parameter resolution sigma = a (+) b / pT, cm [mem] CMS-TRK-11-001 Fig. 14-15
    # (barrel transverse IP: ~ 90 um at 1 GeV, ~ 25 um at 10 GeV, ~ 20 um at high pT)
    "ip_a_cm": 0.0020,
    "ip_b_cm": 0.0085,
    # primary-vertex position error (x, y, z), cm [mem] CMS-TRK-11-001 (~ 10-15 um for ttbar-like PVs)
    "pv_err_cm": (0.0012, 0.0012, 0.0015),
    # floor of the RMS opening angle in sigma_along = sigma_perp / angle [design]
    "min_open_angle": 0.02,
    # production points closer than this (mm) are one vertex (strong/EM decays of resonances) [design]
    "vertex_grid_mm": 1.0e-4,
    # IVF seeding [code: seedMin3DIPValue 0.005 cm, seedMin3DIPSignificance 1.2]
    "seed_ip_cm": 0.005,
    "seed_ip_sig": 1.2,
    # IVF vertex cuts [code: vertexMinDLen2DSig 2.5, vertexMinAngleCosine 0.95]
    "min_dxy_sig": 2.5,
    "min_cos_angle": 0.95,
    # NanoAOD SV table [code: vertices_cff dlenSigMin 3]
    "min_dlen_sig": 3.0,
    # decay vertices of one cascade (B -> D) closer than the IVF clustering distance are fitted as one
    # [code: inclusiveCandidateVertexFinder clusterMaxDistance 0.05 cm]; further apart they stay two (the
    # IVF merger only drops vertices sharing > 20 % of their tracks [code: VertexMerger.cc]); merged only
    # when their momenta are within dR < 0.4 (one jet) [design]
    "merge_dist_cm": 0.05,
    "merge_dr": 0.4,
    # vertex-finding efficiency (clustering, fit, arbitration) for 2 / >=3 tracks [design, tuned to
    # BTV-16-002: SV in ~ 2/3 of b jets and ~ 1/3 of c jets of 30-100 GeV in ttbar]
    "find_eff": (0.70, 0.90),
    # fake vertices from PV tracks: per jet with n >= 2 prompt tracks, probability
    # p = p_max (1 - exp(-n / n0)) [design, tuned to a few % of light jets with an SV, BTV-16-002]
    "fake_p_max": 0.30,
    "fake_n0": 10.0,
    "fake_three_track": 0.3,  # fraction of fakes with three tracks [design]
    "fake_flight_cm": 0.08,  # mean flight distance of a fake vertex (exponential) [design]
    # adaptive-fitter track weights w = 1 - Exp(mean) [meas] nano_dy SV_ndof ~ 0.8-0.94 for 2 tracks
    "weight_loss": 0.03,
    "dr_link": 0.4,  # jet-SV link radius (AK4 R) [design]
}

_M_PI = 0.13957  # GeV [PDG]
_M_E = 0.000511
_M_MU = 0.10566


def _ip_sigma(pt: np.ndarray) -> np.ndarray:
    """Per-track 3D impact-parameter resolution (cm) at transverse momentum ``pt`` (GeV)."""
    return np.hypot(PARAMS["ip_a_cm"], PARAMS["ip_b_cm"] / np.maximum(pt, 0.1))


@numba.njit(cache=True)
def _fakes(joff, jeta, jphi, toff, teta, tphi, prompt, u_jet, u_k, u_pick, p_max, n0, p3):  # pragma: no cover
    """Per track: the index of the jet whose fake vertex takes it (-1 = none)."""
    owner = np.full(teta.shape[0], -1, np.int64)
    pick = 0
    for e in range(joff.shape[0] - 1):
        for j in range(joff[e], joff[e + 1]):
            cand = []
            for t in range(toff[e], toff[e + 1]):
                if not prompt[t] or owner[t] >= 0:
                    continue
                dphi = (tphi[t] - jphi[j] + np.pi) % (2 * np.pi) - np.pi
                if (teta[t] - jeta[j]) ** 2 + dphi**2 < 0.16:
                    cand.append(t)
            n = len(cand)
            if n < 2 or u_jet[j] >= p_max * (1.0 - np.exp(-n / n0)):
                continue
            k = 3 if (u_k[j] < p3 and n >= 3) else 2
            for _ in range(k):  # draw k distinct tracks
                i = int(u_pick[pick % u_pick.shape[0]] * len(cand))
                pick += 1
                owner[cand[i]] = j
                cand.pop(i)
    return owner


@numba.njit(cache=True)
def _merge(goff, pos, geta, gphi, max_dist, max_dr):  # pragma: no cover
    """Union-find label of each group: groups of one event within ``max_dist`` (cm) and ``max_dr`` merge."""
    n = pos.shape[0]
    root = np.arange(n)
    for e in range(goff.shape[0] - 1):
        for i in range(goff[e], goff[e + 1]):
            for j in range(i + 1, goff[e + 1]):
                dphi = (gphi[i] - gphi[j] + np.pi) % (2 * np.pi) - np.pi
                if (geta[i] - geta[j]) ** 2 + dphi**2 > max_dr**2:
                    continue
                d = np.sqrt(((pos[i] - pos[j]) ** 2).sum())
                if d > max_dist:
                    continue
                a, b = i, j
                while root[a] != a:
                    a = root[a]
                while root[b] != b:
                    b = root[b]
                if a != b:
                    root[max(a, b)] = min(a, b)
    for i in range(n):
        r = i
        while root[r] != r:
            r = root[r]
        root[i] = r
    return root


def _kin(px, py, pz):
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    return pt, eta, np.arctan2(py, px)


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _group_sums(label: np.ndarray, size: int, **cols: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.bincount(label, weights=v, minlength=size) for k, v in cols.items()}


def reconstruct_svs(
    truth: ak.Array,
    jets: ak.Array,
    muons: ak.Array | None,
    electrons: ak.Array | None,
    pv: tuple[np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> tuple[ak.Array, ak.Array, ak.Array | None, ak.Array | None]:
    """The ``SV`` collection and the jets / muons / electrons with their SV links.

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        jets: the final (pT-ordered) reco jets: ``pt eta phi`` at least.
        muons, electrons: the final leptons with ``genPartIdx`` (or None).
        pv: ``PV_x, PV_y, PV_z`` per event (cm).
        rng: the stage's random generator.

    Returns:
        ``(sv, jets, muons, electrons)``: ``SV`` cast to the v12 schema; the jets with
        ``svIdx1 svIdx2 nSVs`` (schema order), the leptons with ``svIdx`` (None stays None).

    Raises:
        ValueError: naming the PV or Jet array whose length differs from the truth's.
    """
    P = PARAMS
    n_ev = len(truth)
    for name, a in zip(("PV_x", "PV_y", "PV_z"), pv):
        if len(a) != n_ev:
            raise ValueError(f"reconstruct_svs: {name} has {len(a)} entries for {n_ev} events")
    if len(jets) != n_ev:
        raise ValueError(f"reconstruct_svs: Jet has {len(jets)} entries for {n_ev} events")
    p = truth.particles
    counts = np.asarray(ak.num(p), dtype=np.int64)
    evt_all = np.repeat(np.arange(n_ev), counts)
    f = {k: np.asarray(ak.to_numpy(ak.flatten(p[k]))) for k in
         ("pt", "eta", "phi", "px", "py", "pz", "pdgId", "charge", "vx", "vy", "vz", "genPartIdx")}
    n_all = len(f["pt"])
    u_trk = rng.random(n_all)
    sel = (f["charge"] != 0) & (f["pt"] > P["track_pt_min"]) & (np.abs(f["eta"]) < P["track_eta_max"])
    sel &= u_trk < P["track_eff"]
    ti = np.flatnonzero(sel)  # track -> particle (flat)
    t = {k: v[ti] for k, v in f.items()}
    tevt = evt_all[ti]
    absid = np.abs(t["pdgId"])
    mass = np.where(absid == 11, _M_E, np.where(absid == 13, _M_MU, _M_PI))
    energy = np.sqrt(t["px"] ** 2 + t["py"] ** 2 + t["pz"] ** 2 + mass**2)
    vtx = np.stack([t["vx"], t["vy"], t["vz"]], axis=1) * 0.1  # mm -> cm
    grid = np.round(np.stack([t["vx"], t["vy"], t["vz"]], axis=1) / P["vertex_grid_mm"]).astype(np.int64)
    displaced = np.any(grid != 0, axis=1)

    # ---- fake vertices from prompt tracks inside jets
    jcount = np.asarray(ak.num(jets), dtype=np.int64)
    n_j = int(jcount.sum())
    jeta = np.asarray(ak.to_numpy(ak.flatten(jets.eta)), np.float64)
    jphi = np.asarray(ak.to_numpy(ak.flatten(jets.phi)), np.float64)
    toff = _offsets(np.bincount(tevt, minlength=n_ev))
    owner = _fakes(_offsets(jcount), jeta, jphi, toff, t["eta"], t["phi"], ~displaced, rng.random(n_j),
                   rng.random(n_j), rng.random(max(3 * n_j, 1)), P["fake_p_max"], P["fake_n0"], P["fake_three_track"])
    fake = owner >= 0
    if fake.any():
        # the fake vertex sits along the summed momentum of its tracks, exponential flight distance
        o = owner[fake]
        sx = np.bincount(o, weights=t["px"][fake], minlength=n_j)
        sy = np.bincount(o, weights=t["py"][fake], minlength=n_j)
        sz = np.bincount(o, weights=t["pz"][fake], minlength=n_j)
        norm = np.sqrt(sx**2 + sy**2 + sz**2) + 1e-12
        flight = rng.exponential(P["fake_flight_cm"], n_j)
        vtx[fake] = (np.stack([sx, sy, sz], axis=1) * (flight / norm)[:, None])[o]
        grid[fake] = 0
        grid[fake, 0] = -1 - o  # a key no true vertex has (true keys are rounded positions)
        grid[fake, 1] = np.iinfo(np.int64).min
    in_vertex = displaced | fake

    # ---- true decay vertices: tracks sharing a production point (per event)
    vi = np.flatnonzero(in_vertex)
    key = np.column_stack([tevt[vi], grid[vi]])
    _, group_of = np.unique(key, axis=0, return_inverse=True)
    group_of = group_of.ravel()
    n_g = int(group_of.max()) + 1 if len(vi) else 0
    sig_t = _ip_sigma(t["pt"][vi])
    w_t = 1.0 / sig_t**2
    s = _group_sums(group_of, n_g, px=t["px"][vi], py=t["py"][vi], pz=t["pz"][vi])
    gpos = np.zeros((n_g, 3))
    gpos[group_of] = vtx[vi]
    gevt = np.zeros(n_g, np.int64)  # non-decreasing: np.unique sorts the keys by event first
    gevt[group_of] = tevt[vi]
    _, geta, gphi = _kin(s["px"], s["py"], s["pz"])
    tp = np.sqrt(t["px"][vi] ** 2 + t["py"][vi] ** 2 + t["pz"][vi] ** 2)
    root = _merge(_offsets(np.bincount(gevt, minlength=n_ev)), gpos, geta, gphi, P["merge_dist_cm"], P["merge_dr"])
    _, vlabel = np.unique(root, return_inverse=True)
    vlabel = vlabel.ravel()
    n_v = int(vlabel.max()) + 1 if n_g else 0
    tlab = vlabel[group_of]  # track (of vi) -> vertex

    # ---- merged vertices: kinematics, covariance, smeared position
    q = _group_sums(tlab, n_v, px=t["px"][vi], py=t["py"][vi], pz=t["pz"][vi], e=energy[vi], w=w_t,
                    n=np.ones(len(vi)), charge=t["charge"][vi].astype(np.float64),
                    x=w_t * vtx[vi, 0], y=w_t * vtx[vi, 1], z=w_t * vtx[vi, 2])
    vevt = np.zeros(n_v, np.int64)
    vevt[tlab] = tevt[vi]
    true_d = np.stack([q["x"], q["y"], q["z"]], axis=1) / np.maximum(q["w"], 1e-12)[:, None]
    vp = np.sqrt(q["px"] ** 2 + q["py"] ** 2 + q["pz"] ** 2) + 1e-12
    uhat = np.stack([q["px"], q["py"], q["pz"]], axis=1) / vp[:, None]
    cos_v = (t["px"][vi] * q["px"][tlab] + t["py"][vi] * q["py"][tlab] + t["pz"][vi] * q["pz"][tlab]) / (tp * vp[tlab])
    vsin2 = np.bincount(tlab, weights=1 - np.clip(cos_v, -1, 1) ** 2, minlength=n_v) / np.maximum(q["n"], 1)
    sp = 1.0 / np.sqrt(np.maximum(q["w"], 1e-12))
    sa = sp / np.maximum(np.sqrt(vsin2), P["min_open_angle"])
    g = rng.standard_normal((n_v, 3))
    delta = sp[:, None] * g + ((sa - sp) * np.einsum("ij,ij->i", uhat, g))[:, None] * uhat
    pv_err = np.asarray(P["pv_err_cm"])
    delta += rng.standard_normal((n_v, 3)) * pv_err
    d = true_d + delta  # SV - PV (cm)

    def _cov_proj(vec: np.ndarray) -> np.ndarray:
        """Variance of the distance along ``vec``: vec^T (C_sv + C_pv) vec / |vec|^2."""
        nrm2 = np.einsum("ij,ij->i", vec, vec) + 1e-30
        along = np.einsum("ij,ij->i", vec, uhat) ** 2 / nrm2
        return sp**2 + (sa**2 - sp**2) * along + np.einsum("ij,j->i", vec**2, pv_err**2) / nrm2

    dlen = np.sqrt(np.einsum("ij,ij->i", d, d))
    dlen_err = np.sqrt(_cov_proj(d))
    d2 = d.copy()
    d2[:, 2] = 0.0
    dxy = np.hypot(d[:, 0], d[:, 1])
    dxy_err = np.sqrt(_cov_proj(d2))
    cos_pd = np.einsum("ij,ij->i", uhat, d) / np.maximum(dlen, 1e-30)

    # ---- selection: seed track, IVF cuts, NanoAOD dlenSig, finding efficiency
    r = vtx[vi]
    tdir = np.stack([t["px"][vi], t["py"][vi], t["pz"][vi]], axis=1) / tp[:, None]
    ip_true = np.linalg.norm(np.cross(r, tdir), axis=1)
    ip = np.abs(ip_true + sig_t * rng.standard_normal(len(vi)))
    seed = (ip >= P["seed_ip_cm"]) & (ip / sig_t >= P["seed_ip_sig"])
    has_seed = np.bincount(tlab, weights=seed.astype(np.float64), minlength=n_v) > 0
    ntrk = q["n"].astype(np.int64)
    eff = np.where(ntrk >= 3, P["find_eff"][1], P["find_eff"][0])
    keep = (
        (ntrk >= 2)
        & has_seed
        & (dxy / dxy_err >= P["min_dxy_sig"])
        & (cos_pd >= P["min_cos_angle"])
        & (dlen / dlen_err > P["min_dlen_sig"])
        & (rng.random(n_v) < eff)
    )

    # ---- fit quality: ndof = 2 sum(w) - 3, chi2 / ndof
    wfit = 1.0 - np.minimum(rng.exponential(P["weight_loss"], len(vi)), 0.5)
    ndof = 2.0 * np.bincount(tlab, weights=wfit, minlength=n_v) - 3.0
    chi2 = rng.chisquare(np.maximum(ndof, 0.05), n_v) / np.maximum(ndof, 0.05)

    pt, eta, phi = _kin(q["px"], q["py"], q["pz"])
    m = np.sqrt(np.maximum(q["e"] ** 2 - vp**2, 0.0))
    k = np.flatnonzero(keep)
    k = k[np.lexsort((-pt[k], vevt[k]))]  # per event, pT-descending
    kcount = np.bincount(vevt[k], minlength=n_ev)
    pvx, pvy, pvz = (np.asarray(a, np.float64) for a in pv)
    cols = {
        "pt": pt[k],
        "eta": eta[k],
        "phi": phi[k],
        "mass": m[k],
        "x": pvx[vevt[k]] + d[k, 0],
        "y": pvy[vevt[k]] + d[k, 1],
        "z": pvz[vevt[k]] + d[k, 2],
        "dlen": dlen[k],
        "dlenSig": dlen[k] / dlen_err[k],
        "dxy": dxy[k],
        "dxySig": dxy[k] / dxy_err[k],
        "pAngle": np.arccos(np.clip(-cos_pd[k], -1.0, 1.0)),  # acos(p . (PV - SV)) as VertexTableProducer
        "chi2": chi2[k],
        "ndof": ndof[k],
        "ntracks": ntrk[k],
        "charge": np.rint(q["charge"][k]).astype(np.int64),
    }
    sv = schema.cast("SV", ak.unflatten(ak.zip(cols, depth_limit=1), kcount))

    # ---- links
    local = np.full(n_v, -1, np.int64)
    local[k] = np.arange(len(k)) - _offsets(kcount)[vevt[k]]
    jets = _jet_links(jets, sv)
    # particle (event, genPartIdx) -> SV index of the track it made
    t_sv = local[tlab]
    gpi = t["genPartIdx"][vi]
    ok = (t_sv >= 0) & (gpi >= 0)
    table = np.stack([tevt[vi][ok], gpi[ok], t_sv[ok]], axis=1)
    muons = None if muons is None else _lepton_link("Muon", muons, table)
    electrons = None if electrons is None else _lepton_link("Electron", electrons, table)
    return sv, jets, muons, electrons


def _jet_links(jets: ak.Array, sv: ak.Array) -> ak.Array:
    """``svIdx1 svIdx2 nSVs``: the SVs within ``dr_link`` of each jet, in SV order (:mod:`.sv_links`)."""
    cols = {f: jets[f] for f in jets.fields if f not in sv_links.JET_FIELDS}
    cols.update(sv_links.jet_fields(jets, sv, PARAMS["dr_link"]))
    ordered = {f: cols[f] for f in schema.SCHEMA["Jet"] if f in cols}
    ordered.update({f: v for f, v in cols.items() if f not in ordered})
    return schema.cast("Jet", ak.zip(ordered))


def _lepton_link(name: str, leptons: ak.Array, table: np.ndarray) -> ak.Array:
    """``svIdx`` of each lepton: the SV holding the track of its gen particle (``table`` rows:
    event, genPartIdx, SV index), else -1."""
    n = np.asarray(ak.num(leptons), dtype=np.int64)
    evt = np.repeat(np.arange(len(n)), n)
    gpi = np.asarray(ak.to_numpy(ak.flatten(leptons.genPartIdx)), np.int64)
    idx = sv_links.lepton_index(evt, gpi, table)
    cols = {f: leptons[f] for f in leptons.fields if f != "svIdx"}
    cols["svIdx"] = ak.unflatten(idx, n)
    ordered = {f: cols[f] for f in schema.SCHEMA[name] if f in cols}  # schema order, as the other stages
    ordered.update({f: v for f, v in cols.items() if f not in ordered})
    return schema.cast(name, ak.zip(ordered))
