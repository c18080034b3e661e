"""DeepJet-like flavour-tagging scores of the reference detector.

:func:`tag_scores` draws ``btagDeepFlavB``, ``CvL``, ``CvB``, ``QG`` from latent
Gaussian scores mapped through a logistic function. The latent b score is

    y_b = mu_f + k_disp * min(n_disp, 4) + k_lep * (soft lepton) - k_eta * abs(eta) + N(0, s_f)

where ``f`` is the hadron flavour (5, 4, 0) and ``n_disp`` the number of tracks in the
jet with pT > 1 GeV and |d0|/sigma > 3 (:mod:`pflow`): detector-level *hidden*
information (B/C decay lengths, track efficiency, IP resolution and tails) that gen
NanoAOD does not carry. Parameters are tuned so that the DeepJet UL18 medium WP
(0.2783) gives b ~0.80, c ~0.15, light ~0.01 (pT > 30, abs(eta) < 2.5) and the shape
follows the nano_tt_v12 fractions (notes section 8). Scores live in [0.0016, 0.9995]
and carry 10 mantissa bits like NanoAOD. Beyond the tracker (abs(eta) > 2.5) DeepJet
has no track input: low flavour-blind values as measured (B median 0.06 at 2.5-3,
0.027 beyond 3; CvL ~0.06-0.1; CvB ~0.55-0.7; QG ~0.35-0.48) [meas] nano_tt_v12.

:func:`run3_scores` draws the v12 ParticleNet (``btagPNet*``) and RobustParTAK4
(``btagRobustParTAK4*``) scores on the same latents, each with its own share of noise, so
they correlate with DeepJet as the real taggers do and separate b from light jets better;
PNet's ``TauVJet`` reads the jet's hadronic-tau content. They run on jets with raw pT >= 15
GeV in the tracker (PNet's ``QvG`` also forward) and carry NanoAOD's -1 / -3 / -10 elsewhere.

Example:
    A b jet with three displaced tracks and a soft lepton, a c jet, a light (gluon) jet,
    and a light jet beyond the tracker:

    >>> jets = {"pt": np.array([60.0, 60.0, 60.0, 60.0]), "eta": np.array([0.5, 0.5, 0.5, 3.5]),
    ...         "hadronFlavour": np.array([5, 4, 0, 0]), "partonFlavour": np.array([5, 4, 21, 1])}
    >>> extras = {"n_disp": np.array([3, 1, 0, 0]), "n_softlep": np.array([1, 0, 0, 0]),
    ...           "n_const": np.array([20, 15, 25, 10])}
    >>> scores = tag_scores(jets, np.random.default_rng(1), extras)
    >>> scores["btagDeepFlavB"]
    array([0.9865741 , 0.25450373, 0.01806707, 0.015965  ], dtype=float32)
    >>> scores["btagDeepFlavCvB"]
    array([0.01303235, 0.6977803 , 0.7505462 , 0.68985105], dtype=float32)

References:
    E. Bols et al., "Jet flavour classification using DeepJet", JINST 15 (2020) P12012,
    arXiv:2008.10519; CMS, JINST 13 (2018) P05011, arXiv:1712.07158.
"""

from __future__ import annotations

import numpy as np

from flashsim_coffea.nanoaod import jet_defaults

