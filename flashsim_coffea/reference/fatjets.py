"""AK8 PUPPI-like fat jets of the reference detector (NanoAOD ``FatJet`` and ``SubJet``).

:func:`reconstruct_fatjets`, on the PF candidates the AK4 stage built (:mod:`.pflow`, with pileup):

1. **PUPPI-like** inputs (v12 AK8 jets are PUPPI): charged candidates keep their vertex association
   (weight 1 from the PV, 0 for CHS-removed PU tracks, as PUPPI does for charged particles); neutral
   candidates whose energy is mostly from the hard event get weight 1, PU-dominated neutrals
   ``w = pT^2 / (pT^2 + puppi_pt0^2)``. PUPPI's local-shape metric is not computed: its outcome (most
   soft neutral PU removed, hard neutrals kept) is emulated from the detector's hidden ``hardFrac``
   (Bertolini et al., arXiv:1407.6013; CMS, JINST 15 (2020) P09018, arXiv:2003.00503).
2. Anti-kT R = 0.8 (:func:`.jetalgo.cluster`) on the weighted candidates; raw jet = constituent sum x
   the AK4 stage's per-jet detector factor (:data:`.jets.JER_X`); JEC = the AK4 MC-truth L2L3
   response (:func:`.jets.l2l3_response`), no L1 (CMS PUPPI jets have none). ``rawFactor = 1 - raw/corr``.
   Written: corrected pT > 170 GeV (slimmedJetsAK8), pT-descending.
3. **Soft drop** (beta = 0, z_cut = 0.1; Larkoski, Marzani, Soyez, Thaler, arXiv:1402.2657) on a C/A
   reclustering of the constituents (numba kernel :func:`_substructure`): the two subjets, each calibrated
   with the L2L3 response, make ``msoftdrop`` (v12: "corrected soft drop mass with PUPPI") and ``SubJet``.
   As in MiniAOD, jets below ``sd_raw_ptmin`` raw pT have no soft-drop jet (msoftdrop -1, subjets -1,
   n2b1 = n3b1 = -99968, the stored -1e5) [meas nano_tt_v12: exact at raw pT 170].
4. **N-subjettiness** ``tau1..tau4`` (Thaler, Van Tilburg, arXiv:1011.2268, 1108.2701): beta = 1, R0 = 0.8,
   normalised measure, exclusive-kT axes minimised in one pass (Weiszfeld steps), on the ungroomed constituents.
   **Energy-correlation ratios** ``n2b1 = 2e3/(1e2)^2``, ``n3b1 = 2e4/(1e3)^2`` (Moult, Necib, Thaler,
   arXiv:1609.07483) on the groomed constituents; -1 below 3 (4) constituents, ``n3b1`` -1 below
   ``n3_raw_ptmin`` raw pT [meas].
5. Truth content (:mod:`flashsim_coffea.nanoaod.jet_truth`): B/C hadrons within R (nearest jet, anti-kT
   metric: the ghost association approximated), the W/Z/H/top whose decay quarks (or taus) all fall inside dR < 0.8.
   Tagger scores (:func:`tagger_scores`) are drawn from it, ``lsf3``/``muonIdx3SJ``/``electronIdx3SJ``
   from the final leptons, ``genJetAK8Idx`` (closest GenJetAK8 within R/2).

Example:
    The C/A + soft-drop + N-subjettiness kernel on a toy "W jet": two hard prongs 0.4 apart and a
    soft wide-angle particle that soft drop grooms away:

    >>> pt = np.array([150.0, 100.0, 3.0])
    >>> eta, phi = np.array([0.0, 0.4, -0.5]), np.array([0.0, 0.0, 0.5])
    >>> c = _p4(pt, eta, phi)
    >>> out = _substructure(np.array([0, 3]), *c, 0.1, 0.8, 40, 2.0)
    >>> round(float(_mass(out[0][0])), 1), out[1][0].tolist()  # groomed mass, has two subjets
    (49.3, True)
    >>> [round(float(t), 3) for t in out[4][0]]  # tau1..tau4: two prongs, tau2 << tau1
    [0.208, 0.01, 0.0, 0.0]
"""

from __future__ import annotations

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.nanoaod.jet_truth import CATEGORIES, delta_r, jet_truth, lepton_in_jet
from flashsim_coffea.reference import btag, jetalgo, jets, pflow

