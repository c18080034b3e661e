"""Per-event inputs of the analyses: objects, event variables, DNN features, event weight, oversampling info.

Everything here works on one chunk of events and returns numpy arrays; it runs unchanged on
FullSim events and on flash events (which carry a ``FlashSim`` record, see :func:`oversampling`).

Example:
    >>> import awkward as ak
    >>> events = ak.Array({"genWeight": [1.0, -1.0, 2.0]})
    >>> gen, k = oversampling(events)
    >>> gen.tolist(), k
    ([0, 1, 2], 1)
    >>> metadata(events), event_weight(events, DEFAULT_LUMI_FB).tolist()
    ({}, [1.0, -1.0, 2.0])
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

#: integrated luminosity (fb^-1) the event weights are normalised to by default.
DEFAULT_LUMI_FB = 300.0

#: NanoAOD branches the FullSim pass reads (:func:`select_muons`, :func:`select_jets`,
#: :func:`event_variables`); ``Jet_puId`` and ``genWeight`` are used when present.
RECO_BRANCHES = (
    "nMuon", *(f"Muon_{f}" for f in ("pt", "eta", "phi", "mass", "charge", "pfRelIso04_all", "mediumId")),
    "nJet", *(f"Jet_{f}" for f in ("pt", "eta", "phi", "mass", "jetId", "btagDeepFlavB")),
)

#: the DNN inputs (per event; both analyses use the same list).
DNN_INPUTS = ["m_ll", "pt_ll", "m_jj", "deta_jj", "pt_j1", "pt_j2", "eta_j1", "eta_j2", "btag_j1", "btag_j2", "njets"]


def oversampling(events: ak.Array) -> tuple[np.ndarray, int]:
    """(gen-event id per event, K): ``FlashSim.genEventIdx`` and ``replicas`` for flash events,
    ``arange(len(events))`` and 1 for FullSim events.

    Example:
        >>> flash = ak.Array({"FlashSim": {"genEventIdx": [0, 0, 1, 1], "replicas": [2, 2, 2, 2]}})
        >>> gen, k = oversampling(flash)
        >>> gen.tolist(), k
        ([0, 0, 1, 1], 2)
    """
    if "FlashSim" in events.fields:
        gen = np.asarray(ak.to_numpy(events.FlashSim.genEventIdx), dtype=np.int64)
        reps = np.asarray(ak.to_numpy(events.FlashSim.replicas))
        return gen, int(reps[0]) if len(reps) else 1
    return np.arange(len(events), dtype=np.int64), 1


def metadata(events: ak.Array) -> dict:
    """``events.metadata`` (flash events keep the metadata of their gen chunk); ``{}`` for plain arrays."""
    try:
        md = events.metadata
    except Exception:
        md = None
    return dict(md or {})


def event_weight(events: ak.Array, lumi_fb: float) -> np.ndarray:
    """``genWeight * xsec * lumi / sumw`` with ``xsec_pb`` and ``sumw`` from the dataset metadata.

    Without them (a bare file) the weight is ``genWeight`` (or 1) and the result is not normalised.
    """
    md = metadata(events)
    gw = np.asarray(ak.to_numpy(events.genWeight), np.float64) if "genWeight" in events.fields else np.ones(len(events))
    if md.get("xsec_pb") is None or not md.get("sumw"):
        return gw
    return gw * float(md["xsec_pb"]) * 1000.0 * float(lumi_fb) / float(md["sumw"])


#: the DeepJet medium working point the analyses cut on (UL18: 0.2783, rounded as the seed analysis does).
BTAG_MEDIUM = 0.27


def muon_cuts(mu: ak.Array) -> list[ak.Array]:
    """The muon selection as cumulative masks: pT > 20 GeV and |eta| < 2.4, + mediumId, + pfRelIso04_all < 0.25."""
    kin = (mu.pt > 20) & (abs(mu.eta) < 2.4)
    medium = kin & mu.mediumId
    return [kin, medium, medium & (mu.pfRelIso04_all < 0.25)]


def select_muons(events: ak.Array) -> ak.Array:
    """The muons passing every step of :func:`muon_cuts`."""
    mu = events.Muon
    return mu[muon_cuts(mu)[-1]]


def jet_cuts(events: ak.Array, muons: ak.Array, pt_min: float, eta_max: float) -> list[ak.Array]:
    """The jet selection as cumulative masks: pT > pt_min and |eta| < eta_max, + jetId > 0, + puId > 0 (if the
    file has it), + dR > 0.4 from every selected muon."""
    jet = events.Jet
    steps = [(jet.pt > pt_min) & (abs(jet.eta) < eta_max)]
    steps.append(steps[-1] & (jet.jetId > 0))
    steps.append(steps[-1] & (jet.puId > 0) if "puId" in jet.fields else steps[-1])
    pairs = ak.cartesian([jet, muons], nested=True)
    steps.append(steps[-1] & ~ak.any(pairs["0"].delta_r(pairs["1"]) < 0.4, axis=2))
    return steps


def select_jets(events: ak.Array, muons: ak.Array, pt_min: float, eta_max: float) -> ak.Array:
    """The jets passing every step of :func:`jet_cuts`."""
    return events.Jet[jet_cuts(events, muons, pt_min, eta_max)[-1]]


def _pad2(coll: ak.Array) -> tuple[ak.Array, ak.Array]:
    padded = ak.pad_none(coll, 2, axis=1)
    return padded[:, 0], padded[:, 1]


def _np(x: Any, fill: float = np.nan) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.fill_none(x, fill)), dtype=np.float64)


def event_variables(muons: ak.Array, jets: ak.Array) -> dict[str, np.ndarray]:
    """Per-event variables of the leading two muons and jets (NaN where missing) and the OS-dimuon flag."""
    m1, m2 = _pad2(muons)
    j1, j2 = _pad2(jets)
    ll = m1 + m2
    jj = j1 + j2
    out = {
        "m_ll": _np(ll.mass), "pt_ll": _np(ll.pt), "m_jj": _np(jj.mass), "deta_jj": _np(abs(j1.eta - j2.eta)),
        "pt_mu1": _np(m1.pt), "eta_mu1": _np(m1.eta), "pt_mu2": _np(m2.pt), "eta_mu2": _np(m2.eta),
        "pt_j1": _np(j1.pt), "eta_j1": _np(j1.eta), "pt_j2": _np(j2.pt), "eta_j2": _np(j2.eta),
        "btag_j1": _np(j1.btagDeepFlavB), "btag_j2": _np(j2.btagDeepFlavB),
        "njets": np.asarray(ak.to_numpy(ak.num(jets, axis=1)), np.float64),
        "nmuons": np.asarray(ak.to_numpy(ak.num(muons, axis=1)), np.float64),
    }
    out["os_dimuon"] = (out["nmuons"] >= 2) & (_np(m1.charge * m2.charge, 0.0) < 0)
    return out


def dnn_features(var: dict[str, np.ndarray]) -> np.ndarray:
    """The ``(N, len(DNN_INPUTS))`` DNN input matrix (NaN -> -1, i.e. a missing object).

    Example:
        >>> var = {name: np.array([1.0, np.nan]) for name in DNN_INPUTS}
        >>> dnn_features(var)[:, :3].tolist()
        [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]
    """
    x = np.stack([var[name] for name in DNN_INPUTS], axis=1)
    return np.where(np.isfinite(x), x, -1.0).astype(np.float32)
