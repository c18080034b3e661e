"""Event-level quantities: the MET flavours, the primary vertex and rho, from GenMET, pileup and gen activity.

One flow learns them all together (so PF, PUPPI, raw and CHS MET, their sums, the vertex and
the rho variants keep their correlations). Every MET-like vector (:data:`RECOIL`: PF Type-1,
PUPPI, raw PF, CHS, raw PUPPI, and the fiducial GenMET NanoAOD writes beside ``MET``) is learnt as
the recoil-like residual to GenMET in the GenMET frame (``<vector>_upar`` along GenMET minus
abs(GenMET), ``<vector>_uperp`` across it), raw PF, CHS and raw PUPPI MET as differences from the
flavour they come from (:data:`RELATIVE`: ``<vector>_dpar``, ``_dperp``); the PUPPI MET variations (:data:`SHIFTS`: JES, JER,
unclustered energy up and down) likewise as their differences from the PUPPI MET (``PuppiMET_dpar<v>``,
``PuppiMET_dperp<v>``; model sets before the twentieth learnt ``PuppiMET_dpt<v>`` and ``PuppiMET_dphi<v>``, a
pT shift that needed a clip at 0: 0.5 % of the flash zh events had ``PuppiMET_ptJERUp`` exactly 0, FullSim
none; both read back). :func:`to_targets` computes those from the NanoAOD branches
(training), :func:`from_targets` turns flow samples back into the branches (engine).

The conditioning adds the GenJets' share of the MET covariance at a nominal jet resolution (lab
frame and GenMET frame, :func:`flashsim_coffea.sim.features.event_context`), the muons beyond the
muon acceptance (reco MET that GenMET does not have), and ``nPU`` with the soft GenJet counts, which
drive rho (grid median of the pileup and underlying-event pT density), the vertex counts and fit,
the unclustered share of the covariance and the PUPPI/CHS sums; and the two terms of ``PV_score``
(Σ pT² of the prompt leptons and of the GenJets in the tracker, ``log_lep_sumpt2``,
``log_jet_sumpt2``): without them the flow's ``PV_score`` came out at half of FullSim's median in
VBF H → μμ, whose two hard muons the other features do not see; and the central GenJets' Σ log pT per
flavour (``logpt_b``, ``logpt_gluon``, ``logpt_quark``, ``logpt_unflavoured``), the hard event's tracks in the
vertex fit (``PV_ndof``: gluon jets carry more of them than quark jets of the same pT).

Not learnt here: ``Pileup_*`` (the generator's pileup summary: copied from the gen input, as far as
it carries them), ``HLT_*`` and ``Flag_*`` (derived from the flash objects, ``sim/derive.py``).
``CorrT1METJet`` (jets below 15 GeV that Type-1 MET corrects) is not simulated: the flash Type-1 MET
is learnt directly, and a jagged soft-jet collection needs its own source.

Example:
    >>> EVENT.key, EVENT.candidates, list(EVENT.targets)[:4], len(EVENT.targets)
    ('Event_event', None, ['MET_upar', 'MET_uperp', 'MET_sumEt', 'MET_significance'], 50)

    A reco MET of 50 GeV at phi 0 and a GenMET of 40 GeV at phi 0: 10 GeV along, 0 across;
    and back:

    >>> t = to_targets({"MET_pt": np.array([50.0]), "MET_phi": np.zeros(1)}, np.array([40.0]), np.zeros(1))
    >>> t
    {'MET_upar': array([10.]), 'MET_uperp': array([0.])}
    >>> from_targets(t, np.array([40.0]), np.zeros(1))
    {'MET_pt': array([50.]), 'MET_phi': array([0.])}

    Raw MET 30 GeV across GenMET: its difference from MET is (-50, 30) in the GenMET frame, and back:

    >>> b = {"MET_pt": np.array([50.0]), "MET_phi": np.zeros(1), "RawMET_pt": np.array([30.0]),
    ...      "RawMET_phi": np.array([np.pi / 2])}
    >>> t = to_targets(b, np.array([40.0]), np.zeros(1))
    >>> [round(float(t[k][0]), 6) for k in ("RawMET_dpar", "RawMET_dperp")]
    [-50.0, 30.0]
    >>> back = from_targets({k: t[k] for k in ("MET_upar", "MET_uperp", "RawMET_dpar", "RawMET_dperp")},
    ...                     np.array([40.0]), np.zeros(1))
    >>> [round(float(back[k][0]), 6) for k in ("RawMET_pt", "RawMET_phi")]
    [30.0, 1.570796]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flashsim_coffea.nanoaod.angles import wrap_phi
from flashsim_coffea.specs.source import Source

#: MET-like vector -> its (pT, phi) branches; learnt as ``<vector>_upar``, ``<vector>_uperp`` (but :data:`RELATIVE`).
RECOIL: dict[str, tuple[str, str]] = {
    "MET": ("MET_pt", "MET_phi"),
    "MET_fiducialGen": ("MET_fiducialGenPt", "MET_fiducialGenPhi"),
    "PuppiMET": ("PuppiMET_pt", "PuppiMET_phi"),
    "RawMET": ("RawMET_pt", "RawMET_phi"),
    "ChsMET": ("ChsMET_pt", "ChsMET_phi"),
    "RawPuppiMET": ("RawPuppiMET_pt", "RawPuppiMET_phi"),
}
#: MET flavours learnt relative to another (in dependency order): ``<vector>_dpar`` / ``_dperp``, its difference
#: from the base vector in the GenMET frame. Raw PF MET is Type-1 MET before the jet corrections, CHS MET raw
#: MET without the charged pileup, raw PUPPI MET PUPPI MET before its jets' corrections: as separate recoils the
#: flow lost those relations (zh 20k, gradient-boosted: RawPuppiMET_pt with PuppiMET_pt told flash apart at
#: +0.02 AUC over the two alone). Model sets trained before learnt them as recoils (both still read back).
RELATIVE: dict[str, str] = {"RawMET": "MET", "ChsMET": "RawMET", "RawPuppiMET": "PuppiMET"}
#: PUPPI MET variations, learnt as ``PuppiMET_dpar<v>`` / ``PuppiMET_dperp<v>``: the varied vector less ``PuppiMET``
#: in the GenMET frame (``PuppiMET_dpt<v>`` / ``PuppiMET_dphi<v>`` in earlier model sets, :data:`LEGACY_SHIFTS`).
SHIFTS: tuple[str, ...] = tuple(f"{s}{d}" for s in ("JER", "JES", "Unclustered") for d in ("Up", "Down"))
LEGACY_SHIFTS: tuple[str, ...] = tuple(f"PuppiMET_d{v}{s}" for s in SHIFTS for v in ("pt", "phi"))

_PLAIN = {"kind": "plain"}
_LOG = {"kind": "log", "offset": 0.0}


def _recoil(name: str) -> dict:
    return {f"{name}_upar": _PLAIN, f"{name}_uperp": _PLAIN}


def _relative(name: str) -> dict:
    return {f"{name}_dpar": _PLAIN, f"{name}_dperp": _PLAIN}


EVENT = Source(
    collection="",
    name="event",
    candidates=None,
    conditioning=[
        "nTrueInt", "nPU", "nGenJet10", "nGenJet10_central", "HT", "nGenJet", "GenMET_pt",
        "jet_cxx", "jet_cxy", "jet_cyy", "jet_cpar", "jet_cperp", "hadjet_cxx", "hadjet_cxy", "hadjet_cyy",
        "fwdmu_par", "fwdmu_perp", "log_lep_sumpt2", "log_jet_sumpt2",
        "logpt_b", "logpt_gluon", "logpt_quark", "logpt_unflavoured",
    ],
    targets={
        **_recoil("MET"),
        "MET_sumEt": _LOG,
        "MET_significance": {"kind": "log", "offset": 1e-3},
        "MET_covXX": _LOG,
        # symmetric about 0, quartiles +-38 GeV^2, tails to +-200: asinh at 100 GeV^2 is one near-Gaussian peak
        # (kurtosis 3.4); at 10 it made two humps at +-40 and a dip at 0, which the flow blurred (zh 240k: core
        # too narrow, tails too long, W1/sigma 0.24)
        "MET_covXY": {"kind": "asinh", "scale": 100.0},
        "MET_covYY": _LOG,
        "PV_npvs": {"kind": "integer"},
        "PV_npvsGood": {"kind": "integer"},
        "PV_z": _PLAIN,
        "Rho_fixedGridRhoFastjetAll": _PLAIN,
        "Rho_fixedGridRhoFastjetCentral": _PLAIN,
        # the v12 fields beyond the first model set
        "MET_MetUnclustEnUpDeltaX": _PLAIN,
        "MET_MetUnclustEnUpDeltaY": _PLAIN,
        "MET_sumPtUnclustered": _LOG,
        **_recoil("MET_fiducialGen"),
        **_recoil("PuppiMET"),
        "PuppiMET_sumEt": _LOG,
        **{f"PuppiMET_d{v}{s}": _PLAIN for s in SHIFTS for v in ("par", "perp")},
        **{k: v for m in RELATIVE for k, v in {**_relative(m), f"{m}_sumEt": _LOG}.items()},
        "PV_x": _PLAIN,
        "PV_y": _PLAIN,
        "PV_chi2": _PLAIN,
        "PV_ndof": _LOG,
        "PV_score": _LOG,
        "Rho_fixedGridRhoAll": _PLAIN,
        "Rho_fixedGridRhoFastjetCentralCalo": _PLAIN,
        "Rho_fixedGridRhoFastjetCentralChargedPileUp": _PLAIN,
        "Rho_fixedGridRhoFastjetCentralNeutral": _PLAIN,
    },
)

SOURCES = [EVENT]

#: the targets that are residuals (:func:`to_targets`), not NanoAOD branches.
RESIDUALS: tuple[str, ...] = (*(f"{n}_{c}" for n in RECOIL for c in ("upar", "uperp")),
                              *(f"{n}_{c}" for n in RELATIVE for c in ("dpar", "dperp")),
                              *(f"PuppiMET_d{v}{s}" for s in SHIFTS for v in ("par", "perp")), *LEGACY_SHIFTS)
#: the NanoAOD branches the targets come from (read for training).
BRANCHES: tuple[str, ...] = tuple(dict.fromkeys([
    *(t for t in EVENT.targets if t not in RESIDUALS), *(b for pair in RECOIL.values() for b in pair),
    *(f"PuppiMET_{v}{s}" for s in SHIFTS for v in ("pt", "phi")),
]))


def to_targets(branches: Mapping[str, np.ndarray], gen_pt: np.ndarray, gen_phi: np.ndarray) -> dict[str, np.ndarray]:
    """The residual targets (recoils to GenMET, PUPPI shifts) of the vectors ``branches`` holds.

    Arguments:
        branches: NanoAOD event-level branches (a dict of arrays or a record array); vectors whose
            branches are absent are left out.
        gen_pt, gen_phi: GenMET per event.

    Returns:
        target name -> float64 array. Example in the module docstring.
    """
    have = set(branches.fields if hasattr(branches, "fields") else branches)
    gen_pt, gen_phi = np.asarray(gen_pt, np.float64), np.asarray(gen_phi, np.float64)
    out = {}
    for name, (pt_b, phi_b) in RECOIL.items():
        if pt_b in have and phi_b in have:
            pt, phi = np.asarray(branches[pt_b], np.float64), np.asarray(branches[phi_b], np.float64)
            out[f"{name}_upar"] = pt * np.cos(phi - gen_phi) - gen_pt
            out[f"{name}_uperp"] = pt * np.sin(phi - gen_phi)
    for name, base in RELATIVE.items():
        if f"{name}_upar" in out and f"{base}_upar" in out:
            out[f"{name}_dpar"] = out[f"{name}_upar"] - out[f"{base}_upar"]
            out[f"{name}_dperp"] = out[f"{name}_uperp"] - out[f"{base}_uperp"]
    for s in SHIFTS:
        pt_b, phi_b = f"PuppiMET_pt{s}", f"PuppiMET_phi{s}"
        if {pt_b, phi_b} <= have and "PuppiMET_upar" in out:
            pt, phi = np.asarray(branches[pt_b], np.float64), np.asarray(branches[phi_b], np.float64)
            out[f"PuppiMET_dpar{s}"] = pt * np.cos(phi - gen_phi) - gen_pt - out["PuppiMET_upar"]
            out[f"PuppiMET_dperp{s}"] = pt * np.sin(phi - gen_phi) - out["PuppiMET_uperp"]
    return out


def from_targets(out: dict[str, np.ndarray], gen_pt: np.ndarray, gen_phi: np.ndarray) -> dict[str, np.ndarray]:
    """The NanoAOD branches from flow samples: the residual targets of ``out`` are replaced (in place)
    by the vectors' pT and phi; returns ``out``. Example in the module docstring.
    """
    gen_pt, gen_phi = np.asarray(gen_pt, np.float64), np.asarray(gen_phi, np.float64)
    frame = {}  # each vector's (along, across) GenMET, for the ones relative to it
    for name in RECOIL:
        if f"{name}_upar" in out:
            frame[name] = (gen_pt + np.asarray(out.pop(f"{name}_upar"), np.float64),
                           np.asarray(out.pop(f"{name}_uperp"), np.float64))
    for name, base in RELATIVE.items():
        if f"{name}_dpar" in out:
            frame[name] = (frame[base][0] + np.asarray(out.pop(f"{name}_dpar"), np.float64),
                           frame[base][1] + np.asarray(out.pop(f"{name}_dperp"), np.float64))
    for s in SHIFTS:  # the PUPPI variations: (pT, phi) branches of their own
        if f"PuppiMET_dpar{s}" in out:
            frame[s] = (frame["PuppiMET"][0] + np.asarray(out.pop(f"PuppiMET_dpar{s}"), np.float64),
                        frame["PuppiMET"][1] + np.asarray(out.pop(f"PuppiMET_dperp{s}"), np.float64))
    for name, (par, perp) in frame.items():
        pt_b, phi_b = RECOIL[name] if name in RECOIL else (f"PuppiMET_pt{name}", f"PuppiMET_phi{name}")
        out[pt_b], out[phi_b] = np.hypot(par, perp), wrap_phi(gen_phi + np.arctan2(perp, par))
    for s in SHIFTS:  # model sets before the twentieth: pT and phi shifts
        if f"PuppiMET_dpt{s}" in out:
            out[f"PuppiMET_pt{s}"] = np.maximum(np.asarray(out["PuppiMET_pt"]) + out.pop(f"PuppiMET_dpt{s}"), 0.0)
            out[f"PuppiMET_phi{s}"] = wrap_phi(np.asarray(out["PuppiMET_phi"]) + out.pop(f"PuppiMET_dphi{s}"))
    return out
