"""Conditioning features: gen attributes of a candidate plus its event context.

A spec names its conditioning as a list of feature names; :func:`compute` evaluates
them for one candidate collection of a chunk and returns a dict of jagged arrays
(one value per candidate). Every feature is computed from gen-level NanoAOD only,
with awkward operations over the whole chunk (no Python loop over events).

Feature names:

* a field of the candidate collection: ``pt``, ``eta``, ``phi``, ``mass``, ...;
* ``log_pt``: log of the candidate pT; ``abs_eta``: its |η| (detector acceptances are
  steps in |η|, which an efficiency MLP learns far more sharply as one edge than as two);
* ``charge``: -sign(pdgId) for leptons (1 for positive), or the ``charge`` field;
* ``flag:<bit name>``: a ``statusFlags`` bit (see :data:`flashsim_coffea.nanoaod.status_flags.BITS`); of a
  GenVisTau, its τ lepton's (``flag:isPrompt`` 0 for a τ from a b or c hadron: every GenVisTau of ``zh_llbb``,
  22 % of ``ttbar``'s, whose SVs are reconstructed 0.21 of the time against 0.13 for the prompt ones);
* ``is_b``, ``is_c``: hadronFlavour one-hot; ``parton_b``, ``parton_c``, ``parton_g``: |partonFlavour| one-hot,
  ``parton_none``: no
  parton clustered (partonFlavour 0: jets from pileup or the underlying event); ``parton_charge``:
  the parton's electric charge from the signed partonFlavour (:func:`parton_charge`);
* ``genjet_dr``, ``genjet_ptrel``: ΔR to the nearest GenJet (pT > 10) and its pT over the candidate's;
* ``mu_dr``, ``mu_ptrel``, ``ele_dr``, ``ele_ptrel``: the same for the nearest final-state gen
  muon / electron (pT > 3), the candidate itself excluded (a gen-lepton candidate sees its
  nearest *other* lepton). Muons and electrons apart: a jet that is a prompt muon and one
  that is a prompt electron give different reco jets (muEF vs chEmEF), and an FSR photon
  near an electron is often merged into its supercluster;
* ``pho_dr``, ``pho_ptrel``: the same for the nearest other final-state gen photon (pT > 3;
  NanoAOD keeps photons above 10 GeV or prompt): π0 pairs and FSR merged into one supercluster;
* ``nu_dr``, ``nu_ptrel``: the same for the nearest gen neutrino (semileptonic heavy-flavour decays);
* ``bhad_dr``, ``bhad_ptrel``: the same for the nearest weakly decaying b hadron (:func:`weak_heavy`,
  any pT): a b hadron beside a GenJet, outside its cone, gives the jet split off beside it its b flavour;
  ``bhad_deta``, ``bhad_dphi``: its direction, η and φ minus the candidate's (0 without one): the side a
  jet split off towards it lies on;
* ``other_dr``, ``other_ptrel``: the nearest *other* object of the same collection;
* ``<kind>_logdr``: log of ``<kind>_dr`` (floored at :data:`MIN_DR`): the scale on which isolation cones (0.1–0.4) and
  the no-neighbour value (:data:`NO_NEIGHBOUR_DR`) are both resolved once standard-scaled;
* ``lepiso03``: scalar pT sum of the final-state gen muons and electrons (pT > 3, the
  candidate excluded) within ΔR < 0.3, over the candidate's pT: the leptons inside its
  isolation cone (an FSR photon next to its muon fails the photon preselection);
* ``anc_ctau``, ``anc_flight``: log10 of the summed cτ and of the summed mean flight
  length βγcτ (mm) of the long-lived ancestors (b and c hadrons, τ, π, K, hyperons;
  table :data:`CTAU_MM`) of a GenPart candidate, or of the τ of a GenVisTau, floored at
  1 μm. NanoAOD has no production vertex; these carry the displacement that drives
  ``dxy``, ``dz``, ``ip3d``, ``sip3d`` (b → μ: cτ ≈ 0.45 mm, prompt: none);
* ``hf_flight``: log10 of the summed mean flight length βγcτ (mm) of the weakly decaying b and
  c hadrons within ΔR < :data:`HF_CONE` of a jet candidate (each particle once: copies of one
  hadron such as B0 mixing count once), floored at 1 μm: how far from the primary vertex the
  jet's leading tracks start, which sets the impact parameters of a jet faking a lepton or a τ
  (``hadronFlavour`` alone tells a b jet from a c jet but not a boosted B from a slow one);
* the boosted features of :mod:`flashsim_coffea.sim.boosted` (``ak8_nb``, ``sd_share``, ``parent:<name>``, ...);
* ``fsr_lep_logdr``, ``fsr_lep_ptrel``, ``fsr_lep_logdret2``: an FSR-photon candidate and its gen lepton
  (:func:`fsr_lepton`);
* of heavy-hadron candidates (:data:`HADRON_FEATURES`): ``hadron_mass``, ``is_bhad``, ``self_flight``,
  ``dau_flight`` (and ``anc_flight``: a D's parent B);
* event context (:func:`event_context`), broadcast to every candidate: ``nTrueInt``, ``HT``
  (scalar sum of GenJet pT > 30), ``nGenJet`` (GenJet pT > 30), ``GenMET_pt``, the GenJet
  jet covariance ``jet_cxx``, ``jet_cxy``, ``jet_cyy``, ``jet_cpar``, ``jet_cperp`` and its hadronic
  part ``hadjet_cxx``, ``hadjet_cxy``, ``hadjet_cyy``, forward muons
  ``fwdmu_par``, ``fwdmu_perp``, ``nPU`` (``Pileup_nPU``: the pileup interactions actually
  overlaid), ``nGenJet10`` and ``nGenJet10_central`` (every GenJet, pT > 10, and those in
  |η| < 2.5: the underlying event, which the grid-median rho sees), ``log_lep_sumpt2`` and
  ``log_jet_sumpt2`` (the lepton and jet terms of the primary vertex's score).

Example:
    >>> import uproot
    >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
    >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
    >>> feats = compute(gen, gen.GenJet, ["log_pt", "eta", "is_b", "nu_dr", "nTrueInt"])
    >>> {k: np.round(v[0, :3].to_numpy(), 3).tolist() for k, v in feats.items()}  # the first GenJets of event 0
    ... # doctest: +NORMALIZE_WHITESPACE
    {'log_pt': [4.715, 4.339, 4.332], 'eta': [-2.882, 0.827, 0.781], 'is_b': [0.0, 0.0, 1.0],
     'nu_dr': [2.176, 1.097, 1.786], 'nTrueInt': [32.062, 32.062, 32.062]}
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numba
import numpy as np

from flashsim_coffea.nanoaod.angles import delta_phi
from flashsim_coffea.nanoaod.status_flags import BITS
from flashsim_coffea.sim import boosted

#: ΔR given when there is no neighbour (larger than any real ΔR in the detector).
NO_NEIGHBOUR_DR = 8.0
#: floor of ``<kind>_logdr`` (a GenJet made of one muon sits on it).
MIN_DR = 1e-3


@numba.njit(cache=True)
def _nearest_kernel(a_off, a_eta, a_phi, a_id, b_off, b_eta, b_phi, b_pt, b_id, exclude_self, no_dr):  # pragma: no cover
    n = len(a_eta)
    dr_out = np.full(n, no_dr)
    pt_out = np.zeros(n)
    for e in range(len(a_off) - 1):
        for i in range(a_off[e], a_off[e + 1]):
            best = no_dr * no_dr
            for k in range(b_off[e], b_off[e + 1]):
                if exclude_self and k - b_off[e] == i - a_off[e]:
                    continue
                if a_id[i] >= 0 and a_id[i] == b_id[k]:
                    continue
                dphi = (a_phi[i] - b_phi[k] + np.pi) % (2 * np.pi) - np.pi
                d2 = (a_eta[i] - b_eta[k]) ** 2 + dphi * dphi
                if d2 < best:
                    best = d2
                    dr_out[i] = np.sqrt(d2)
                    pt_out[i] = b_pt[k]
    return dr_out, pt_out


#: cτ (mm) and mass (GeV) of the weakly decaying hadrons and leptons (PDG 2024) whose
#: flight displaces their decay products: b hadrons, c hadrons, τ, then the light
#: hadrons that decay in flight (π±, K±, K0L, K0S, hyperons).
CTAU_MM: dict[int, tuple[float, float]] = {
    511: (0.455, 5.2797), 521: (0.491, 5.2793), 531: (0.453, 5.3669), 541: (0.154, 6.2745),
    5122: (0.441, 5.6196), 5132: (0.47, 5.797), 5232: (0.44, 5.7919), 5332: (0.49, 6.0461),
    411: (0.312, 1.8697), 421: (0.123, 1.8648), 431: (0.151, 1.9683), 4122: (0.060, 2.2865),
    4132: (0.046, 2.4709), 4232: (0.132, 2.4679), 4332: (0.027, 2.6952), 15: (0.0871, 1.77686),
    211: (7804.5, 0.13957), 321: (3711.0, 0.493677), 130: (15340.0, 0.497611), 310: (26.84, 0.497611),
    3122: (78.9, 1.11568), 3222: (24.0, 1.18937), 3112: (44.3, 1.19745), 3312: (49.1, 1.32171),
    3322: (87.1, 1.31486), 3334: (24.6, 1.67245),
}
#: floor of the ancestor flight features (mm): a prompt particle.
PROMPT_FLIGHT_MM = 1e-3
#: cone (ΔR) of ``hf_flight``: the AK4 jet radius.
HF_CONE = 0.4
#: features of weakly decaying b/c hadron candidates (``GenHeavyHadron``): their mass (:data:`CTAU_MM`; NanoAOD
#: keeps no GenPart mass below 10 GeV), b (1) or c (0), log10 of their own βγcτ (mm, floored as
#: ``anc_flight``) and of their longest-flying heavy-hadron daughter's (B -> D cascades).
HADRON_FEATURES = ("hadron_mass", "is_bhad", "self_flight", "dau_flight")


def _ctau_table() -> tuple[np.ndarray, np.ndarray]:
    size = max(CTAU_MM) + 1
    ctau, mass = np.zeros(size), np.ones(size)
    for pdg, (c, m) in CTAU_MM.items():
        ctau[pdg], mass[pdg] = c, m
    return ctau, mass


#: :data:`CTAU_MM` as arrays indexed by |pdgId| (cτ 0 and mass 1 elsewhere).
_CTAU_TABLE = _ctau_table()


@numba.njit(cache=True)
def _ancestor_kernel(c_off, c_start, c_pdg, g_off, g_pdg, g_mother, g_pt, g_eta, ctau, mass):  # pragma: no cover
    n = len(c_start)
    sum_ctau = np.zeros(n)
    sum_flight = np.zeros(n)
    for e in range(len(c_off) - 1):
        base = g_off[e]
        size = g_off[e + 1] - base
        for i in range(c_off[e], c_off[e + 1]):
            j = c_start[i]
            child = abs(c_pdg[i])
            steps = 0
            while 0 <= j < size and steps < 200:
                pdg = abs(g_pdg[base + j])
                # a copy of the same particle (B0 mixing, tau recoil copies) decays once
                if pdg != child and pdg < len(ctau) and ctau[pdg] > 0:
                    sum_ctau[i] += ctau[pdg]
                    p = g_pt[base + j] * np.cosh(g_eta[base + j])
                    sum_flight[i] += ctau[pdg] * p / mass[pdg]
                child = pdg
                j = g_mother[base + j]
                steps += 1
    return sum_ctau, sum_flight


def ancestors(gen: ak.Array, cand: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Summed cτ and βγcτ (mm) of the long-lived ancestors (:data:`CTAU_MM`) of each candidate.

    The walk starts at the candidate's ``genPartIdxMother`` (for a GenVisTau: its τ) and
    follows ``GenPart_genPartIdxMother``; consecutive copies of one particle count once.

    Example:
        >>> import uproot
        >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
        >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
        >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
        >>> from flashsim_coffea.sim.candidates import select
        >>> ctau, flight = ancestors(gen, select(gen, "GenMuon"))
        >>> ctau[2].tolist(), np.round(flight[2], 2).tolist()  # a muon from a W, one from a b -> c hadron chain
        ([0.0, 0.767], [0.0, 6.98])
    """
    counts = ak.num(cand.pt, axis=1)
    g = gen.GenPart
    pdg = cand.pdgId if "pdgId" in cand.fields else ak.zeros_like(cand.genPartIdxMother)
    s_ctau, s_flight = _ancestor_kernel(
        _offsets(cand.pt), _flat_int(cand.genPartIdxMother), _flat_int(pdg),
        _offsets(g.pt), _flat_int(g.pdgId), _flat_int(g.genPartIdxMother),
        _flat64(g.pt), _flat64(g.eta), *_CTAU_TABLE,
    )
    return ak.unflatten(s_ctau, counts), ak.unflatten(s_flight, counts)