PARAMS: dict = {
    # latent b score per hadron flavour: mean, width [derived, tuned to notes section 8]
    "mu_b": {5: -1.5, 4: -3.6, 0: -4.3},
    "sigma_b": {5: 1.8, 4: 1.4, 0: 1.3},
    "k_disp": 1.5,  # per displaced track (max 4)
    "k_lep": 0.8,  # soft lepton in the jet
    "k_eta": 0.25,  # per unit abs(eta): tracking degrades forward [mem]
    # latent c-vs-light and gluon-vs-quark scores
    "mu_cvl": {5: 1.5, 4: 0.3, 0: -2.3},
    "sigma_cvl": {5: 1.2, 4: 1.6, 0: 1.0},
    "mu_qg_gluon": 1.0,
    "mu_qg_quark": -0.4,
    "sigma_qg": 1.1,
    "k_qg_nconst": 0.04,  # more constituents -> more gluon-like [mem]
    # outside the tracker [meas] nano_tt_v12 medians / spreads in logit space
    "fwd_b": ((2.5, -2.75, 0.9), (3.0, -3.6, 0.4)),  # (eta_min, mu, sigma)
    "fwd_cvl": (-2.6, 0.45),
    "fwd_cvb": (0.5, 0.5),
    "fwd_qg": (-0.5, 0.6),
    "clip": (0.0016, 0.9995),  # [meas] DeepJet range
    # ---- Run-3 taggers, ParticleNet AK4 (btagPNet*) and RobustParTAK4 (btagRobustParTAK4*), drawn on
    # DeepJet's latents (run3_scores): y_T = y_det + shift_T[flav] + sigma[flav] (rho_T z_DeepJet + sqrt(1 -
    # rho_T^2) z_T). The shared part is the jet's evidence (displaced tracks, soft lepton, the common draw:
    # track and vertex details all three read); RobustParT reads DeepJet's own inputs (cms-sw/cmssw PR
    # #41275 [code]), PNet the PF candidates + SVs of MiniAOD [code: RecoBTag/ONNXRuntime], so it is
    # less correlated. Graph / transformer taggers separate b from light better than DeepJet (CMS,
    # arXiv:2412.05863 [abs]). The b latents are stretched (gain) about the light-jet median (pivot): b jets
    # pile up at 1 more than DeepJet's ([meas] 34% of RobustParT b scores at the 0.9995 maximum, 11% for
    # DeepJet, 7% for PNet). Shifts tuned [derived] on 800 reference ttbar events (pT > 20, abs(eta) < 2.5)
    # to: the light-jet logit median above DeepJet's by 0.17 (PNet) / 0.06 (RobustParT) [meas]; at DeepJet's
    # 2% light mistag b eff +0.015 (PNet) / +0.03 (RobustParT) over DeepJet's (CMS notes above: better b vs
    # light; nano_tt_v12's 620 light jets cannot resolve it, 0.83 / 0.89 / 0.91 at 2%) and c eff x 0.4 /
    # x 0.85 ([meas] 0.10 / 0.28 / 0.28). rho: Spearman with DeepJet B within b / c / light jets 0.87 /
    # 0.82 / 0.40 (PNet), 0.93 / 0.92 / 0.91 (RobustParT) [meas]; CvL / QG: logit Pearson with DeepJet 0.89
    # / 0.96 (CvL), -0.71 (PNet QvG) / 0.91 (QG) and the logit-median shifts per flavour [meas]. Check, at
    # the Summer22 medium WPs (pT > 30): PNet 0.245 b 0.90 / c 0.12 / light 0.029, RobustParT 0.4319 0.87 /
    # 0.15 / 0.007; [meas] nano_tt_v12 0.894 / 0.148 / 0.045 and 0.878 / 0.18 / 0.012 (notes section 8)
    "pnet_b": {"shift": {5: 0.44, 4: -0.95, 0: 0.22}, "rho": {5: 0.72, 4: 0.72, 0: 0.35}, "gain": 1.1, "pivot": -4.0},
    "pnet_cvl": {"shift": {5: 0.8, 4: 1.7, 0: 0.75}, "rho": {5: 0.7, 4: 0.7, 0: 0.5}},
    "pnet_qg": {"shift": {21: -0.35, 1: -0.3}, "rho": 0.62},  # QvG = 1 - sig(y): quark-high [code]
    "part_b": {"shift": {5: 0.29, 4: -0.09, 0: 0.14}, "rho": {5: 0.8, 4: 0.88, 0: 0.9}, "gain": 1.15, "pivot": -4.0},
    "part_cvl": {"shift": {5: 0.05, 4: 0.5, 0: 0.0}, "rho": {5: 0.88, 4: 0.88, 0: 0.88}},
    "part_qg": {"shift": {21: 0.0, 1: -0.15}, "rho": 0.88},
    # PNet tau-vs-jet: y = mu[flav] + k_tau x (pT fraction of the jet from hadronic-tau decay products)
    # + k_nconst x ln(nConstituents / 12) + sigma z [meas] logit medians nano_tt_v12: light -6.7, c -6.6,
    # b -7.4, jets of hadronic taus +2.3; Spearman with nConstituents -0.62 (light)
    "pnet_tau": {"mu": {5: -6.4, 4: -6.0, 0: -6.8}, "k_tau": 9.0, "k_nconst": -3.5, "sigma": 1.6},
    # beyond the tracker only PNet's forward model runs (QvG and the regression) [code: jetsAK4_Puppi_cff.py]:
    # [meas] logit QvG median -0.83, spread 0.6; gluon -0.94, quark -0.51
    "pnet_fwd_qvg": {"mu": -0.85, "quark": 0.4, "sigma": 0.6, "rho": 0.5},
    # where the taggers run (raw pT, abs(eta)) and their values elsewhere: NanoAOD's, in nanoaod/jet_defaults.py
    "run3_clip": (1e-6, 0.9995),  # [meas] PNet / RobustParT ranges (CvB down to 7e-7)
}


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _by_flav(table: dict, flav: np.ndarray) -> np.ndarray:
    return np.select([flav == 5, flav == 4], [table[5], table[4]], table[0])