PARAMS: dict = {
    "R": 0.8,  # AK8 [CMS]
    "cluster_ptmin": 100.0,  # GeV, weighted constituent sum, before JEC (well below 170 corrected) [design]
    "ptmin": 170.0,  # NanoAOD FatJet pt > 170 (slimmedJetsAK8) [meas nano_tt_v12 min 170.4]
    "eta_max": 4.7,  # no explicit cut in MiniAOD; [meas] abs(eta) up to 3.1 in nano_tt_v12
    # PUPPI-like weight of PU-dominated neutral candidates, pT^2 / (pT^2 + pt0^2): PUPPI keeps little of the
    # soft neutral PU (arXiv:2003.00503, Fig. 4: neutral PU pT mostly removed below a few GeV) [design]
    "puppi_pt0": 3.0,
    "puppi_wmin": 0.05,  # candidates with a lower weight are dropped (PUPPI's weight cut) [design]
    "area_jitter": 0.03,  # as AK4 [design]; [meas] nano_tt_v12 median area 2.025 = 1.007 pi 0.8^2
    "sd_zcut": 0.1,  # soft drop z_cut, beta = 0 [CMS, JME-18-002 / arXiv:2004.08262]
    "sd_raw_ptmin": 170.0,  # soft-drop jets (and subjets) exist above this raw pT [meas nano_tt_v12]
    "tau_R0": 0.8,  # NjettinessAK8Puppi R0 [code: CMSSW RecoJets/JetProducers/python/nJettinessAdder_cfi.py]
    # generalized ECFs on at most the hardest ecf_max groomed constituents (O(n^4) for e4: the cost) [design]
    "ecf_max": 30,
    "n3_raw_ptmin": 250.0,  # n3b1 computed above 250 GeV raw pT [meas nano_tt_v12: -1 below, exact]
    "genjet_dr": 0.4,  # R/2 [NanoAOD / PAT jet-genjet matching]
    "truth_dr": 0.8,  # decay products "inside" the jet [CMS JME-18-002 merged-jet definition]
    "lep_dr": 0.8,  # leptons considered for lsf3 [code: LeptonInJetProducer, jet constituents]
    # PNet (particleNet_*, massCorr) runs above 180 GeV raw pT, abs(eta) < 2.4; else -10 (massCorr 0)
    # [meas nano_tt_v12: raw pT 179.9 / 181.7 around the edge; max abs(eta) 2.36]
    "pnet_raw_ptmin": 180.0,
    "pnet_eta_max": 2.4,
    "deepb_eta_max": 2.5,  # btagDeepB and DDX need tracks: -1 beyond [meas nano_tt_v12: -1 at eta -3.09]
    "btag_hbb_default": -1000.0,  # v12 does not run the BDT double-b: every value -1000 [meas nano_tt_v12]
    "no_sd_default": -99968.0,  # float32(-1e5) at 10 mantissa bits [meas nano_tt_v12]
    # ---- taggers (tagger_scores): each class k gets a logit mu[true][k] + tag_sigma z_k (+ a jet-level noise shared
    # by the signal classes, so that the scores correlate); scores are softmax ratios. Separations set to CMS public
    # performance [mem]: PNet-MD Xbb ~60-70% H->bb efficiency at 1% QCD mistag (CMS-DP-2020-002;
    # CMS-PAS-BTV-22-001), PNet top ~60% / W ~70% at 1% mistag (JME-18-002, arXiv:2004.08262, Fig. 9-10)
    "tag_sigma": 1.3,
    "tag_d_signal": 4.0,  # logit of the true class at 400 GeV raw pT [design, tuned to the above]
    # the true-class logit grows by this x log(pT_raw / 400 GeV): better separated prongs and more constituents at
    # high pT (JME-18-002, Fig. 10: the top / W efficiency at fixed mistag rises with pT) [design]
    "tag_pt_slope": 0.5,
    "tag_d_qcd": 3.0,  # logit of the QCD class with the jet's heavy-flavour count (0, 1, >= 2 B/C hadrons) [design]
    # QCD jets with >= 2 B (C) hadrons (g -> bb, cc) get an extra Xbb (Xcc) logit: the dominant mistag [design]
    "tag_d_gbb": 2.0,
    "tag_top_md": {"Xqq": 1.5, "QCD1HF": 2.5},  # top jets in the MD tagger: a b plus a W-like pair [design]
    "tag_mass_width": 0.12,  # relative signal mass window of the WithMass classes [design: msd resolution ~10%]
    "tag_wm_mass_weight": 1.0,  # weight of the mass log-likelihood in the WithMass logits [design]
    "tag_res_mass": {"T": 172.5, "W": 80.4, "Z": 91.2, "Hbb": 125.0, "Hcc": 125.0, "H4q": 125.0},  # GeV [PDG]
    # DeepDoubleX v2 logits = scale x the PNet logit difference + noise: weaker than PNet (CMS-DP-2022-041) [mem]
    "ddx_scale": 0.7,
    "ddx_noise": 1.2,
    "ddx_offset": (-4.0, -5.0, 0.0),  # BvL, CvL, CvB [meas nano_tt_v12 medians 0.014, 0.004, 0.16]
    "deepb_mu": {5: 1.8, 4: -0.8, 0: -2.5},  # DeepCSV logit by the leading hadron flavour [design; meas median 0.32]
    "deepb_sigma": 1.6,  # [design]
    # massCorr x mass estimates the resonance mass (else the groomed GenJetAK8 mass) with this resolution:
    # matched resonance, QCD [mem: CMS-DP-2021-017, ParticleNet mass regression]
    "mass_reg_sigma": (0.08, 0.15),
}

#: Mass-decorrelated PNet classes (v12 ``particleNet_*``) and the mass-dependent ones (``particleNetWithMass_*``).
MD_CLASSES = ("Xbb", "Xcc", "Xqq", "Xgg", "Xtt", "Xte", "Xtm", "QCD0HF", "QCD1HF", "QCD2HF")
WM_CLASSES = ("H4q", "Hbb", "Hcc", "T", "W", "Z", "QCD")

_K = pflow.KIND

# --------------------------------------------------------------------------- numba kernels


def _p4(pt, eta, phi):
    """(px, py, pz, E) of massless particles."""
    pt, eta, phi = (np.asarray(x, np.float64) for x in (pt, eta, phi))
    return pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)