def is_b_hadron(pdg_id):
    """Whether ``|pdgId|`` is a b meson (5xx) or b baryon (5xxx); numpy or awkward.

    Example:
        >>> is_b_hadron(np.array([511, -5122, 421, 5])).tolist()
        [True, True, False, False]
    """
    a = abs(pdg_id)
    return ((a > 500) & (a < 600)) | ((a > 5000) & (a < 6000))


def b_quark_flavour(pdg_id):
    """The flavour of the b (anti)quark a b hadron holds, as NanoAOD's ``partonFlavour``: 5 for a b, -5 for a
    b-bar (the PDG numbering: a b meson with a b-bar, B+ = u b-bar, is positive; a b baryon with a b, Lambda_b =
    u d b, is positive too); numpy or awkward.

    Example:
        >>> b_quark_flavour(np.array([521, -521, -511, 531, 5122, -5122])).tolist()
        [-5, 5, 5, -5, 5, -5]
    """
    a = abs(pdg_id)
    sign = np.sign(pdg_id) * np.where(a > 5000, 1, -1)
    return (5 * sign).astype(np.int32) if isinstance(sign, np.ndarray) else ak.values_astype(5 * sign, np.int32)


def heavy_hadrons(gen: ak.Array) -> ak.Array:
    """Weakly decaying b and c hadrons of the chunk's ``GenPart`` (first copies), with their
    mean flight length βγcτ (mm) in the field ``pt`` (for :func:`cone_sum`) and ``flavour`` 5 / 4 (b / c).

    Example:
        >>> import uproot
        >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
        >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
        >>> gen = from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50))
        >>> flight = cone_sum(gen.GenJet, heavy_hadrons(gen), HF_CONE)  # mm, within the jet cone
        >>> np.round(flight[0, :4], 2).tolist(), gen.GenJet.hadronFlavour[0, :4].tolist()
        ([0.0, 0.0, 7.11, 10.39], [0, 0, 5, 5])
    """
    ctau, mass = _CTAU_TABLE
    h = gen.GenPart[weak_heavy(gen.GenPart)]
    k = _flat_int(abs(h.pdgId))
    flight = ak.unflatten(ctau[k] * _flat64(h.pt) * np.cosh(_flat64(h.eta)) / mass[k], ak.num(h, axis=1))
    flavour = ak.unflatten(np.where(is_b_hadron(k), 5, 4), ak.num(h, axis=1))
    return ak.zip({"eta": h.eta, "phi": h.phi, "pt": flight, "flavour": flavour})


