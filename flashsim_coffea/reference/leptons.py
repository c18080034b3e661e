"""What every lepton-like reco collection of the reference detector shares (muons, electrons, photons).

Each starts from the flat truth arrays of the block (:func:`truth_flat`), draws its hadron fakes
from the same hard-event pi/K (:func:`hadron_candidates`), measures tracks with one impact-parameter
resolution (:func:`impact_parameters`, :data:`PARAMS`), links to the truth (:func:`gen_flavour`)
and to the jets (``jetIdx`` within ``PARAMS["jet_dr"]``), and is written out pT-ordered in the
NanoAOD schema (:func:`finish`).

The lepton-jet quantities muons and electrons share (``kind`` = ``"muon"`` or ``"electron"``):
:func:`lepton_jet_fields` (``jetRelIso``, ``jetPtRelv2``), :func:`jet_ndau_charged`
(``jetNDauCharged``), :func:`mva_tth` (``mvaTTH``; ``mvaLowPt`` of muons),
:func:`tight_charge`; the charged-only isolations are in :mod:`.isolation`
(:func:`.isolation.rel_iso_chg` for ``pfRelIso03_chg``, :func:`.isolation.mini_rel_iso_parts`
for ``miniPFRelIso_chg``). Fields derived from other fields use the functions of
:mod:`flashsim_coffea.nanoaod.lepton_jet`, which FlashSim calls too.

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

from flashsim_coffea.nanoaod import lepton_jet, schema
from flashsim_coffea.nanoaod.derived import MASS, gen_part_flav
from flashsim_coffea.reference import isolation as iso

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
    # jetNDauCharged: charged daughters of the lepton's jet within dR < 0.4 of the lepton with pT > 1 GeV,
    # >= 8 hits, >= 2 pixel hits, chi2/ndof < 5, abs(dxy) < 0.2 cm, abs(dz) < 17 cm [code: cmssw
    # PhysicsTools/NanoAOD/plugins/LeptonJetVarProducer.cc]; the lepton itself is one of them. Jet
    # membership: within dR 0.4 of the jet axis (anti-kT jets are cones). Probability that a charged
    # particle gives such a track: tracking (85-95% above 1 GeV, notes section 2) x hit/chi2 quality
    # (~90%) [mem], tuned so that prompt ttbar muons have median 2, b-decay muons ~5 [meas nano_tt_v12]
    "ndau_r": 0.4,
    "ndau_pt_min": 1.0,
    "ndau_track_eff": 0.85,
    "ndau_ip_max_cm": (0.2, 17.0),
    # prompt-lepton scores (mvaTTH, mvaLowPt): weights of nanoaod/lepton_jet.py MVA, there with provenance
    "mva": lepton_jet.MVA,
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


# ---------------------------------------------------------------------------- lepton-jet quantities
def lepton_jet_fields(
    kind: str, jets: ak.Array | None, evt: np.ndarray, jet_idx: np.ndarray,
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, iso_no_jet: np.ndarray,
) -> dict[str, np.ndarray]:
    """``jetRelIso`` and ``jetPtRelv2`` of muons or electrons (NanoAOD definitions,
    :func:`flashsim_coffea.nanoaod.lepton_jet.lepton_jet_vars`).

    Arguments:
        kind: ``"muon"`` or ``"electron"`` (the lepton mass).
        jets: the final Jet collection, or None.
        evt, jet_idx: event index and ``jetIdx`` of each lepton.
        pt, eta, phi: the lepton.
        iso_no_jet: ``jetRelIso`` without a jet: ``pfRelIso04_all`` (muons), ``pfRelIso03_all`` (electrons).

    Example:
        An electron of 10 GeV inside a 50 GeV jet, one without a jet:

        >>> jets = ak.Array([[{"pt": 50.0, "eta": 0.1, "phi": 0.0, "mass": 8.0, "rawFactor": 0.1}]])
        >>> out = lepton_jet_fields("electron", jets, np.array([0, 0]), np.array([0, -1]), np.array([10.0, 5.0]),
        ...                         np.zeros(2), np.zeros(2), np.array([9.0, 0.3]))
        >>> {k: v.round(3).tolist() for k, v in out.items()}
        {'jetRelIso': [3.889, 0.3], 'jetPtRelv2': [1.277, 0.0]}
    """
    mass = np.full(len(pt), MASS[13 if kind == "muon" else 11])
    rel, ptrel = lepton_jet.lepton_jet_vars(jets, evt, jet_idx, pt, eta, phi, mass, iso_no_jet)
    return {"jetRelIso": rel, "jetPtRelv2": ptrel}


def jet_ndau_charged(
    cands: dict, jets: ak.Array | None, evt: np.ndarray, jet_idx: np.ndarray, eta: np.ndarray, phi: np.ndarray,
    self_idx: np.ndarray, dxy: np.ndarray, dz: np.ndarray, rng: np.random.Generator,
    self_quality: np.ndarray | float = 1.0,
) -> np.ndarray:
    """``jetNDauCharged`` of muons or electrons: the charged daughters of the lepton's jet near it.

    Charged PV particles (:func:`.isolation.count_charged`) with pT > ``ndau_pt_min`` within
    ``ndau_r`` of the lepton and of its jet axis, each kept with the track-quality probability
    ``ndau_track_eff``, plus the lepton's own track if it passes the IP cuts and ``self_quality``
    (a bool per lepton, or the probability of its hit/chi2 quality). 0 without a jet (``PARAMS``).

    Example:
        A muon 0.05 from its jet's axis with two 3 GeV pions around it; with every track kept
        (``ndau_track_eff`` set to 1 for the example) the count is 3 = the muon + 2 pions:

        >>> truth = ak.Array([{"particles": [
        ...     {"pdgId": 13, "pt": 20.0, "eta": 0.0, "phi": 0.0, "charge": -1.0},
        ...     {"pdgId": 211, "pt": 3.0, "eta": 0.1, "phi": 0.1, "charge": 1.0},
        ...     {"pdgId": -211, "pt": 3.0, "eta": -0.1, "phi": 0.05, "charge": -1.0}]}])
        >>> jets = ak.Array([[{"eta": 0.05, "phi": 0.0}]])
        >>> z = np.zeros(1)
        >>> keep, PARAMS["ndau_track_eff"] = PARAMS["ndau_track_eff"], 1.0
        >>> jet_ndau_charged(iso.candidates(truth, None), jets, np.array([0]), np.array([0]), z, z, np.array([0]),
        ...                  z, z, np.random.default_rng(1))
        array([3])
        >>> PARAMS["ndau_track_eff"] = keep
    """
    n = len(evt)
    jet_idx = np.asarray(jet_idx, np.int64)
    has = jet_idx >= 0
    if n == 0:
        return np.zeros(0, np.int64)
    jeta = lepton_jet.linked(jets, "eta", evt, jet_idx)
    jphi = lepton_jet.linked(jets, "phi", evt, jet_idx)
    r = PARAMS["ndau_r"]
    others = iso.count_charged(cands, evt, eta, phi, self_idx, r, PARAMS["ndau_pt_min"], jeta, jphi, r)
    kept = rng.binomial(others, PARAMS["ndau_track_eff"])
    q = np.broadcast_to(np.asarray(self_quality), (n,))
    q = q if q.dtype == bool else rng.random(n) < q
    ip_ok = (np.abs(dxy) < PARAMS["ndau_ip_max_cm"][0]) & (np.abs(dz) < PARAMS["ndau_ip_max_cm"][1])
    return np.where(has, kept + (q & ip_ok), 0)


def mva_tth(kind: str, cols: dict[str, np.ndarray], jets: ak.Array | None, evt: np.ndarray,
            name: str | None = None) -> np.ndarray:
    """The prompt-lepton score ``mvaTTH`` of muons or electrons from their NanoAOD columns.

    Arguments:
        kind: ``"muon"`` (identification input ``segmentComp``) or ``"electron"`` (input
            ``mvaNoIso`` if the columns have it, else 0).
        cols: the lepton's columns: ``pt eta jetNDauCharged miniPFRelIso_chg miniPFRelIso_all
            jetPtRelv2 jetRelIso sip3d dxy dz jetIdx`` and the identification input.
        jets: the final Jet collection (the b-tag of the lepton's jet), or None.
        evt: event index of each lepton.
        name: the weight set (default ``"<kind>_tth"``; ``"muon_lowpt"`` gives ``mvaLowPt``).

    Returns:
        The score in (-1, 1) (:func:`flashsim_coffea.nanoaod.lepton_jet.lepton_scores`, which FlashSim calls too).

    Example:
        >>> cols = {"pt": np.array([40.0]), "eta": np.array([0.3]), "jetNDauCharged": np.array([1]),
        ...         "miniPFRelIso_chg": np.array([0.0]), "miniPFRelIso_all": np.array([0.01]),
        ...         "jetPtRelv2": np.array([0.0]), "jetRelIso": np.array([0.02]), "sip3d": np.array([1.0]),
        ...         "dxy": np.array([0.001]), "dz": np.array([0.002]), "jetIdx": np.array([-1]),
        ...         "segmentComp": np.array([0.95])}
        >>> bool(mva_tth("muon", cols, None, np.array([0]))[0] > 0.9)
        True
    """
    ident = cols.get("segmentComp") if kind == "muon" else cols.get("mvaNoIso")
    name = name or f"{kind}_tth"
    return lepton_jet.lepton_scores(cols, jets, evt, ident, (name,))[name]


def tight_charge(kind: str, *, pt=None, pt_err=None, q_gsf=None, q_ctf=None, q_sc=None) -> np.ndarray:
    """NanoAOD ``tightCharge`` of muons or electrons.

    Muons: 2 if ``ptErr/pt`` < 0.2 else 0 (:func:`flashsim_coffea.nanoaod.lepton_jet.muon_tight_charge`).
    Electrons: ``isGsfScPixChargeConsistent + isGsfCtfScPixChargeConsistent`` from the three
    charge estimates (GSF track, closest CTF track, supercluster-pixel; 0 = no CTF track):
    0 if GSF and SC disagree, 1 if they agree but the CTF track does not, 2 if all three agree.

    Example:
        >>> tight_charge("muon", pt=np.array([50.0, 800.0]), pt_err=np.array([1.0, 200.0])).tolist()
        [2, 0]
        >>> tight_charge("electron", q_gsf=np.array([1, 1, -1]), q_ctf=np.array([1, 0, -1]),
        ...              q_sc=np.array([1, 1, 1])).tolist()
        [2, 1, 0]
    """
    if kind == "muon":
        return lepton_jet.muon_tight_charge(pt, pt_err)
    gsf_sc = np.asarray(q_gsf) == np.asarray(q_sc)
    return gsf_sc.astype(np.int64) + (gsf_sc & (np.asarray(q_ctf) == np.asarray(q_gsf)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """Weights of a logistic regression (Newton / IRLS with an L2 penalty, bias column not penalised
    if it is the first column of ones): how the prompt-lepton score weights were derived.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = np.c_[np.ones(2000), rng.normal(size=2000)]
        >>> y = rng.random(2000) < 1 / (1 + np.exp(-(0.5 + 2.0 * x[:, 1])))
        >>> fit_logistic(x, y).round(1)  # the true weights are (0.5, 2.0)
        array([0.6, 1.8])
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.zeros(x.shape[1])
    pen = np.full(x.shape[1], l2 * len(y))
    if np.allclose(x[:, 0], 1.0):
        pen[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        g = x.T @ (p - y) + pen * w
        h = (x * (p * (1 - p))[:, None]).T @ x + np.diag(pen)
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w
