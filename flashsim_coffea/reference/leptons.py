"""What every lepton-like reco collection of the reference detector shares (muons, electrons, photons).

Each starts from the flat truth arrays of the block (:func:`truth_flat`), draws its hadron fakes
from the same hard-event pi/K (:func:`hadron_candidates`), measures tracks with one impact-parameter
resolution (:func:`impact_parameters`, :data:`PARAMS`), links to the truth (:func:`gen_flavour`)
and to the jets (``jetIdx`` within ``PARAMS["jet_dr"]``), and is written out pT-ordered in the
NanoAOD schema (:func:`finish`).

Example:
    The four muons above 10 GeV of two Z -> mumu events are prompt (``genPartFlav`` 1):

    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> from flashsim_coffea.reference.truth import make_truth
    >>> truth = make_truth(generate_block("dy_mumu", n=2, seed=1))
    >>> t = truth_flat(truth)
    >>> t["n_ev"], len(t["pt"])
    (2, 1142)
    >>> mu = np.flatnonzero((np.abs(t["pdgId"]) == 13) & (t["pt"] > 10))
    >>> t["evt"][mu], t["pdgId"][mu]
    (array([0, 0, 1, 1]), array([-13,  13, -13,  13], dtype=int32))
    >>> gen_flavour(truth, t["evt"][mu], t["genPartIdx"][mu])
    array([1, 1, 1, 1])
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import schema
from flashsim_coffea.nanoaod.derived import gen_part_flav

PARAMS: dict = {
    # impact parameter resolutions (mm): sigma = sqrt(a^2 + (b/pT)^2) x eta factor + PV term;
    # d0 ~10 um @100 GeV, 25-90 um @1-10 GeV; z0 ~30 um @100 GeV, 45-150 um [arXiv:1405.6569]
    "d0_a_mm": 0.008,
    "d0_b_mm": 0.085,
    "d0_eta": 0.3,  # (1 + c abs(eta)) [mem]
    "z0_a_mm": 0.030,
    "z0_b_mm": 0.140,
    "z0_eta": 0.5,  # (1 + c eta^2) [mem]
    "pv_res_mm": 0.005,  # PV resolution: 10-12 um [arXiv:1405.6569], better for ttbar-like PVs [mem]
    "ip_tail_frac": 0.03,  # [mem] as pflow
    "ip_tail_scale": 3.0,
    "jet_dr": 0.4,  # jetIdx: jet within dR 0.4 [mem] (NanoAOD uses the jet owning the PF muon)
}


def _flat(a: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(a)))


def truth_flat(truth: ak.Array) -> dict[str, np.ndarray]:
    """Flat arrays of ``truth.particles`` with ``evt`` (event index), ``idx`` (flat index)
    and ``n_ev`` (the number of events). Example in the module docstring."""
    p = truth.particles
    n = np.asarray(ak.num(p))
    fields = (
        "pt", "eta", "phi", "px", "py", "pz", "energy", "pdgId", "charge", "vx", "vy", "vz", "statusFlags", "genPartIdx",
    )
    out = {f: _flat(p[f]) for f in fields}
    out["evt"] = np.repeat(np.arange(len(n)), n)
    out["idx"] = np.arange(int(n.sum()))
    out["n_ev"] = len(n)
    return out


def gen_flavour(truth: ak.Array, evt: np.ndarray, gen_idx: np.ndarray, conversions: bool = False) -> np.ndarray:
    """NanoAOD ``genPartFlav`` (:func:`flashsim_coffea.nanoaod.derived.gen_part_flav`) of ``truth.GenPart``.

    Arguments:
        truth: the truth record.
        evt: event index of each object.
        gen_idx: its ``GenPart`` index in the event (-1: unmatched).
        conversions: whether photons (22) count as a source (electrons from conversions).

    Returns:
        The flavour code per object (1 prompt, 15 from a prompt tau, 5 from b, 4 from c,
        3 light or unknown, 22 a prompt photon (conversion), 0 unmatched). Example in the
        module docstring.
    """
    return gen_part_flav(truth.GenPart, evt, gen_idx, conversions)


def impact_parameters(
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray,
    rng: np.random.Generator, scale: float | np.ndarray = 1.0,
) -> dict[str, np.ndarray]:
    """Measured impact parameters of tracks.

    Arguments:
        vx, vy, vz: the true production vertex (mm, PV at 0).
        px, py, pz: the momentum (GeV).
        rng: the random generator.
        scale: widens the track + PV resolution (``PARAMS``).

    Returns:
        ``dxy``, ``dxyErr``, ``dz``, ``dzErr``, ``ip3d`` (cm) and ``sip3d``.

    Example:
        Two 20 GeV tracks along y, from the PV and from 1 mm away along x:

        >>> zero = np.zeros(2)
        >>> ip = impact_parameters(np.array([0.0, 1.0]), zero, zero, zero, np.full(2, 20.0), zero,
        ...                        np.random.default_rng(1))
        >>> ip["dxy"].round(4), ip["sip3d"].round(1)
        (array([ 0.0003, -0.1013]), array([ 0.9, 92.4]))
    """
    n = len(px)
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    aeta = np.abs(eta)
    dxy_t = (-vx * py + vy * px) / pt
    dz_t = vz - (vx * px + vy * py) / pt * pz / pt
    p = PARAMS
    s_xy = np.hypot(np.hypot(p["d0_a_mm"], p["d0_b_mm"] / pt) * (1 + p["d0_eta"] * aeta), p["pv_res_mm"])
    s_z = np.hypot(np.hypot(p["z0_a_mm"], p["z0_b_mm"] / pt) * (1 + p["z0_eta"] * aeta**2), p["pv_res_mm"])
    s_xy, s_z = s_xy * scale, s_z * scale
    tail = np.where(rng.random(n) < PARAMS["ip_tail_frac"], PARAMS["ip_tail_scale"], 1.0)
    dxy = dxy_t + s_xy * tail * rng.standard_normal(n)
    dz = dz_t + s_z * tail * rng.standard_normal(n)
    jit = np.exp(0.1 * rng.standard_normal((2, n)))
    e_xy, e_z = s_xy * jit[0], s_z * jit[1]
    sin_t = 1.0 / np.cosh(eta)
    ip3d = np.hypot(dxy, dz * sin_t)
    e3d = np.sqrt((dxy * e_xy) ** 2 + (dz * sin_t * e_z * sin_t) ** 2) / np.maximum(ip3d, 1e-9)
    e3d = np.maximum(e3d, np.minimum(e_xy, e_z * sin_t))
    mm = 0.1  # mm -> cm
    return {
        "dxy": dxy * mm,
        "dxyErr": e_xy * mm,
        "dz": dz * mm,
        "dzErr": e_z * mm,
        "ip3d": ip3d * mm,
        "sip3d": ip3d / e3d,
    }


def finish(collection: str, cols: dict[str, np.ndarray], evt: np.ndarray, n_ev: int) -> ak.Array:
    """pT-descending jagged collection, cast to the NanoAOD schema.

    Arguments:
        collection: the NanoAOD collection name (``"Muon"``, ``"Electron"``, ...).
        cols: flat arrays, one per field, one row per object.
        evt: the event index of each object.
        n_ev: the number of events.
    """
    order = np.lexsort((-cols["pt"], evt))
    counts = np.bincount(evt, minlength=n_ev)
    rec = ak.zip({k: np.asarray(v)[order] for k, v in cols.items()}, depth_limit=1)
    return schema.cast(collection, ak.unflatten(rec, counts))


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)): the turn-on shape of efficiencies and ID probabilities.

    Example:
        >>> logistic(np.array([-2.0, 0.0, 2.0]))
        array([0.11920292, 0.5       , 0.88079708])
    """
    return 1.0 / (1.0 + np.exp(-x))


def hadron_candidates(t: dict, eta_max: float, pt_min: float) -> np.ndarray:
    """Flat indices of charged pions and kaons of the hard event inside the acceptance."""
    a = np.abs(t["pdgId"])
    return np.flatnonzero(((a == 211) | (a == 321)) & (t["pt"] > pt_min) & (np.abs(t["eta"]) < eta_max))