def weak_heavy(g: ak.Array) -> ak.Array:
    """Mask of the weakly decaying b and c hadrons (:data:`CTAU_MM`) among ``GenPart`` ``g``, first
    copies only (a B0 that mixed appears once).

    Example:
        >>> g = ak.Array([[{"pdgId": 5, "genPartIdxMother": -1}, {"pdgId": 511, "genPartIdxMother": 0},
        ...                {"pdgId": -511, "genPartIdxMother": 1}, {"pdgId": 421, "genPartIdxMother": 2}]])
        >>> weak_heavy(g).tolist()  # the b quark no, the B0 yes, its mixed copy no, the D0 yes
        [[False, True, False, True]]
    """
    counts = ak.to_numpy(ak.num(g.pdgId, axis=1))
    a = np.abs(_flat_int(g.pdgId))
    ctau = _CTAU_TABLE[0]
    heavy = (((a > 400) & (a < 600)) | ((a > 4000) & (a < 6000))) & (a < len(ctau))
    heavy &= ctau[np.minimum(a, len(ctau) - 1)] > 0
    mother = _flat_int(g.genPartIdxMother)
    start = np.repeat(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)[:-1], counts)
    valid = (mother >= 0) & (mother < np.repeat(counts, counts))
    mother_pdg = np.where(valid, a[np.where(valid, start + mother, 0)] if len(a) else a, 0)
    return ak.unflatten(heavy & (mother_pdg != a), counts)


def flight_mm(h: ak.Array) -> ak.Array:
    """Mean flight length βγcτ = cτ p / m (mm) of hadrons ``h`` of :data:`CTAU_MM` (0 for others).

    Example:
        >>> flight_mm(ak.Array([[{"pdgId": 511, "pt": 52.797, "eta": 0.0}]])).tolist()  # βγ = 10
        [[4.55]]
    """
    ctau, mass = _CTAU_TABLE
    k = np.minimum(_flat_int(abs(h.pdgId)), len(ctau) - 1)
    return ak.unflatten(ctau[k] * _flat64(h.pt) * np.cosh(_flat64(h.eta)) / mass[k], ak.num(h.pt, axis=1))


@numba.njit(cache=True)
def _hf_parent_kernel(g_off, g_mother, is_hf):  # pragma: no cover
    out = np.full(g_mother.shape[0], -1, np.int64)
    for e in range(g_off.shape[0] - 1):
        base, size = g_off[e], g_off[e + 1] - g_off[e]
        for i in range(base, g_off[e + 1]):
            j = g_mother[i]
            steps = 0
            while 0 <= j < size and steps < 200:
                if is_hf[base + j]:
                    out[i] = j
                    break
                j = g_mother[base + j]
                steps += 1
    return out


def hf_parent(gen: ak.Array) -> ak.Array:
    """Per ``GenPart``: the index of its nearest ancestor among the weakly decaying b and c hadrons
    (:func:`weak_heavy`), -1 if none: the hadron whose decay vertex a particle starts from (a D from a
    B: the B; a muon from that D: the D).

    Example:
        >>> g = ak.Array({"GenPart": [[{"pdgId": 5, "genPartIdxMother": -1}, {"pdgId": 511, "genPartIdxMother": 0},
        ...                            {"pdgId": 421, "genPartIdxMother": 1}, {"pdgId": 13, "genPartIdxMother": 2}]]})
        >>> hf_parent(g).tolist()
        [[-1, -1, 1, 2]]
    """
    g = gen.GenPart
    is_hf = _flat_int(weak_heavy(g)).astype(np.bool_)
    out = _hf_parent_kernel(_offsets(g.pdgId), _flat_int(g.genPartIdxMother), is_hf)
    return ak.unflatten(out, ak.num(g.pdgId, axis=1))