def tag_scores(jets: dict, rng: np.random.Generator, extras: dict, latent: dict | None = None) -> dict[str, np.ndarray]:
    """DeepJet-like scores per jet.

    Arguments:
        jets: flat ``pt eta hadronFlavour partonFlavour`` arrays.
        rng: the random generator.
        extras: the hidden flat ``n_disp`` (displaced tracks), ``n_softlep`` (soft leptons),
            ``n_const`` (constituents) of each jet.
        latent: if a dict, it receives the latent scores (their deterministic parts
            ``b_det cvl_det qg_det``, widths ``sigma_b sigma_cvl``, the normal draws ``z``):
            :func:`run3_scores` builds the PNet and RobustParT scores on them.

    Returns:
        ``btagDeepFlavB``, ``btagDeepFlavCvL``, ``btagDeepFlavCvB``, ``btagDeepFlavQG``
        (float32). Example in the module docstring.
    """
    flav = np.asarray(jets["hadronFlavour"])
    aeta = np.abs(np.asarray(jets["eta"]))
    n = len(flav)
    z = rng.standard_normal((4, n))
    p = PARAMS
    b_det = (
        _by_flav(p["mu_b"], flav)
        + p["k_disp"] * np.minimum(extras["n_disp"], 4)
        + p["k_lep"] * (extras["n_softlep"] > 0)
        - p["k_eta"] * aeta
    )
    yb = b_det + _by_flav(p["sigma_b"], flav) * z[0]
    cvl_det = _by_flav(p["mu_cvl"], flav) + 0.3 * np.minimum(extras["n_disp"], 3)
    ycvl = cvl_det + _by_flav(p["sigma_cvl"], flav) * z[1]
    gluon = np.abs(np.asarray(jets["partonFlavour"])) == 21
    qg_det = np.where(gluon, p["mu_qg_gluon"], p["mu_qg_quark"]) + p["k_qg_nconst"] * (extras["n_const"] - 15)
    yqg = qg_det + p["sigma_qg"] * z[2]
    if latent is not None:
        latent.update(
            b_det=b_det,
            cvl_det=cvl_det,
            qg_det=qg_det,
            sigma_b=_by_flav(p["sigma_b"], flav),
            sigma_cvl=_by_flav(p["sigma_cvl"], flav),
            z=z,
        )
    pb = _sig(yb)
    cvl = _sig(ycvl)
    # probabilities: b, c = (1-b) cvl, light = (1-b)(1-cvl)
    pc = (1 - pb) * cvl
    cvb = pc / np.maximum(pc + pb, 1e-12)
    qg = _sig(yqg)
    # beyond the tracker: flavour-blind low values
    fwd = aeta >= 2.5
    (e1, mu1, s1), (e2, mu2, s2) = p["fwd_b"]
    mu_f = np.where(aeta >= e2, mu2, mu1)
    s_f = np.where(aeta >= e2, s2, s1)
    pb = np.where(fwd, _sig(mu_f + s_f * z[0]), pb)
    cvl = np.where(fwd, _sig(p["fwd_cvl"][0] + p["fwd_cvl"][1] * z[1]), cvl)
    cvb = np.where(fwd, _sig(p["fwd_cvb"][0] + p["fwd_cvb"][1] * z[3]), cvb)
    qg = np.where(fwd, _sig(p["fwd_qg"][0] + p["fwd_qg"][1] * z[2]), qg)
    lo, hi = p["clip"]
    out = {}
    for name, v in (("btagDeepFlavB", pb), ("btagDeepFlavCvL", cvl), ("btagDeepFlavCvB", cvb), ("btagDeepFlavQG", qg)):
        out[name] = np.clip(v, lo, hi).astype(np.float32)
    return out