def _mass(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.sqrt(np.maximum(v[..., 3] ** 2 - v[..., 0] ** 2 - v[..., 1] ** 2 - v[..., 2] ** 2, 0.0))


@numba.njit(cache=True)
def _ypk(px, py, pz, e):  # pragma: no cover - numba
    """Rapidity, azimuth and pT^2 of one four-vector."""
    kt2 = px * px + py * py
    ez = max(e - pz, 1e-12)
    y = 0.5 * np.log(max(e + pz, 1e-12) / ez)
    return y, np.arctan2(py, px), kt2


_dr = delta_r


@numba.njit(cache=True)
def _dij(y, f, k, i, j, p):  # pragma: no cover - numba
    """The pairwise distance of pseudo-jets ``i`` and ``j``: dR^2 (p = 0, C/A) or min(kT^2) dR^2 (p = 1, kT)."""
    d = _dr(y[i], f[i], y[j], f[j]) ** 2
    if p == 1:
        d *= min(k[i], k[j])
    return d


@numba.njit(cache=True)
def _scan(y, f, k, p, act, m, s, nnd, nn, symmetric):  # pragma: no cover - numba
    """The nearest neighbour of the pseudo-jet in slot ``s`` among the ``m`` active slots, into ``nnd[s]``,
    ``nn[s]``; with ``symmetric`` each other slot also takes it if it is nearer than its own."""
    i = act[s]
    for c in range(m):
        if c == s:
            continue
        j = act[c]
        d = _dij(y, f, k, i, j, p)
        if d < nnd[s]:
            nnd[s], nn[s] = d, j
        if symmetric and d < nnd[c]:
            nnd[c], nn[c] = d, i


@numba.njit(cache=True)
def _cluster(px, py, pz, e, p):  # pragma: no cover - numba
    """Pairwise reclustering (p = 0 C/A, p = 1 kT; no beam distance: exclusive, one jet).

    Returns the node four-vectors (2n - 1 rows: the n leaves, then one node per merge), the two parents
    of each node (-1 for leaves) and the alive nodes when 4, 3, 2, 1 remain (rows of ``snaps``)."""
    n = len(px)
    nn_ = max(2 * n - 1, 1)
    X = np.zeros((nn_, 4))
    left = np.full(nn_, -1, np.int64)
    right = np.full(nn_, -1, np.int64)
    y = np.zeros(nn_)
    f = np.zeros(nn_)
    k = np.zeros(nn_)
    snaps = np.full((4, 4), -1, np.int64)
    if n == 0:
        return X, left, right, snaps
    for i in range(n):
        X[i, 0], X[i, 1], X[i, 2], X[i, 3] = px[i], py[i], pz[i], e[i]
        y[i], f[i], k[i] = _ypk(px[i], py[i], pz[i], e[i])
    act = np.arange(n)
    pos = np.zeros(nn_, np.int64)
    pos[:n] = np.arange(n)
    nn = np.full(n, -1, np.int64)
    nnd = np.full(n, np.inf)
    m = n
    for a in range(m):
        for b in range(a + 1, m):
            d = _dij(y, f, k, a, b, p)
            if d < nnd[a]:
                nnd[a], nn[a] = d, b
            if d < nnd[b]:
                nnd[b], nn[b] = d, a
    if m <= 4:
        for c in range(m):
            snaps[m - 1, c] = act[c]
    new = n
    while m > 1:
        a = 0
        for c in range(1, m):
            if nnd[c] < nnd[a]:
                a = c
        ida = act[a]
        idb = nn[a]
        b = pos[idb]
        for t in range(4):
            X[new, t] = X[ida, t] + X[idb, t]
        left[new], right[new] = ida, idb
        y[new], f[new], k[new] = _ypk(X[new, 0], X[new, 1], X[new, 2], X[new, 3])
        act[a] = new
        pos[new] = a
        last = m - 1
        act[b], nn[b], nnd[b] = act[last], nn[last], nnd[last]
        pos[act[b]] = b
        if a == last:
            a = b
        m -= 1
        nnd[a] = np.inf
        nn[a] = -1
        _scan(y, f, k, p, act, m, a, nnd, nn, True)
        for c in range(m):
            if c == a or (nn[c] != ida and nn[c] != idb):
                continue
            nnd[c] = np.inf
            _scan(y, f, k, p, act, m, c, nnd, nn, False)
        new += 1
        if m <= 4:
            for c in range(m):
                snaps[m - 1, c] = act[c]
    return X, left, right, snaps


@numba.njit(cache=True)
def _leaves(left, right, node, out):  # pragma: no cover - numba
    """Write the leaf ids under ``node`` into ``out``; return their number."""
    stack = np.empty(len(left) + 1, np.int64)
    stack[0] = node
    top, cnt = 1, 0
    while top > 0:
        top -= 1
        q = stack[top]
        if left[q] < 0:
            out[cnt] = q
            cnt += 1
        else:
            stack[top] = left[q]
            stack[top + 1] = right[q]
            top += 2
    return cnt


@numba.njit(cache=True)
def _taus(X, leaves, nl, axes, R0, n_iter=20):  # pragma: no cover - numba
    """tau_N (beta 1, normalised) for N = 1..4 from the exclusive-kT axes ``axes[N-1, :N]``, refined by up to
    ``n_iter`` Weiszfeld steps while tau decreases (CMS's one-pass kT axes: fastjet-contrib Nsubjettiness
    ``OnePass_KT_Axes``, as NjettinessAK8Puppi)."""
    out = np.zeros(4)
    ys = np.zeros(nl)
    fs = np.zeros(nl)
    pts = np.zeros(nl)
    den = 0.0
    for i in range(nl):
        q = leaves[i]
        ys[i], fs[i], k2 = _ypk(X[q, 0], X[q, 1], X[q, 2], X[q, 3])
        pts[i] = np.sqrt(k2)
        den += pts[i]
    if den <= 0:
        return out
    for nax in range(1, 5):
        if axes[nax - 1, 0] < 0:
            continue
        ay = np.zeros(nax)
        af = np.zeros(nax)
        for a in range(nax):
            q = axes[nax - 1, a]
            ay[a], af[a], _ = _ypk(X[q, 0], X[q, 1], X[q, 2], X[q, 3])
        best = 1e18
        for _it in range(n_iter + 1):
            # tau with the current axes; then one Weiszfeld step (the beta = 1 minimiser) per axis
            num = 0.0
            wsum = np.zeros(nax)
            wy = np.zeros(nax)
            wf = np.zeros(nax)
            for i in range(nl):
                dmin, amin = 1e9, 0
                for a in range(nax):
                    d = _dr(ys[i], fs[i], ay[a], af[a])
                    if d < dmin:
                        dmin, amin = d, a
                num += pts[i] * dmin
                wgt = pts[i] / max(dmin, 1e-4)
                dp = fs[i] - af[amin]
                dp = dp - 2 * np.pi * np.floor((dp + np.pi) / (2 * np.pi))
                wsum[amin] += wgt
                wy[amin] += wgt * ys[i]
                wf[amin] += wgt * (af[amin] + dp)
            if num >= best * (1 - 1e-5):
                break
            best = num
            for a in range(nax):
                if wsum[a] > 0:
                    ay[a], af[a] = wy[a] / wsum[a], wf[a] / wsum[a]
        out[nax - 1] = best / (den * R0)
    return out


@numba.njit(cache=True)
def _two_smallest3(x, y, w, a, b):  # pragma: no cover - numba
    """The two smallest of x, y, w and the sorted pair (a, b)."""
    for v in (x, y, w):
        if v < a:
            a, b = v, a
        elif v < b:
            b = v
    return a, b


@numba.njit(cache=True)
def _ecf_ratios(X, leaves, nl, nmax):  # pragma: no cover - numba
    """(N2, N3) with beta = 1 (-1 where undefined) on the hardest ``nmax`` of the leaves."""
    pts = np.zeros(nl)
    for i in range(nl):
        q = leaves[i]
        pts[i] = np.hypot(X[q, 0], X[q, 1])
    tot = pts.sum()
    order = np.argsort(-pts)[: min(nl, nmax)]
    n = len(order)
    if tot <= 0 or n < 3:
        return -1.0, -1.0
    z = np.zeros(n)
    ys = np.zeros(n)
    fs = np.zeros(n)
    for a in range(n):
        q = leaves[order[a]]
        z[a] = pts[order[a]] / tot
        ys[a], fs[a], _ = _ypk(X[q, 0], X[q, 1], X[q, 2], X[q, 3])
    d = np.zeros((n, n))
    for a in range(n):
        for b in range(a + 1, n):
            d[a, b] = d[b, a] = _dr(ys[a], fs[a], ys[b], fs[b])
    e2, e3_1, e3_2, e4_2 = 0.0, 0.0, 0.0, 0.0
    for i in range(n):
        for j in range(i + 1, n):
            zij = z[i] * z[j]
            e2 += zij * d[i, j]
            for k in range(j + 1, n):
                zijk = zij * z[k]
                s1, s2 = _two_smallest3(d[i, j], d[i, k], d[j, k], 1e18, 1e18)
                e3_1 += zijk * s1
                e3_2 += zijk * s1 * s2
                for m in range(k + 1, n):  # the two smallest of the six pairs: (s1, s2) and the three with m
                    t1, t2 = _two_smallest3(d[i, m], d[j, m], d[k, m], s1, s2)
                    e4_2 += zijk * z[m] * t1 * t2
    n2 = e3_2 / (e2 * e2) if e2 > 0 else -1.0
    n3 = e4_2 / (e3_1 * e3_1) if (n >= 4 and e3_1 > 0) else -1.0
    return n2, n3


@numba.njit(cache=True)
def _substructure(off, px, py, pz, e, zcut, R0, nmax, sub_r0):  # pragma: no cover - numba
    """Per jet (constituents ``off[j]:off[j+1]``): soft drop, N-subjettiness, ECF ratios, kT-3 subjets.

    Returns ``groomed`` (n, 4), ``has_sub`` (n), ``sub`` (n, 2, 4; harder first), ``n_groomed`` (n),
    ``tau`` (n, 4), ``ecf`` (n, 2: N2, N3), ``kt3`` (n, 3, 4), ``sub_tau`` (n, 2, 4), ``sub_ecf`` (n, 2, 2),
    ``sub_leaf`` (per constituent: 0 / 1 its subjet, -1 groomed away)."""
    nj = len(off) - 1
    groomed = np.zeros((nj, 4))
    has_sub = np.zeros(nj, np.bool_)
    sub = np.zeros((nj, 2, 4))
    n_groomed = np.zeros(nj, np.int64)
    tau = np.zeros((nj, 4))
    ecf = np.full((nj, 2), -1.0)
    kt3 = np.zeros((nj, 3, 4))
    sub_tau = np.zeros((nj, 2, 4))
    sub_ecf = np.full((nj, 2, 2), -1.0)
    sub_leaf = np.full(off[-1], -1, np.int64)
    for j in range(nj):
        s, t = off[j], off[j + 1]
        n = t - s
        if n == 0:
            continue
        X, left, right, snaps = _cluster(px[s:t], py[s:t], pz[s:t], e[s:t], 0)
        node = 2 * n - 2
        s1, s2 = -1, -1
        while left[node] >= 0:
            lft, rgt = left[node], right[node]
            ptl, ptr = np.hypot(X[lft, 0], X[lft, 1]), np.hypot(X[rgt, 0], X[rgt, 1])
            if min(ptl, ptr) / max(ptl + ptr, 1e-12) > zcut:
                s1, s2 = (lft, rgt) if ptl >= ptr else (rgt, lft)
                break
            node = lft if ptl >= ptr else rgt
        groomed[j] = X[node]
        buf = np.empty(n, np.int64)
        ng = _leaves(left, right, node, buf)
        n_groomed[j] = ng
        ecf[j, 0], ecf[j, 1] = _ecf_ratios(X, buf, ng, nmax)
        if s1 >= 0:
            has_sub[j] = True
            for si, sn in enumerate((s1, s2)):
                sub[j, si] = X[sn]
                nl = _leaves(left, right, sn, buf)
                for i in range(nl):
                    sub_leaf[s + buf[i]] = si
                sp = np.empty(nl)
                sq = np.empty(nl)
                sr = np.empty(nl)
                se = np.empty(nl)
                for i in range(nl):
                    sp[i], sq[i], sr[i], se[i] = X[buf[i], 0], X[buf[i], 1], X[buf[i], 2], X[buf[i], 3]
                Xs, ls, rs, sn_snaps = _cluster(sp, sq, sr, se, 1)
                idx = np.arange(nl)
                sub_tau[j, si] = _taus(Xs, idx, nl, sn_snaps, sub_r0)
                sub_ecf[j, si, 0], sub_ecf[j, si, 1] = _ecf_ratios(Xs, idx, nl, nmax)
        Xk, lk, rk, snk = _cluster(px[s:t], py[s:t], pz[s:t], e[s:t], 1)
        tau[j] = _taus(Xk, np.arange(n), n, snk, R0)
        for a in range(3):
            if snk[2, a] >= 0:
                kt3[j, a] = Xk[snk[2, a]]
    return groomed, has_sub, sub, n_groomed, tau, ecf, kt3, sub_tau, sub_ecf, sub_leaf


def soft_drop_subjets(counts: np.ndarray, px, py, pz, e) -> tuple[np.ndarray, np.ndarray]:
    """Soft-drop (beta 0, ``PARAMS["sd_zcut"]``) subjets of jets whose constituents are given flat.

    Arguments:
        counts: constituents per jet; px, py, pz, e: the constituents' four-momenta, jet after jet.

    Returns:
        ``sub`` (n_jets, 2, 4: harder first) and ``has_sub`` (bool: False when the declustering reached a
        single particle).

    Example:
        >>> c = _p4([150.0, 100.0, 3.0], [0.0, 0.4, -0.5], [0.0, 0.0, 0.5])
        >>> sub, has = soft_drop_subjets(np.array([3]), *c)
        >>> np.hypot(sub[0, :, 0], sub[0, :, 1]).tolist(), has.tolist()
        ([150.0, 100.0], [True])
    """
    off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = _substructure(off, *(np.asarray(x, np.float64) for x in (px, py, pz, e)), PARAMS["sd_zcut"],
                        PARAMS["tau_R0"], 3, PARAMS["tau_R0"])
    return out[2], out[1]


# --------------------------------------------------------------------------- truth content


def _flat(a: ak.Array, field: str, dtype=np.float64) -> np.ndarray:
    return ak.to_numpy(ak.flatten(a[field])).astype(dtype)


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, np.int64))]).astype(np.int64)