def _hadron_feature(gen: ak.Array, cand: ak.Array, name: str) -> ak.Array:
    """One of :data:`HADRON_FEATURES` for heavy-hadron candidates (GenPart records with ``idx``)."""
    a = abs(cand.pdgId)
    if name == "hadron_mass":
        mass = _CTAU_TABLE[1]
        return ak.unflatten(mass[np.minimum(_flat_int(a), len(mass) - 1)], ak.num(a, axis=1))
    if name == "is_bhad":
        return is_b_hadron(a)
    flight = flight_mm(cand)
    if name == "self_flight":
        return np.log10(PROMPT_FLIGHT_MM + flight)
    # dau_flight: the longest flight among the candidates whose nearest heavy ancestor is this one
    parent = hf_parent(gen)[cand.idx]
    mine = cand.idx[:, :, None] == parent[:, None, :]
    longest = ak.fill_none(ak.max(ak.where(mine, flight[:, None, :], 0.0), axis=2), 0.0)
    return np.log10(PROMPT_FLIGHT_MM + longest)


@numba.njit(cache=True)
def _cone_kernel(a_off, a_eta, a_phi, a_id, b_off, b_eta, b_phi, b_pt, b_id, cone):  # pragma: no cover
    out = np.zeros(len(a_eta))
    for e in range(len(a_off) - 1):
        for i in range(a_off[e], a_off[e + 1]):
            for k in range(b_off[e], b_off[e + 1]):
                if a_id[i] >= 0 and a_id[i] == b_id[k]:
                    continue
                dphi = (a_phi[i] - b_phi[k] + np.pi) % (2 * np.pi) - np.pi
                if (a_eta[i] - b_eta[k]) ** 2 + dphi * dphi < cone * cone:
                    out[i] += b_pt[k]
    return out


def cone_sum(obj: ak.Array, others: ak.Array, cone: float, obj_ids: ak.Array | None = None,
             other_ids: ak.Array | None = None) -> ak.Array:
    """Scalar pT sum of ``others`` within ΔR < ``cone`` of each object (pairs of equal ids skipped).

    Example:
        >>> obj = ak.Array([[{"eta": 0.0, "phi": 0.0, "pt": 40.0}]])
        >>> others = ak.Array([[{"eta": 0.1, "phi": 0.0, "pt": 5.0}, {"eta": 0.0, "phi": 0.2, "pt": 3.0},
        ...                     {"eta": 1.0, "phi": 3.0, "pt": 9.0}]])
        >>> cone_sum(obj, others, 0.3).tolist()  # 5 + 3: the third is outside the cone
        [[8.0]]
    """
    out = _cone_kernel(*_side(obj, obj_ids), *_side(others, other_ids, with_pt=True), cone)
    return ak.unflatten(out, ak.num(obj, axis=1))


def _side(x: ak.Array, ids: ak.Array | None, with_pt: bool = False) -> tuple[np.ndarray, ...]:
    """The flat inputs of one side of a pair kernel: offsets, eta, phi[, pt], ids."""
    return (_offsets(x), _flat64(x.eta), _flat64(x.phi), *((_flat64(x.pt),) if with_pt else ()), _ids(x, ids))


def _flat64(x) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None)), np.float64)


def _offsets(x) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(x, axis=1)))]).astype(np.int64)


def _flat_int(x) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None)), np.int64)


def _mother_flags(gen: ak.Array, cand: ak.Array) -> np.ndarray:
    """``statusFlags`` of each candidate's ``genPartIdxMother`` (a GenVisTau's τ lepton), flat; a mother the
    file's GenPart does not hold (an index beyond it, as in some Run-2 files, or -1) reads as prompt
    (``isPrompt`` alone set: most visible taus are).

    Example:
        >>> gen = ak.Array({"GenPart": [[{"statusFlags": 8193}, {"statusFlags": 0}]]})
        >>> _mother_flags(gen, ak.Array([[{"genPartIdxMother": 0}, {"genPartIdxMother": 1},
        ...                                {"genPartIdxMother": 7}]])).tolist()
        [8193, 0, 1]
    """
    g_off = _offsets(gen.GenPart.statusFlags)
    counts = ak.to_numpy(ak.num(cand.genPartIdxMother, axis=1))
    event = np.repeat(np.arange(len(counts)), counts)
    idx = _flat_int(cand.genPartIdxMother)
    known = (idx >= 0) & (idx < np.diff(g_off)[event])
    flags = _flat_int(gen.GenPart.statusFlags)
    return np.where(known, flags[np.where(known, g_off[event] + idx, 0)] if len(flags) else 0, 1 << BITS["isPrompt"])


def _ids(x, ids) -> np.ndarray:
    if ids is None:
        return np.full(int(ak.sum(ak.num(x.pt, axis=1))), -1, np.int64)
    return _flat_int(ids)


def nearest(obj: ak.Array, others: ak.Array, exclude_self: bool = False, obj_ids: ak.Array | None = None,
            other_ids: ak.Array | None = None) -> tuple[ak.Array, ak.Array]:
    """ΔR from each object to the nearest of ``others`` in the same event, and that neighbour's pT.

    Objects with no neighbour within ``NO_NEIGHBOUR_DR`` get ``NO_NEIGHBOUR_DR`` and pT 0.
    ``exclude_self`` drops the pair of an object with itself (``others`` is then ``obj``);
    ``obj_ids``/``other_ids`` (jagged integers, e.g. GenPart indices) drop the pairs whose
    ids are equal and non-negative. One compiled pass over the chunk (numba).

    Example:
        >>> mu = ak.Array([[{"eta": 0.0, "phi": 0.0, "pt": 40.0}, {"eta": 0.0, "phi": 0.5, "pt": 20.0}],
        ...                [{"eta": 1.0, "phi": 1.0, "pt": 30.0}]])
        >>> dr, pt = nearest(mu, mu, exclude_self=True)
        >>> dr.tolist(), pt.tolist()  # the lone muon of event 1 has no neighbour
        ([[0.5, 0.5], [8.0]], [[20.0, 40.0], [0.0]])
    """
    counts = ak.num(obj, axis=1)
    dr, pt = _nearest_kernel(*_side(obj, obj_ids), *_side(others, other_ids, with_pt=True), exclude_self,
                             NO_NEIGHBOUR_DR)
    return ak.unflatten(dr, counts), ak.unflatten(pt, counts)


