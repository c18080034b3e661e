"""Values NanoAOD v12 writes for a fat jet (or subjet) where an algorithm does not run on it.

* ParticleNet (``particleNet_*`` mass-decorrelated scores and ``particleNet_massCorr``) runs on AK8 jets of
  raw pT > 180 GeV inside abs(eta) < 2.4; elsewhere -10 (``massCorr`` 0).
* DeepDoubleX v2 (``btagDDBvLV2``, ``btagDDCvLV2``, ``btagDDCvBV2``) and DeepCSV (``btagDeepB``, also of
  the subjets) need tracks: -1 beyond abs(eta) 2.5.
* Soft drop exists above raw pT 170 GeV: below, ``msoftdrop`` -1 and ``n2b1``/``n3b1`` -99968 (float32
  -1e5 at 10 mantissa bits); ``n3b1`` is -1 below raw pT 250 GeV.
* ``lsf3`` is -1 without a lepton inside the jet.

Values measured on ``nano_tt_v12.root`` and used by the reference detector
(``flashsim_coffea/reference/fatjets.py`` ``PARAMS``: ``pnet_raw_ptmin``, ``pnet_eta_max``, ``deepb_eta_max``,
``sd_raw_ptmin``, ``n3_raw_ptmin``, ``no_sd_default``). The flash engine never learns these values (transform
``default``, ``specs/fatjet.py``); :func:`apply` puts them back from the jet's pT, raw pT and eta.

Example:
    A 400 GeV central jet, a 175 GeV one (raw pT 171.5) and a forward 400 GeV one:

    >>> cols = {"pt": np.array([400.0, 175.0, 400.0]), "eta": np.array([0.5, 0.5, 2.45]),
    ...         "rawFactor": np.array([0.02, 0.02, 0.02]), "particleNet_XbbVsQCD": np.array([0.9, 0.2, 0.3]),
    ...         "btagDeepB": np.array([0.5, 0.4, 0.6]), "n3b1": np.array([1.2, 1.1, 0.9]),
    ...         "msoftdrop": np.array([80.0, 30.0, 170.0])}
    >>> apply(cols)
    >>> cols["particleNet_XbbVsQCD"].tolist(), cols["btagDeepB"].tolist(), cols["n3b1"].tolist()
    ([0.9, -10.0, -10.0], [0.5, 0.4, 0.6], [1.2, -1.0, 0.9])
"""

from __future__ import annotations

import numpy as np

PARAMS: dict = {
    "pnet_raw_ptmin": 180.0,  # GeV [meas nano_tt_v12: raw pT 179.9 / 181.7 around the edge]
    "pnet_eta_max": 2.4,  # [meas nano_tt_v12: max abs(eta) 2.36 with a score]
    "tracker_eta_max": 2.5,  # DDX, DeepCSV [meas nano_tt_v12: -1 at eta -3.09]
    "sd_raw_ptmin": 170.0,  # GeV, soft-drop jets exist above [meas nano_tt_v12]
    "n3_raw_ptmin": 250.0,  # GeV, n3b1 computed above [meas nano_tt_v12: -1 below, exact]
    "no_sd": -99968.0,  # float32(-1e5) at 10 mantissa bits [meas nano_tt_v12]
}

#: field -> its value where PNet does not run
PNET: dict[str, float] = {
    **{f"particleNet_{c}VsQCD": -10.0 for c in ("Xbb", "Xcc", "Xqq", "Xgg", "Xtt", "Xte", "Xtm")},
    **{f"particleNet_{c}": -10.0 for c in ("QCD", "QCD0HF", "QCD1HF", "QCD2HF")},
    "particleNet_massCorr": 0.0,
}
#: fields -1 beyond the tracker
TRACKER = ("btagDDBvLV2", "btagDDCvLV2", "btagDDCvBV2", "btagDeepB")


def apply(cols: dict[str, np.ndarray], has_lepton: np.ndarray | None = None) -> None:
    """Put NanoAOD's defaults into the fat-jet (or subjet) columns ``cols`` that hold them (in place).

    Arguments:
        cols: flat columns with ``pt``, ``eta`` and ``rawFactor`` (raw pT = pT (1 - rawFactor)).
        has_lepton: per jet, a lepton inside (``lsf3`` -1 where not); ``None``: ``lsf3`` left alone.
    """
    pt = np.asarray(cols["pt"], np.float64)
    aeta = np.abs(np.asarray(cols["eta"], np.float64))
    raw = pt * (1.0 - np.asarray(cols.get("rawFactor", np.zeros(len(pt))), np.float64))
    pnet = (raw > PARAMS["pnet_raw_ptmin"]) & (aeta < PARAMS["pnet_eta_max"])
    for name, default in PNET.items():
        if name in cols:
            cols[name] = np.where(pnet, cols[name], default)
    tracker = aeta < PARAMS["tracker_eta_max"]
    for name in TRACKER:
        if name in cols:
            cols[name] = np.where(tracker, cols[name], -1.0)
    sd = has_soft_drop(raw)
    if "msoftdrop" in cols:
        cols["msoftdrop"] = np.where(sd, cols["msoftdrop"], -1.0)
        if "n3b1" in cols:
            cols["n3b1"] = np.where(raw > PARAMS["n3_raw_ptmin"], cols["n3b1"], -1.0)
        for name in ("n2b1", "n3b1"):
            if name in cols:
                cols[name] = np.where(sd, cols[name], PARAMS["no_sd"])
    if has_lepton is not None and "lsf3" in cols:
        cols["lsf3"] = np.where(has_lepton, cols["lsf3"], -1.0)


def has_soft_drop(raw_pt):
    """Whether a fat jet of raw pT ``raw_pt`` (pT (1 - rawFactor)) has a soft-drop jet (and subjets): above
    ``PARAMS["sd_raw_ptmin"]``. numpy or awkward arrays alike.

    Example:
        >>> has_soft_drop(np.array([175.0, 180.0]) * (1.0 - np.array([0.05, 0.02]))).tolist()
        [False, True]
    """
    return raw_pt > PARAMS["sd_raw_ptmin"]
