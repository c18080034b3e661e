"""The per-object check: the analyses' object selections step by step, counted per event.

A yield that differs between flash and FullSim is the product of per-object efficiencies; this
module says which one. Each *stage* counts, per event, the objects that pass the analysis' object
cuts up to that step (muons: kinematics, ``mediumId``, ``pfRelIso04_all``; jets: kinematics,
``jetId``, ``puId``, the muon ΔR: :func:`analyses.selection.muon_cuts`, :func:`~analyses.selection.jet_cuts`;
DeepFlavB above :data:`~analyses.selection.BTAG_MEDIUM`), split by truth (muons with
and without ``genPartIdx``, jets by ``hadronFlavour``: the fields are in every MC NanoAOD, flash and
FullSim). :meth:`analyses.analysis.Analysis.fill` fills the counts per gen event with
:func:`~flashsim_coffea.oversampling.fill_oversampled`, so flash - FullSim on the same gen events
has its paired error, and :func:`rows` reads the ratio and its pull per stage: the stage where the
ratio moves names the modelled field (``pfRelIso04_all``, ``btagDeepFlavB``, ...).

Example:
    >>> import awkward as ak
    >>> from coffea.nanoevents.methods import vector
    >>> mu = ak.zip({"pt": [[30.0, 25.0]], "eta": [[0.1, 2.0]], "phi": [[0.0, 3.0]], "mass": [[0.1, 0.1]],
    ...              "mediumId": [[True, True]], "pfRelIso04_all": [[0.1, 0.4]], "genPartIdx": [[0, -1]],
    ...              "charge": [[1, -1]]}, with_name="PtEtaPhiMLorentzVector", behavior=vector.behavior)
    >>> jet = ak.zip({"pt": [[50.0, 22.0]], "eta": [[1.0, 0.5]], "phi": [[1.5, 3.0]], "mass": [[5.0, 3.0]],
    ...               "jetId": [[6, 6]], "puId": [[7, 0]], "btagDeepFlavB": [[0.9, 0.1]], "hadronFlavour": [[5, 0]]},
    ...              with_name="PtEtaPhiMLorentzVector", behavior=vector.behavior)
    >>> counts = object_counts(ak.Array({"Muon": mu, "Jet": jet}), jet_pt=20.0, jet_eta=2.5)
    >>> {k: int(v[0]) for k, v in counts.items() if v[0]}  # doctest: +NORMALIZE_WHITESPACE
    {'Muon prompt: pT, |eta|': 1, 'Muon prompt: + mediumId': 1, 'Muon prompt: + pfRelIso04_all': 1,
     'Muon other: pT, |eta|': 1, 'Muon other: + mediumId': 1,
     'Jet b: pT, |eta|': 1, 'Jet b: + jetId': 1, 'Jet b: + puId': 1, 'Jet b: + muon dR': 1, 'Jet b: + DeepFlavB M': 1,
     'Jet light: pT, |eta|': 1, 'Jet light: + jetId': 1}
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from analyses.selection import BTAG_MEDIUM, jet_cuts, muon_cuts

#: muon truth classes: a muon with a generator match, and the rest (fakes, hadron decays).
MUON_CLASSES = ("prompt", "other")
#: jet truth classes by ``hadronFlavour``.
JET_CLASSES = {"b": 5, "c": 4, "light": 0}
MUON_STEPS = ("pT, |eta|", "+ mediumId", "+ pfRelIso04_all")
JET_STEPS = ("pT, |eta|", "+ jetId", "+ puId", "+ muon dR", "+ DeepFlavB M")
#: every stage, in the order of the report's table.
STAGES = (*(f"Muon {c}: {s}" for c in MUON_CLASSES for s in MUON_STEPS),
          *(f"Jet {c}: {s}" for c in JET_CLASSES for s in JET_STEPS))


def _count(mask: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.sum(mask, axis=1)), dtype=np.float64)


def object_counts(events: ak.Array, jet_pt: float, jet_eta: float) -> dict[str, np.ndarray]:
    """Per event, the number of objects at each of :data:`STAGES` (cumulative cuts within a class).

    A class whose truth field is missing (``Muon_genPartIdx``, ``Jet_hadronFlavour``: data) counts
    nothing; a file without ``Jet_puId`` passes that step (:func:`analyses.selection.jet_cuts`).
    """
    out: dict[str, np.ndarray] = {}
    mu = events.Muon
    steps = muon_cuts(mu)
    truth = mu.genPartIdx >= 0 if "genPartIdx" in mu.fields else None
    for cls in MUON_CLASSES:
        for name, step in zip(MUON_STEPS, steps):
            key = f"Muon {cls}: {name}"
            if truth is None:
                out[key] = np.zeros(len(events))
            else:
                out[key] = _count(step & (truth if cls == "prompt" else ~truth))
    jet = events.Jet
    steps = jet_cuts(events, mu[steps[-1]], jet_pt, jet_eta)
    steps.append(steps[-1] & (jet.btagDeepFlavB > BTAG_MEDIUM))
    flav = jet.hadronFlavour if "hadronFlavour" in jet.fields else None
    for cls, value in JET_CLASSES.items():
        for name, step in zip(JET_STEPS, steps):
            key = f"Jet {cls}: {name}"
            out[key] = np.zeros(len(events)) if flav is None else _count(step & (flav == value))
    return out


def rows(fullsim, flash, diff) -> list[dict]:
    """The table of the check from the ``objects`` cutflows of a FullSim pass, a flash pass and their
    paired difference (raw counts; flash from the same gen events): per stage the counts, the ratio
    flash/FullSim, its error from the paired difference and the pull; stages FullSim never fills are left out.

    Example:
        >>> from analyses.histograms import make_cutflow
        >>> full, fl, d = (make_cutflow(["a", "b"]) for _ in range(3))
        >>> _ = full.fill(region=["a"] * 4 + ["b"] * 2), fl.fill(region=["a"] * 4 + ["b"] * 1)
        >>> _ = d.fill(region=["b"], weight=-1.0)
        >>> [(r["stage"], r["fullsim"], r["flash"], r["ratio"], r["ratio_err"]) for r in rows(full, fl, d)]
        [('a', 4.0, 4.0, 1.0, 0.0), ('b', 2.0, 1.0, 0.5, 0.5)]
    """
    out = []
    for stage in fullsim.axes["region"]:
        n_full = float(fullsim[{"region": stage}].value)
        if n_full <= 0:
            continue
        n_flash = float(flash[{"region": stage}].value)
        d = diff[{"region": stage}]
        err = float(np.sqrt(d.variance)) / n_full
        ratio = n_flash / n_full
        out.append({"stage": stage, "fullsim": n_full, "flash": n_flash, "ratio": ratio, "ratio_err": err,
                    "pull": (ratio - 1.0) / err if err > 0 else None})
    return out