def nearest_dr(a_off: np.ndarray, a_eta: np.ndarray, a_phi: np.ndarray, b_off: np.ndarray, b_eta: np.ndarray,
               b_phi: np.ndarray) -> np.ndarray:
    """:func:`nearest`'s ΔR on flat arrays: objects ``a`` and ``b`` grouped by event by their offsets.

    Example:
        >>> nearest_dr(np.array([0, 2]), np.array([0.0, 3.0]), np.zeros(2), np.array([0, 1]), np.array([0.5]),
        ...            np.zeros(1)).tolist()
        [0.5, 2.5]
    """
    f64 = [np.asarray(x, np.float64) for x in (a_eta, a_phi, b_eta, b_phi)]
    dr, _ = _nearest_kernel(np.asarray(a_off, np.int64), f64[0], f64[1], np.full(len(f64[0]), -1, np.int64),
                            np.asarray(b_off, np.int64), f64[2], f64[3], np.zeros(len(f64[2])),
                            np.full(len(f64[2]), -1, np.int64), False, NO_NEIGHBOUR_DR)
    return dr


def _genjets(gen):
    j = gen.GenJet
    return j[j.pt > 10]


def _final_state(gen, pdg: int | tuple[int, ...], ptmin: float):
    g = gen.GenPart
    g = ak.with_field(g, ak.local_index(g.pt, axis=1), "idx")
    a = abs(g.pdgId)
    pdgs = (pdg,) if isinstance(pdg, int) else pdg
    flavour = a == pdgs[0]
    for other in pdgs[1:]:
        flavour = flavour | (a == other)
    return g[flavour & (g.status == 1) & (g.pt > ptmin)]


def _muons(gen):
    return _final_state(gen, 13, 3.0)


def _electrons(gen):
    return _final_state(gen, 11, 3.0)


def _leptons(gen):
    return _final_state(gen, (11, 13), 3.0)


def _photons(gen):
    return _final_state(gen, 22, 3.0)


def _b_hadrons(gen):
    g = gen.GenPart
    g = ak.with_field(g, ak.local_index(g.pt, axis=1), "idx")
    return g[weak_heavy(gen.GenPart) & is_b_hadron(g.pdgId)]


def _neutrinos(gen):
    g = gen.GenPart
    a = abs(g.pdgId)
    return g[((a == 12) | (a == 14) | (a == 16)) & (g.status == 1)]


#: GenJet pT threshold of the jet covariance (the Type-1 / MET-significance jets).
TENSOR_JET_PT = 15.0
#: GenJets whose final-state electrons and photons (ΔR < 0.4) carry more than this fraction
#: of their pT are not hadronic: Type-1 MET and its significance take jets with EM fraction
#: below 0.9 only (arXiv:1903.06078), an electron or photon being measured far better.
EM_JET_FRACTION = 0.9
#: nominal CMS jet pT resolution σ/pT = √(N²/pT² + S²/pT + C²) (N GeV, S √GeV by |η| region,
#: C) and angular resolution σ_φ pT / pT, for the MET covariance features (arXiv:1607.03663,
#: arXiv:1903.06078).
JER_NOMINAL = {"N": 2.0, "S": ((1.3, 0.85), (2.5, 1.3), (99.0, 1.0)), "C": 0.045, "phi": 0.05}
#: |η| beyond which a muon is not reconstructed (CMS muon system): its pT goes into MET
#: but not into GenMET (neutrinos only).
MUON_ACCEPTANCE_ETA = 2.4
#: |η| of the tracker: the central rho grid, ``nGenJet10_central`` and the PV-score proxies.
CENTRAL_ETA = 2.5
#: statusFlags of the leptons the PV-score proxy counts apart from the jets: prompt, or from a prompt τ
#: (as the reference's dressed leptons, :mod:`flashsim_coffea.reference.genlevel`); leptons from
#: hadron decays stay in their GenJet's term.
_PROMPT_LEPTON = (1 << BITS["isPrompt"]) | (1 << BITS["isDirectPromptTauDecayProduct"])


def _pv_score_parts(gen, j):
    """Σ pT² (GeV²) of the prompt final-state e/μ in the tracker and of the central GenJets less
    those leptons' pT (ΔR < 0.4, floored at 0): the two terms of the PV score (:func:`event_context`)."""
    lep = _final_state(gen, (11, 13), 3.0)
    lep = lep[((lep.statusFlags & _PROMPT_LEPTON) != 0) & (abs(lep.eta) < CENTRAL_ETA)]
    cj = j[abs(j.eta) < CENTRAL_ETA]
    hadronic = np.maximum(cj.pt - cone_sum(cj, lep, 0.4), 0.0)
    return ak.sum(lep.pt**2, axis=1), ak.sum(hadronic**2, axis=1)


#: the GenJet flavour classes of :func:`_track_multiplicity`
TRACK_FLAVOURS = ("b", "gluon", "quark", "unflavoured")


def _track_multiplicity(j) -> dict[str, ak.Array]:
    """Σ log(pT / 5 GeV) of the GenJets of pT > 10 GeV in the tracker, per flavour: ``logpt_b`` (``hadronFlavour``
    5), ``logpt_gluon`` (``partonFlavour`` 21), ``logpt_quark`` (1-5) and ``logpt_unflavoured`` (0), the others
    without a b hadron. A jet's charged multiplicity grows with log pT and is ~1.5x larger for gluon jets than for
    quark jets (CMS, arXiv:1704.03878); the vertex fit's ``PV_ndof`` counts those tracks. Without them the event
    flow put ``PV_ndof`` 8 % high in ZH → llbb (FullSim 114, flash 123): on the training processes the other
    features left QCD 5 below and tt̄ 5 above their means (a regression on them), given these 1 and 2.5 and
    ZH → llbb 2.4 instead of 9.7 (VBF stays at 8-9: its colour-singlet exchange, no training process has it)."""
    c = j[(j.pt > 10) & (abs(j.eta) < CENTRAL_ETA)]
    lp = np.log(c.pt / 5.0)
    flav, b = abs(c.partonFlavour), c.hadronFlavour == 5
    sel = {"b": b, "gluon": ~b & (flav == 21), "quark": ~b & (flav > 0) & (flav < 6), "unflavoured": ~b & (flav == 0)}
    return {f"logpt_{k}": ak.sum(ak.where(sel[k], lp, 0.0), axis=1) for k in TRACK_FLAVOURS}