def _shared(det, sigma, z_shared, z_own, shift, rho, gain=1.0, pivot=0.0):
    """A tagger's latent on DeepJet's: same evidence, partly shared noise, stretched by ``gain`` about ``pivot``."""
    y = det + shift + sigma * (rho * z_shared + np.sqrt(1.0 - rho**2) * z_own)
    return pivot + gain * (y - pivot)


def run3_scores(jets: dict, extras: dict, latent: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """ParticleNet AK4 and RobustParTAK4 scores, correlated with DeepJet (see ``PARAMS``).

    Arguments:
        jets: flat ``eta hadronFlavour partonFlavour pt_raw`` arrays.
        extras: the hidden flat ``n_const`` and ``tau_frac`` (pT fraction of the jet carried by
            hadronic-tau decay products) of each jet.
        latent: the latents :func:`tag_scores` filled; receives ``pnet_pb`` and ``pnet_pc``
            (PNet's b and c probabilities, NaN where PNet does not run) for the regression.
        rng: the random generator.

    Returns:
        ``btagPNetB btagPNetCvL btagPNetCvB btagPNetQvG btagPNetTauVJet btagRobustParTAK4B
        btagRobustParTAK4CvL btagRobustParTAK4CvB btagRobustParTAK4QG`` (float32).

    Example:
        The b, c and light jets of the module example, plus a central jet below 15 GeV raw
        (no tagger runs: -1, -10, -3) and the forward jet (only PNet's forward QvG):

        >>> jets = {"pt": np.array([60.0, 60.0, 60.0, 14.0, 60.0]), "eta": np.array([0.5, 0.5, 0.5, 0.5, 3.5]),
        ...         "hadronFlavour": np.array([5, 4, 0, 0, 0]), "partonFlavour": np.array([5, 4, 21, 1, 1]),
        ...         "pt_raw": np.array([55.0, 55.0, 55.0, 12.0, 40.0])}
        >>> extras = {"n_disp": np.array([3, 1, 0, 0, 0]), "n_softlep": np.array([1, 0, 0, 0, 0]),
        ...           "n_const": np.array([20, 15, 25, 8, 10]), "tau_frac": np.zeros(5)}
        >>> lat = {}
        >>> dj = tag_scores(jets, np.random.default_rng(1), extras, latent=lat)
        >>> s = run3_scores(jets, extras, lat, np.random.default_rng(2))
        >>> [round(float(v), 3) for v in s["btagPNetB"]], [round(float(v), 3) for v in s["btagRobustParTAK4B"]]
        ([0.997, 0.061, 0.01, -1.0, -1.0], [0.996, 0.382, 0.014, -3.0, -3.0])
        >>> [round(float(v), 3) for v in s["btagPNetQvG"]]
        [0.41, 0.645, 0.434, -10.0, 0.451]
    """
    p = PARAMS
    flav = np.asarray(jets["hadronFlavour"])
    aeta = np.abs(np.asarray(jets["eta"]))
    n = len(flav)
    z = rng.standard_normal((8, n))
    zd = latent["z"]
    gluon = np.abs(np.asarray(jets["partonFlavour"])) == 21
    runs = np.asarray(jets["pt_raw"]) >= jet_defaults.PARAMS["tagger_raw_ptmin"]
    central = runs & (aeta < jet_defaults.PARAMS["tagger_eta_max"])
    lo, hi = p["run3_clip"]

    def fl(table):
        return _by_flav(table, flav) if isinstance(table, dict) else table

    def qg_shift(table):
        return np.where(gluon, table[21], table[1])

    def probs(tag, k):
        pb_ = p[tag + "_b"]
        yb = _shared(
            latent["b_det"], latent["sigma_b"], zd[0], z[k], fl(pb_["shift"]), fl(pb_["rho"]), pb_["gain"], pb_["pivot"]
        )
        ycvl = _shared(
            latent["cvl_det"], latent["sigma_cvl"], zd[1], z[k + 1], fl(p[tag + "_cvl"]["shift"]),
            fl(p[tag + "_cvl"]["rho"]),
        )
        yqg = _shared(latent["qg_det"], p["sigma_qg"], zd[2], z[k + 2], qg_shift(p[tag + "_qg"]["shift"]),
                      p[tag + "_qg"]["rho"])
        pb, cvl = _sig(yb), _sig(ycvl)
        pc = (1 - pb) * cvl
        return pb, cvl, pc / np.maximum(pc + pb, 1e-12), _sig(yqg), pc

    out = {}
    def put(name, value, mask):  # NanoAOD's value where the tagger does not run (nanoaod/jet_defaults.py)
        v = np.clip(value, lo, hi)
        out[name] = np.where(mask, v, jet_defaults.TAGGERS[name][0]).astype(np.float32)

    pb, cvl, cvb, qg, pc = probs("pnet", 0)
    put("btagPNetB", pb, central)
    put("btagPNetCvL", cvl, central)
    put("btagPNetCvB", cvb, central)
    f = p["pnet_fwd_qvg"]
    quark = ~gluon & (np.asarray(jets["partonFlavour"]) != 0)
    y_fwd = f["mu"] + f["quark"] * quark + f["sigma"] * (-f["rho"] * zd[2] + np.sqrt(1 - f["rho"] ** 2) * z[6])
    qvg = np.where(central, 1.0 - qg, _sig(y_fwd))
    put("btagPNetQvG", qvg, runs)
    t = p["pnet_tau"]
    y_tau = (
        fl(t["mu"])
        + t["k_tau"] * np.asarray(extras["tau_frac"])
        + t["k_nconst"] * np.log(np.maximum(extras["n_const"], 1) / 12.0)
        + t["sigma"] * z[7]
    )
    v = np.clip(_sig(y_tau), 1e-7, hi)
    out["btagPNetTauVJet"] = np.where(central, v, jet_defaults.TAGGERS["btagPNetTauVJet"][0]).astype(np.float32)
    latent["pnet_pb"] = np.where(central, pb, np.nan)
    latent["pnet_pc"] = np.where(central, pc, np.nan)
    pb, cvl, cvb, qg, _ = probs("part", 3)
    put("btagRobustParTAK4B", pb, central)
    put("btagRobustParTAK4CvL", cvl, central)
    put("btagRobustParTAK4CvB", cvb, central)
    put("btagRobustParTAK4QG", qg, central)
    return {k: out[k] for k in sorted(out, key=_ORDER.index)}


_ORDER = [
    "btagPNetB", "btagPNetCvL", "btagPNetCvB", "btagPNetQvG", "btagPNetTauVJet",
    "btagRobustParTAK4B", "btagRobustParTAK4CvL", "btagRobustParTAK4CvB", "btagRobustParTAK4QG",
]