# --------------------------------------------------------------------------- taggers


def _softmax(logits: np.ndarray) -> np.ndarray:
    x = logits - logits.max(axis=1, keepdims=True)
    ex = np.exp(x)
    return ex / ex.sum(axis=1, keepdims=True)


def _md_truth(cat: np.ndarray, flav: np.ndarray, n_hf: np.ndarray) -> np.ndarray:
    """Index into :data:`MD_CLASSES` of each jet's true mass-decorrelated class (-1: top, see ``tag_top_md``)."""
    name = np.asarray(CATEGORIES)[cat]
    qcd = 7 + np.minimum(n_hf, 2)
    pair = np.where(flav == 5, 0, np.where(flav == 4, 1, 2))  # Xbb, Xcc, Xqq for W / Z / H -> qq pairs
    out = np.select(
        [name == "T", np.isin(name, ("W", "Z", "Hqq")), name == "Hbb", name == "Hcc", name == "Xtt",
         name == "Xte", name == "Xtm"],
        [-1, pair, 0, 1, 4, 5, 6],
        qcd,
    )
    return np.where(name == "H4q", qcd, out)


def tagger_scores(h: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The v12 FatJet tagger scores drawn from the jet's truth (the latent model of the ``tag_*`` entries of ``PARAMS``).

    Arguments:
        h: flat per-jet arrays: ``category``, ``flavour`` (of :func:`jet_truth`), ``n_b``, ``n_c`` (B / C
            hadrons inside), ``msoftdrop`` (GeV, -1 without), ``mass`` (ungroomed), ``pt_raw``, ``eta``,
            ``target_mass`` (what the mass regression estimates: the resonance mass, else the groomed
            GenJetAK8 mass; NaN without).
        rng: the random generator.

    Returns:
        ``particleNet_*`` (mass-decorrelated, -10 where PNet does not run), ``particleNetWithMass_*``,
        ``particleNet_massCorr`` (0 where PNet does not run), ``btagDDBvLV2``, ``btagDDCvLV2``,
        ``btagDDCvBV2``, ``btagDeepB`` (-1 beyond the tracker), ``btagHbb`` (-1000).

    Example:
        A boosted H -> bb jet and a light QCD jet: the first scores high in Xbb and Hbb, the second not:

        >>> h = {"category": np.array([4, 0]), "flavour": np.array([5, 0]), "n_b": np.array([2, 0]),
        ...      "n_c": np.array([0, 0]), "msoftdrop": np.array([124.0, 30.0]), "mass": np.array([130.0, 60.0]),
        ...      "pt_raw": np.array([400.0, 400.0]), "eta": np.array([0.5, -1.0]),
        ...      "target_mass": np.array([125.0, 28.0])}
        >>> s = tagger_scores(h, np.random.default_rng(3))
        >>> [round(float(x), 3) for x in s["particleNet_XbbVsQCD"]], [round(float(x), 3) for x in
        ...  s["particleNetWithMass_HbbvsQCD"]]
        ([0.915, 0.099], [0.996, 0.0])
    """
    P = PARAMS
    n = len(h["category"])
    cat = np.asarray(h["category"], np.int64)
    n_b, n_c = np.asarray(h["n_b"], np.int64), np.asarray(h["n_c"], np.int64)
    n_hf = n_b + n_c
    z = rng.standard_normal((n, len(MD_CLASSES)))
    zw = rng.standard_normal((n, len(WM_CLASSES)))
    shared = rng.standard_normal(n)
    zx = rng.standard_normal((n, 4))
    sig = P["tag_sigma"]
    # ---- mass-decorrelated PNet
    md_true = _md_truth(cat, np.asarray(h["flavour"]), n_hf)
    mu = np.zeros((n, len(MD_CLASSES)))
    rows = np.arange(n)
    sigcls = md_true >= 0
    boost = P["tag_pt_slope"] * np.log(np.maximum(np.asarray(h["pt_raw"], np.float64), 1.0) / 400.0)
    mu[rows[sigcls], md_true[sigcls]] = np.where(md_true[sigcls] >= 7, P["tag_d_qcd"], P["tag_d_signal"] + boost[sigcls])
    top = md_true == -1
    for k, v in P["tag_top_md"].items():
        mu[top, MD_CLASSES.index(k)] = v
    qcd_true = md_true >= 7
    mu[qcd_true & (n_b >= 2), 0] += P["tag_d_gbb"]
    mu[qcd_true & (n_b < 2) & (n_c >= 2), 1] += P["tag_d_gbb"]
    logit = mu + sig * z
    logit[:, :7] += 0.5 * sig * shared[:, None]  # a jet that looks signal-like looks so to every X class
    p = _softmax(logit)
    p_qcd = p[:, 7:].sum(axis=1)
    out: dict[str, np.ndarray] = {}
    pnet_on = (np.asarray(h["pt_raw"]) > PARAMS["pnet_raw_ptmin"]) & (np.abs(h["eta"]) < PARAMS["pnet_eta_max"])
    for i, c in enumerate(MD_CLASSES[:7]):
        out[f"particleNet_{c}VsQCD"] = np.where(pnet_on, p[:, i] / np.maximum(p[:, i] + p_qcd, 1e-12), -10.0)
    out["particleNet_QCD"] = np.where(pnet_on, p_qcd, -10.0)
    for i, c in enumerate(("QCD0HF", "QCD1HF", "QCD2HF")):
        out[f"particleNet_{c}"] = np.where(pnet_on, p[:, 7 + i], -10.0)
    # ---- mass-dependent PNet: the true class plus a mass log-likelihood (signal window vs a flat QCD)
    name = np.asarray(CATEGORIES)[cat]
    wm_true = np.full(n, len(WM_CLASSES) - 1)
    for i, c in enumerate(WM_CLASSES[:-1]):
        wm_true[name == c] = i
    mu_w = np.zeros((n, len(WM_CLASSES)))
    mu_w[rows, wm_true] = np.where(wm_true == len(WM_CLASSES) - 1, P["tag_d_qcd"], P["tag_d_signal"] + boost)
    msd = np.asarray(h["msoftdrop"], np.float64)
    for i, c in enumerate(WM_CLASSES[:-1]):
        m0 = P["tag_res_mass"][c]
        ll = -0.5 * ((msd - m0) / (P["tag_mass_width"] * m0)) ** 2
        mu_w[:, i] += P["tag_wm_mass_weight"] * np.maximum(ll + 2.0, -6.0)
    pw = _softmax(mu_w + sig * zw + 0.5 * sig * np.c_[np.repeat(shared[:, None], len(WM_CLASSES) - 1, 1), np.zeros(n)])
    for i, c in enumerate(WM_CLASSES[:-1]):
        out[f"particleNetWithMass_{c}vsQCD"] = pw[:, i] / np.maximum(pw[:, i] + pw[:, -1], 1e-12)
    out["particleNetWithMass_QCD"] = pw[:, -1]
    # ---- mass regression: the target mass with a resolution, relative to the ungroomed mass
    tgt = np.asarray(h["target_mass"], np.float64)
    s_reg = np.where(cat > 0, P["mass_reg_sigma"][0], P["mass_reg_sigma"][1])
    reg = np.nan_to_num(tgt, nan=np.maximum(msd, 0.0)) * np.exp(s_reg * zx[:, 0])
    out["particleNet_massCorr"] = np.where(pnet_on, reg / np.maximum(np.asarray(h["mass"]), 1e-3), 0.0)
    # ---- DeepDoubleX v2 (bb / cc / light) from the PNet logits, and DeepCSV
    tracker = np.abs(h["eta"]) < PARAMS["deepb_eta_max"]
    lse_qcd = np.log(np.exp(logit[:, 7:]).sum(axis=1))
    ob, oc, ocb = P["ddx_offset"]
    ddb = P["ddx_scale"] * (logit[:, 0] - lse_qcd) + ob + P["ddx_noise"] * zx[:, 1]
    ddc = P["ddx_scale"] * (logit[:, 1] - lse_qcd) + oc + P["ddx_noise"] * zx[:, 2]
    out["btagDDBvLV2"] = np.where(tracker, btag._sig(ddb), -1.0)
    out["btagDDCvLV2"] = np.where(tracker, btag._sig(ddc), -1.0)
    out["btagDDCvBV2"] = np.where(tracker, btag._sig(P["ddx_scale"] * (logit[:, 1] - logit[:, 0]) + ocb), -1.0)
    lead = np.where(n_b > 0, 5, np.where(n_c > 0, 4, 0))
    mu_b = np.select([lead == 5, lead == 4], [P["deepb_mu"][5], P["deepb_mu"][4]], P["deepb_mu"][0])
    out["btagDeepB"] = np.where(tracker, btag._sig(mu_b + P["deepb_sigma"] * (0.6 * zx[:, 3] + 0.8 * zx[:, 1])), -1.0)
    out["btagHbb"] = np.full(n, PARAMS["btag_hbb_default"])
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def subjet_deepb(n_b: np.ndarray, n_c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """SubJet DeepCSV (``btagDeepB``) from the subjet's B / C hadrons and a standard normal ``z``.

    Example:
        >>> subjet_deepb(np.array([1, 0, 0]), np.array([0, 1, 0]), np.zeros(3)).round(3).tolist()
        [0.858, 0.31, 0.076]
    """
    mu_b = PARAMS["deepb_mu"]
    mu = np.where(n_b > 0, mu_b[5], np.where(n_c > 0, mu_b[4], mu_b[0]))
    return btag._sig(mu + PARAMS["deepb_sigma"] * z)


# --------------------------------------------------------------------------- leptons in jets


def _leptons(coll: ak.Array | None, n_ev: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if coll is None or len(coll) == 0:
        return np.zeros(n_ev + 1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
    return (_offsets(ak.num(coll)), *(_flat(coll, k) for k in ("pt", "eta", "phi")))


# --------------------------------------------------------------------------- the stage


def puppi_weights(f: dict) -> np.ndarray:
    """PUPPI-like weight of each PF candidate (see the module docstring, ``puppi_pt0``).

    Example:
        A PV track, a CHS-removed PU track, a hard photon, and 1 / 3 / 10 GeV PU-dominated neutrals:

        >>> f = {"charge": np.array([1.0, -1.0, 0, 0, 0, 0]), "fromPV": np.array([True, False, True, True, True, True]),
        ...      "hardFrac": np.array([1.0, 0.0, 0.9, 0.1, 0.0, 0.0]), "pt": np.array([5.0, 2.0, 4.0, 1.0, 3.0, 10.0])}
        >>> puppi_weights(f).round(3).tolist()
        [1.0, 0.0, 1.0, 0.1, 0.5, 0.917]
    """
    charged = np.asarray(f["charge"]) != 0
    pt2 = np.asarray(f["pt"], np.float64) ** 2
    w_neutral = np.where(np.asarray(f["hardFrac"]) >= 0.5, 1.0, pt2 / (pt2 + PARAMS["puppi_pt0"] ** 2))
    return np.where(charged, np.asarray(f["fromPV"], np.float64), w_neutral)


def reconstruct_fatjets(
    truth: ak.Array,
    pf: dict,
    pf_counts: np.ndarray,
    gen: dict,
    muons: ak.Array | None,
    electrons: ak.Array | None,
    rng: np.random.Generator,
) -> tuple[ak.Array, ak.Array]:
    """NanoAOD ``FatJet`` and ``SubJet`` (see the module docstring).

    Arguments:
        truth: the truth record (:func:`.truth.make_truth`).
        pf, pf_counts: the flat PF candidates and their counts per event (the AK4 stage's extras).
        gen: the gen collections (:func:`.genlevel.gen_collections`): ``GenJetAK8``, ``SubGenJetAK8``.
        muons, electrons: the final lepton collections (for ``lsf3``, ``muonIdx3SJ``, ``electronIdx3SJ``).
        rng: the stage's random generator.

    Returns:
        (FatJet, SubJet), jagged, cast; fields in schema order.
    """
    p = PARAMS
    n_ev = len(truth)
    f = pf
    cevt = np.repeat(np.arange(n_ev), pf_counts)
    w = puppi_weights(f)
    cidx = np.flatnonzero(w > p["puppi_wmin"])
    ccounts = np.bincount(cevt[cidx], minlength=n_ev)
    wp = {k: f[k][cidx] * w[cidx] for k in ("px", "py", "pz", "energy")}
    inputs = ak.unflatten(ak.zip(wp, depth_limit=1), ccounts)
    cj, index = jetalgo.cluster(inputs, p["R"], p["cluster_ptmin"])
    jcounts = np.asarray(ak.num(cj))
    joff = _offsets(jcounts)
    n_j = int(joff[-1])
    jevt = np.repeat(np.arange(n_ev), jcounts)
    nconst = np.asarray(ak.flatten(ak.num(index, axis=2)), np.int64)
    local = ak.to_numpy(ak.flatten(index, axis=None)).astype(np.int64)
    coff = _offsets(ccounts)
    const_glob = cidx[coff[np.repeat(jevt, nconst)] + local]  # PF candidate of each constituent
    const_w = w[const_glob]
    const_jet = np.repeat(np.arange(n_j), nconst)
    jpx, jpy, jpz, je = (np.bincount(const_jet, f[k][const_glob] * const_w, n_j) for k in ("px", "py", "pz", "energy"))
    pt_c, eta_c, phi_c, _ = jets._kin(jpx, jpy, jpz, je)

    # ---- raw jet and JEC (as AK4, without L1)
    aeta_c = np.abs(eta_c)
    sx = np.sqrt(jets._binned(jets.JER_X, "S", aeta_c) ** 2 / np.maximum(pt_c, 1.0)
                 + jets._binned(jets.JER_X, "C", aeta_c) ** 2)
    s = np.maximum(1.0 + sx * rng.standard_normal(n_j), 0.2)
    pt_raw, eta, phi, mass_raw = jets._kin(jpx * s, jpy * s, jpz * s, je * s)
    area = jets._areas(joff, eta, phi, p["R"]) * (1.0 + p["area_jitter"] * rng.standard_normal(n_j))
    corr = 1.0 / jets.l2l3_response(pt_raw, np.abs(eta))
    pt = pt_raw * corr
    sel = (pt > p["ptmin"]) & (np.abs(eta) < p["eta_max"])
    order = np.argsort(jevt * 1e6 - np.minimum(pt, 9.9e5), kind="stable")
    o = order[sel[order]]
    out_counts = np.bincount(jevt[o], minlength=n_ev)
    n_o = len(o)

    # ---- constituents of the written jets, jet after jet
    cst_off = _offsets(nconst)
    take = np.concatenate([np.arange(cst_off[j], cst_off[j + 1]) for j in o]) if n_o else np.zeros(0, np.int64)
    g = const_glob[take]
    cw = const_w[take]
    o_off = _offsets(nconst[o])
    cpx, cpy, cpz, ce = (f[k][g] * cw for k in ("px", "py", "pz", "energy"))
    groomed, has_sub, sub, n_groomed, tau, ecf, kt3, sub_tau, sub_ecf, _ = _substructure(
        o_off, cpx, cpy, cpz, ce, p["sd_zcut"], p["tau_R0"], p["ecf_max"], p["tau_R0"]
    )
    so = s[o]
    pr = pt_raw[o]
    has_sd = pr > p["sd_raw_ptmin"]
    has_sub = has_sub & has_sd
    # subjets: raw = constituents x the jet's detector factor; calibrated with the L2L3 response
    sub_raw = sub * so[:, None, None]
    spt_raw, seta, sphi, smass_raw = jets._kin(*(sub_raw[..., i] for i in range(4)))
    scorr = 1.0 / jets.l2l3_response(spt_raw.ravel(), np.abs(seta.ravel())).reshape(spt_raw.shape)
    sub_cal = sub_raw * scorr[..., None]
    msd = np.where(has_sub, _mass(sub_cal.sum(axis=1)), _mass(groomed) * so * corr[o])
    msd = np.where(has_sd, msd, -1.0)
    no_sd = p["no_sd_default"]
    n2 = np.where(has_sd, np.where(n_groomed >= 3, ecf[:, 0], -1.0), no_sd)
    n3 = np.where(has_sd, np.where((n_groomed >= 4) & (pr > p["n3_raw_ptmin"]), ecf[:, 1], -1.0), no_sd)

    # ---- truth: hadrons (nearest jet within R, anti-kT metric), resonances, GenJetAK8
    had = truth.hadrons
    hevt = np.repeat(np.arange(n_ev), np.asarray(ak.num(had)))
    heta, hphi, hflav = _flat(had, "eta"), _flat(had, "phi"), _flat(had, "flavour", np.int64)
    hjet = jets._absorb(joff, eta, phi, pt_raw, hevt, heta, hphi, p["R"], True)
    sel_of = np.full(max(n_j, 1), -1, np.int64)  # one spare -1: a block without fat jets
    sel_of[o] = np.arange(n_o)
    hsel = np.where(hjet >= 0, sel_of[np.maximum(hjet, 0)], -1)
    in_sel = hsel >= 0
    n_b = np.bincount(hsel[in_sel & (hflav == 5)], minlength=n_o)
    n_c = np.bincount(hsel[in_sel & (hflav == 4)], minlength=n_o)
    # subjet of each hadron: the closer of the two
    hs = hsel[in_sel]
    d_sub = np.stack([np.hypot(heta[in_sel] - seta[hs, i], np.mod(hphi[in_sel] - sphi[hs, i] + np.pi, 2 * np.pi) - np.pi)
                      for i in range(2)], axis=1) if n_o else np.zeros((0, 2))
    which = np.argmin(d_sub, axis=1) if len(hs) else np.zeros(0, np.int64)
    sub_nb = np.zeros((n_o, 2), np.int64)
    sub_nc = np.zeros((n_o, 2), np.int64)
    np.add.at(sub_nb, (hs, which), hflav[in_sel] == 5)
    np.add.at(sub_nc, (hs, which), hflav[in_sel] == 4)
    tj = jet_truth(truth.GenPart, truth.particles, jevt[o], eta[o], phi[o], p["truth_dr"])
    o_off_ev = _offsets(out_counts)
    ga = gen["GenJetAK8"]
    goff = _offsets(ak.num(ga))
    gen_idx = jets._match(o_off_ev, eta[o], phi[o], goff, _flat(ga, "eta"), _flat(ga, "phi"), p["genjet_dr"])
    # the groomed GenJetAK8 mass (its two SubGenJetAK8, in GenJetAK8 order) for the mass regression target
    target = tj["res_mass"].copy()
    sg = gen.get("SubGenJetAK8")
    if sg is not None:
        sg_off = _offsets(ak.num(sg))
        sgp = np.stack(_p4(_flat(sg, "pt"), _flat(sg, "eta"), _flat(sg, "phi")), axis=1)
        sgp[:, 3] = np.sqrt(sgp[:, 3] ** 2 + _flat(sg, "mass") ** 2)
        k = sg_off[jevt[o]] + 2 * gen_idx
        ok = (gen_idx >= 0) & (k + 1 < sg_off[jevt[o] + 1])
        kk = np.minimum(k, max(len(sgp) - 2, 0))
        gm = _mass(sgp[kk] + sgp[kk + 1]) if len(sgp) >= 2 else np.zeros(n_o)
        target = np.where(np.isnan(target) & ok, gm, target)
    tags = tagger_scores(
        {"category": tj["category"], "flavour": tj["flavour"], "n_b": n_b, "n_c": n_c, "msoftdrop": msd,
         "mass": mass_raw[o] * corr[o], "pt_raw": pr, "eta": eta[o], "target_mass": target},
        rng,
    )

    # ---- energy fractions -> jetId (the AK4 definition), multiplicity
    kind = f["kind"][g]
    cjet = np.repeat(np.arange(n_o), nconst[o])
    e_tot = np.maximum(np.bincount(cjet, ce, n_o), 1e-9)
    e_by = {k: np.bincount(cjet, np.where(kind == v, ce, 0.0), n_o) for k, v in _K.items()}
    n_by = {k: np.bincount(cjet, (kind == v).astype(np.float64), n_o) for k, v in _K.items()}
    chf, nhf = e_by["charged_hadron"] / e_tot, (e_by["neutral_hadron"] + e_by["hf"]) / e_tot
    cemf, nemf, muf = e_by["electron"] / e_tot, e_by["photon"] / e_tot, e_by["muon"] / e_tot
    n_charged = n_by["charged_hadron"] + n_by["electron"] + n_by["muon"]
    n_neutral = n_by["photon"] + n_by["neutral_hadron"] + n_by["hf"]
    jetid = jets.jet_id(np.abs(eta[o]), chf, nhf, cemf, nemf, muf, nconst[o], n_charged, n_neutral)

    # ---- leptons in the jet: lsf3 = lepton pT / pT of its kT-3 subjet (arXiv:1808.07495)
    mo, mpt, meta, mphi = _leptons(muons, n_ev)
    eo, ept, eeta, ephi = _leptons(electrons, n_ev)
    jo_evt = jevt[o].astype(np.int64)
    mu_i = lepton_in_jet(jo_evt, eta[o], phi[o], mo, mpt, meta, mphi, p["lep_dr"])
    el_i = lepton_in_jet(jo_evt, eta[o], phi[o], eo, ept, eeta, ephi, p["lep_dr"])
    mu_pt = np.where(mu_i >= 0, mpt[np.minimum(mo[jo_evt] + mu_i, max(len(mpt) - 1, 0))] if len(mpt) else 0, -1.0)
    el_pt = np.where(el_i >= 0, ept[np.minimum(eo[jo_evt] + el_i, max(len(ept) - 1, 0))] if len(ept) else 0, -1.0)
    use_mu = (mu_i >= 0) & (mu_pt >= el_pt)
    use_el = (el_i >= 0) & ~use_mu
    lpt = np.where(use_mu, mu_pt, el_pt)
    leta = np.where(use_mu, meta[np.minimum(mo[jo_evt] + np.maximum(mu_i, 0), max(len(meta) - 1, 0))]
                    if len(meta) else 0.0, eeta[np.minimum(eo[jo_evt] + np.maximum(el_i, 0), max(len(eeta) - 1, 0))]
                    if len(eeta) else 0.0)
    lphi = np.where(use_mu, mphi[np.minimum(mo[jo_evt] + np.maximum(mu_i, 0), max(len(mphi) - 1, 0))]
                    if len(mphi) else 0.0, ephi[np.minimum(eo[jo_evt] + np.maximum(el_i, 0), max(len(ephi) - 1, 0))]
                    if len(ephi) else 0.0)
    k3pt, k3eta, k3phi, _ = jets._kin(*(kt3[..., i] * so[:, None] for i in range(4)))
    dk = np.hypot(k3eta - leta[:, None], np.mod(k3phi - lphi[:, None] + np.pi, 2 * np.pi) - np.pi)
    dk = np.where(k3pt > 0, dk, np.inf)
    near = np.argmin(dk, axis=1) if n_o else np.zeros(0, np.int64)
    # a jet none of whose kT-3 subjets has pT (too few constituents) has no lsf3 (-1), as without a lepton: the
    # ratio to the 1e-9 floor had written 3e11 for 1 of 41k zll_boosted fat jets
    has_lep = (use_mu | use_el) & (np.isfinite(dk).any(axis=1) if n_o else np.zeros(0, bool))
    lsf3 = np.where(has_lep, lpt / np.maximum(k3pt[np.arange(n_o), near], 1e-9), -1.0)

    # ---- SubJet collection: the two subjets of each written jet (harder first), jet after jet
    sub_count_jet = np.where(has_sub, 2, 0)
    before = np.cumsum(sub_count_jet) - sub_count_jet  # subjets of the earlier jets of the block
    sub_idx_start = before - (before[o_off_ev[jevt[o]]] if n_o else 0)  # ... of the earlier jets of the event
    sub_idx1 = np.where(has_sub, sub_idx_start, -1)
    sub_idx2 = np.where(has_sub, sub_idx_start + 1, -1)
    rows_j = np.repeat(np.flatnonzero(has_sub), 2)
    rows_s = np.tile([0, 1], int(has_sub.sum()))
    z_sub = rng.standard_normal(len(rows_j))
    snb, snc = sub_nb[rows_j, rows_s], sub_nc[rows_j, rows_s]
    in_trk = np.abs(seta[rows_j, rows_s]) < p["deepb_eta_max"]
    sub_cols = {
        "pt": spt_raw[rows_j, rows_s] * scorr[rows_j, rows_s],
        "eta": seta[rows_j, rows_s],
        "phi": sphi[rows_j, rows_s],
        "mass": smass_raw[rows_j, rows_s] * scorr[rows_j, rows_s],
        "btagDeepB": np.where(in_trk, subjet_deepb(snb, snc, z_sub), -1.0),
        "rawFactor": 1.0 - 1.0 / scorr[rows_j, rows_s],
        **{f"tau{i + 1}": sub_tau[rows_j, rows_s, i] for i in range(4)},
        "n2b1": sub_ecf[rows_j, rows_s, 0],
        "n3b1": sub_ecf[rows_j, rows_s, 1],
        "hadronFlavour": np.where(snb > 0, 5, np.where(snc > 0, 4, 0)),
        "nBHadrons": np.minimum(snb, 255),
        "nCHadrons": np.minimum(snc, 255),
    }
    subjets = schema.cast("SubJet", ak.unflatten(ak.zip(sub_cols, depth_limit=1),
                                                 np.bincount(jo_evt[rows_j], minlength=n_ev)))

    m_idx = np.where(use_mu, mu_i, -1)
    e_idx = np.where(use_el, el_i, -1)
    cols = {
        "pt": pt[o],
        "eta": eta[o],
        "phi": phi[o],
        "mass": mass_raw[o] * corr[o],
        "msoftdrop": msd,
        "area": area[o],
        "rawFactor": 1.0 - 1.0 / corr[o],
        **{f"tau{i + 1}": tau[:, i] for i in range(4)},
        "n2b1": n2,
        "n3b1": n3,
        **tags,
        "lsf3": lsf3,
        "muonIdx3SJ": m_idx,
        "electronIdx3SJ": e_idx,
        "jetId": jetid,
        "nConstituents": np.minimum(nconst[o], 255),
        "hadronFlavour": np.where(n_b > 0, 5, np.where(n_c > 0, 4, 0)),
        "nBHadrons": np.minimum(n_b, 255),
        "nCHadrons": np.minimum(n_c, 255),
        "genJetAK8Idx": gen_idx,
        "subJetIdx1": sub_idx1,
        "subJetIdx2": sub_idx2,
    }
    ordered = {k: cols[k] for k in schema.SCHEMA["FatJet"]}
    fat = schema.cast("FatJet", ak.unflatten(ak.zip(ordered, depth_limit=1), out_counts))
    return fat, subjets