def _signed_sqrt(x):
    return np.sign(x) * np.sqrt(np.abs(x))


def _jet_variances(pt, abs_eta):
    """(σ_pT², σ_⊥²) in GeV² of GenJets under :data:`JER_NOMINAL`."""
    (e1, s1), (e2, s2), (_, s3) = JER_NOMINAL["S"]
    stoch = np.where(abs_eta < e1, s1, np.where(abs_eta < e2, s2, s3))
    var_pt = JER_NOMINAL["N"] ** 2 + stoch**2 * pt + (JER_NOMINAL["C"] * pt) ** 2
    return var_pt, (JER_NOMINAL["phi"] * pt) ** 2


def event_context(gen: ak.Array) -> dict[str, ak.Array]:
    """Per-event context (float64, one value per event).

    ``nTrueInt``, ``nPU``; ``nGenJet10``, ``nGenJet10_central`` (GenJet pT > 10, all and
    |η| < 2.5); ``HT`` and ``nGenJet`` (GenJet pT > 30); ``GenMET_pt``; the jet part of
    the MET covariance (arXiv:1903.06078) with GenJets (pT > 15) at the nominal resolution
    :data:`JER_NOMINAL` (σ_pT along each jet, σ_φ pT across it), as signed square roots
    ``jet_cxx``, ``jet_cxy``, ``jet_cyy`` (GeV) and along / across GenMET ``jet_cpar``,
    ``jet_cperp`` (the resolution of MET along and across the true MET); ``hadjet_cxx``,
    ``hadjet_cxy``, ``hadjet_cyy``: the same without GenJets made of an electron or photon
    (:data:`EM_JET_FRACTION`), as Type-1 MET sees them; ``fwdmu_par``,
    ``fwdmu_perp``: the vector pT sum of final-state muons beyond the muon acceptance
    (|η| > :data:`MUON_ACCEPTANCE_ETA`) along and across GenMET: MET that is not in GenMET
    (in Z→μμ events 20% have one, and they make most of the reco-MET tail).
    ``log_lep_sumpt2``, ``log_jet_sumpt2``: log(1 + Σ pT²/GeV²) of the prompt final-state
    electrons and muons (``isPrompt`` or from a prompt τ, pT > 3) in the tracker (|η| <
    :data:`CENTRAL_ETA`) and of the GenJets there, each less the pT of those leptons within
    ΔR < 0.4 (GenJets cluster leptons too): the two terms of the primary vertex's ``PV_score``
    (CMS's vertex ranking: Σ pT² of the vertex's leptons plus 0.8² × Σ pT² of its track jets,
    :func:`flashsim_coffea.reference.pileup.vertex_quality`), which no other feature carries (two hard
    muons of H → μμ make most of the score of a VBF event; HT counts them only above 30 GeV and linearly).
    ``logpt_b``, ``logpt_gluon``, ``logpt_quark``, ``logpt_unflavoured``: the central GenJets' Σ log(pT / 5 GeV)
    per flavour (:func:`_track_multiplicity`), the hard event's track count in the vertex fit.

    Example:
        >>> import uproot
        >>> from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
        >>> tree = uproot.open(SHARED / "nano_tt_v12.root")["Events"]
        >>> ctx = event_context(from_branches(tree.arrays(filter_name=branch_names(), entry_stop=50)))
        >>> {k: round(float(ctx[k][0]), 2) for k in ("nTrueInt", "nPU", "HT", "nGenJet", "GenMET_pt", "jet_cpar")}
        {'nTrueInt': 32.06, 'nPU': 30.0, 'HT': 432.09, 'nGenJet': 7.0, 'GenMET_pt': 49.31, 'jet_cpar': 16.57}
        >>> {k: round(float(ctx[k][0]), 2) for k in ("log_lep_sumpt2", "log_jet_sumpt2")}
        {'log_lep_sumpt2': 4.37, 'log_jet_sumpt2': 9.82}
        >>> {k: round(float(ctx[f"logpt_{k}"][0]), 2) for k in TRACK_FLAVOURS}
        {'b': 5.23, 'gluon': 3.73, 'quark': 7.69, 'unflavoured': 0.75}
    """
    j = gen.GenJet
    hard = j.pt > 30
    t = j[j.pt > TENSOR_JET_PT]
    v_par, v_perp = _jet_variances(t.pt, abs(t.eta))
    c, s = np.cos(t.phi), np.sin(t.phi)
    cm, sm = np.cos(t.phi - gen.GenMET.phi), np.sin(t.phi - gen.GenMET.phi)
    hadronic = cone_sum(t, _final_state(gen, (11, 22), 3.0), 0.4) < EM_JET_FRACTION * t.pt
    per_jet = {  # each jet's share of the covariance in x/y
        "cxx": v_par * c * c + v_perp * s * s,
        "cxy": (v_par - v_perp) * c * s,
        "cyy": v_par * s * s + v_perp * c * c,
    }
    tensor = {
        **{f"jet_{k}": ak.sum(v, axis=1) for k, v in per_jet.items()},
        "jet_cpar": ak.sum(v_par * cm * cm + v_perp * sm * sm, axis=1),
        "jet_cperp": ak.sum(v_par * sm * sm + v_perp * cm * cm, axis=1),
        **{f"hadjet_{k}": ak.sum(ak.where(hadronic, v, 0.0), axis=1) for k, v in per_jet.items()},
    }
    mu = _final_state(gen, 13, 0.0)
    fwd = mu[abs(mu.eta) > MUON_ACCEPTANCE_ETA]
    mphi = fwd.phi - gen.GenMET.phi
    muons = {
        "fwdmu_par": ak.sum(fwd.pt * np.cos(mphi), axis=1),
        "fwdmu_perp": ak.sum(fwd.pt * np.sin(mphi), axis=1),
    }
    lep_sumpt2, jet_sumpt2 = _pv_score_parts(gen, j)
    tracks = _track_multiplicity(j)
    return {
        "nTrueInt": ak.values_astype(gen.Pileup.nTrueInt, np.float64),
        "nPU": ak.values_astype(gen.Pileup.nPU, np.float64),
        "nGenJet10": ak.values_astype(ak.sum(j.pt > 10, axis=1), np.float64),
        "nGenJet10_central": ak.values_astype(ak.sum((j.pt > 10) & (abs(j.eta) < CENTRAL_ETA), axis=1), np.float64),
        "HT": ak.sum(ak.where(hard, j.pt, 0.0), axis=1),
        "nGenJet": ak.values_astype(ak.sum(hard, axis=1), np.float64),
        "GenMET_pt": ak.values_astype(gen.GenMET.pt, np.float64),
        **{k: ak.values_astype(_signed_sqrt(v), np.float64) for k, v in tensor.items()},
        **{k: ak.values_astype(v, np.float64) for k, v in muons.items()},
        "log_lep_sumpt2": ak.values_astype(np.log1p(lep_sumpt2), np.float64),
        "log_jet_sumpt2": ak.values_astype(np.log1p(jet_sumpt2), np.float64),
        **{k: ak.values_astype(v, np.float64) for k, v in tracks.items()},
    }


#: names of the per-event features (:func:`event_context`).
EVENT_FEATURES = ("nTrueInt", "nPU", "nGenJet10", "nGenJet10_central", "HT", "nGenJet", "GenMET_pt",
                  "jet_cxx", "jet_cxy", "jet_cyy", "jet_cpar", "jet_cperp", "hadjet_cxx", "hadjet_cxy", "hadjet_cyy",
                  "fwdmu_par", "fwdmu_perp", "log_lep_sumpt2", "log_jet_sumpt2",
                  *(f"logpt_{k}" for k in TRACK_FLAVOURS))


_NEIGHBOURS: dict[str, Callable] = {"genjet": _genjets, "mu": _muons, "ele": _electrons, "pho": _photons,
                                    "nu": _neutrinos, "bhad": _b_hadrons}


def _genpart_ids(cand: ak.Array) -> ak.Array | None:
    """GenPart indices of GenPart candidates (they have ``pdgId`` and ``idx``), else ``None``."""
    return cand.idx if "pdgId" in cand.fields and "idx" in cand.fields else None


_ONE_HOT = {
    "is_b": ("hadronFlavour", (5,)),
    "is_c": ("hadronFlavour", (4,)),
    "parton_b": ("partonFlavour", (5,)),
    "parton_c": ("partonFlavour", (4,)),
    "parton_g": ("partonFlavour", (21,)),
    "parton_none": ("partonFlavour", (0,)),
}


def parton_charge(flavour):
    """Electric charge of the parton behind a jet from its signed ``partonFlavour``.

    +2/3 for u and c, -1/3 for d, s and b, opposite for antiquarks, 0 for gluons and jets
    without a parton (0). A jet faking a tau carries the charge of its leading track,
    which follows the parton's: in the reference ttbar sample fake taus from up-type
    quark (or down-type antiquark) jets have mean charge +0.39, the others -0.36.

    Example:
        >>> parton_charge(np.array([2, -1, 21, 0, -4])).tolist()
        [0.6666666666666666, 0.3333333333333333, 0.0, 0.0, -0.6666666666666666]
    """
    a = abs(flavour)
    q = ((a == 2) | (a == 4)) * (2.0 / 3.0) + ((a == 1) | (a == 3) | (a == 5)) * (-1.0 / 3.0)
    return q * np.sign(flavour)


#: features of an FSR-photon candidate and its gen lepton (:func:`fsr_lepton`).
FSR_LEPTON_FEATURES = ("fsr_lep_logdr", "fsr_lep_ptrel", "fsr_lep_logdret2")


def fsr_lepton(gen: ak.Array, cand: ak.Array) -> dict[str, ak.Array]:
    """For FSR-photon candidates (:func:`flashsim_coffea.sim.candidates.fsr_photons`, ``parent_idx``: the
    GenPart index of their lepton): ``fsr_lep_logdr``, log of the ΔR to the lepton (floored at
    :data:`MIN_DR`); ``fsr_lep_ptrel``, the lepton's pT over the photon's; ``fsr_lep_logdret2``,
    log of ΔR / pT² (GeV⁻²), the quantity NanoAOD's FSR recovery cuts on.

    Example:
        >>> gen = ak.Array({"GenPart": [[{"pt": 40.0, "eta": 0.0, "phi": 0.0}, {"pt": 4.0, "eta": 0.1, "phi": 0.0}]]})
        >>> cand = ak.with_field(gen.GenPart[:, 1:], [[0]], "parent_idx")
        >>> {k: np.round(v.tolist(), 3).tolist() for k, v in fsr_lepton(gen, cand).items()}
        {'fsr_lep_logdr': [[-2.303]], 'fsr_lep_ptrel': [[10.0]], 'fsr_lep_logdret2': [[-5.075]]}
    """
    lep = gen.GenPart[cand.parent_idx]
    dr = np.maximum(np.hypot(cand.eta - lep.eta, delta_phi(cand.phi, lep.phi)), MIN_DR)
    return {"fsr_lep_logdr": np.log(dr), "fsr_lep_ptrel": lep.pt / cand.pt,
            "fsr_lep_logdret2": np.log(dr / cand.pt**2)}


def shared_context(gen: ak.Array, shared: dict) -> dict[str, ak.Array]:
    """The :func:`event_context` of chunk ``gen``, computed once into the caller's cache ``shared``
    (the dict :func:`compute` takes), so that every source of the chunk uses the same one."""
    if "context" not in shared:
        shared["context"] = event_context(gen)
    return shared["context"]


def compute(gen: ak.Array, cand: ak.Array, names: list[str], shared: dict | None = None) -> dict[str, ak.Array]:
    """Evaluate the feature ``names`` for candidates ``cand`` of chunk ``gen`` (float64, jagged like ``cand``).

    ``shared``: a dict kept by the caller across calls on the same chunk, caching the
    event context and the neighbour collections. :func:`compute_flat` gives the same values flat.
    """
    counts = ak.num(cand, axis=1)
    return {k: ak.unflatten(v, counts) for k, v in compute_flat(gen, cand, names, shared).items()}


def compute_flat(gen: ak.Array, cand: ak.Array, names: list[str], shared: dict | None = None) -> dict[str, np.ndarray]:
    """:func:`compute` with each feature flat (float64, candidates of all events in order): the
    engine's form, without a jagged array per feature (the awkward calls are most of the
    features' cost on a chunk of a few thousand events).
    """
    out: dict[str, np.ndarray] = {}
    shared = {} if shared is None else shared
    cache: dict = {}
    counts = ak.to_numpy(ak.num(cand, axis=1))

    def raw(field: str) -> np.ndarray:  # a candidate field in its own dtype, flattened once per call
        if ("raw", field) not in cache:
            cache["raw", field] = ak.to_numpy(ak.flatten(cand[field], axis=None))
        return cache["raw", field]

    def col(field: str) -> np.ndarray:
        if ("col", field) not in cache:
            cache["col", field] = np.asarray(raw(field), np.float64)
        return cache["col", field]

    def side(ids: ak.Array | None) -> tuple[np.ndarray, ...]:
        if ("side", ids is None) not in cache:
            off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            cache["side", ids is None] = (off, col("eta"), col("phi"),
                                          np.full(len(col("eta")), -1, np.int64) if ids is None else _flat_int(ids))
        return cache["side", ids is None]

    def other(kind: str) -> tuple[np.ndarray, ...]:  # a neighbour collection's flat side, made once a chunk
        if kind not in shared:
            shared[kind] = _NEIGHBOURS[kind](gen)
        if ("flat", kind) not in shared:
            nb = shared[kind]
            shared["flat", kind] = _side(nb, nb.idx if "idx" in nb.fields else None, with_pt=True)
        return shared["flat", kind]

    for name in names:
        if name in EVENT_FEATURES:
            value = np.repeat(np.asarray(ak.to_numpy(shared_context(gen, shared)[name]), np.float64), counts)
        elif name == "log_pt":
            value = np.log(raw("pt"))  # in the field's precision (float32 in NanoAOD)
        elif name == "abs_eta":
            value = np.abs(col("eta"))
        elif name == "charge":
            value = col("charge") if "charge" in cand.fields else -np.sign(col("pdgId"))
        elif name.startswith("flag:"):
            flags = _flat_int(cand.statusFlags) if "statusFlags" in cand.fields else _mother_flags(gen, cand)
            value = (flags >> BITS[name[5:]]) & 1
        elif name in _ONE_HOT:
            field, values = _ONE_HOT[name]
            value = np.abs(col(field)) == values[0]
        elif name == "parton_charge":
            value = parton_charge(col("partonFlavour"))
        elif name == "lepiso03":
            if "leptons" not in shared:
                shared["leptons"] = _leptons(gen)
            lep = shared["leptons"]
            value = _cone_kernel(*side(_genpart_ids(cand)), *_side(lep, lep.idx, with_pt=True), 0.3) / col("pt")
        elif name in ("anc_ctau", "anc_flight"):
            if "anc" not in cache:
                cache["anc"] = ancestors(gen, cand)
            value = np.log10(PROMPT_FLIGHT_MM + _flat64(cache["anc"][0 if name == "anc_ctau" else 1]))
        elif name in HADRON_FEATURES:
            value = _flat64(_hadron_feature(gen, cand, name))
        elif name == "hf_flight":
            if "heavy_hadrons" not in shared:
                shared["heavy_hadrons"] = heavy_hadrons(gen)
            if ("flat", "heavy_hadrons") not in shared:
                shared["flat", "heavy_hadrons"] = _side(shared["heavy_hadrons"], None, with_pt=True)
            value = np.log10(PROMPT_FLIGHT_MM + _cone_kernel(*side(None), *shared["flat", "heavy_hadrons"], HF_CONE))
        elif name in ("bhad_deta", "bhad_dphi"):
            if "bhad_dir" not in cache:  # the nearest b hadron's η and φ, by the nearest-neighbour kernel
                off, b_eta, b_phi, _, b_id = other("bhad")
                a = side(_genpart_ids(cand))
                _, n_eta = _nearest_kernel(*a, off, b_eta, b_phi, b_eta, b_id, False, NO_NEIGHBOUR_DR)
                dr, n_phi = _nearest_kernel(*a, off, b_eta, b_phi, b_phi, b_id, False, NO_NEIGHBOUR_DR)
                none = dr >= NO_NEIGHBOUR_DR
                cache["bhad_dir"] = (np.where(none, 0.0, n_eta - col("eta")),
                                     np.where(none, 0.0, (n_phi - col("phi") + np.pi) % (2 * np.pi) - np.pi))
            value = cache["bhad_dir"][name == "bhad_dphi"]
        elif name.endswith(("_dr", "_logdr", "_ptrel")) and (kind := name.rsplit("_", 1)[0]) in (*_NEIGHBOURS, "other"):
            if ("near", kind) not in cache:
                if kind == "other":
                    cache["near", kind] = _nearest_kernel(*side(None), *side(None)[:3], col("pt"), side(None)[3],
                                                          True, NO_NEIGHBOUR_DR)
                else:
                    cache["near", kind] = _nearest_kernel(*side(_genpart_ids(cand)), *other(kind), False,
                                                          NO_NEIGHBOUR_DR)
            dr, pt = cache["near", kind]
            if name.endswith("_dr"):
                value = dr
            else:
                value = np.log(np.maximum(dr, MIN_DR)) if name.endswith("_logdr") else pt / col("pt")
        elif name in FSR_LEPTON_FEATURES:
            if "fsr" not in cache:
                cache["fsr"] = fsr_lepton(gen, cand)
            value = _flat64(cache["fsr"][name])
        elif name in boosted.FEATURES or name.startswith("parent:"):
            value = _flat64(boosted.compute(gen, cand, name, shared, cache))
        elif name in cand.fields:
            value = col(name)
        else:
            raise KeyError(f"unknown conditioning feature {name!r}")
        out[name] = np.asarray(value, np.float64)
    return out
