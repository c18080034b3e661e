"""Conditioning features of the boosted sources (FatJet from GenJetAK8, SubJet from SubGenJetAK8).

What a fat jet's reco fields depend on besides its own gen kinematics: the heavy-flavour hadrons
inside it (the double-b / c taggers, ``hadronFlavour``), the W/Z/H/top whose decay products it
contains (the taggers, the soft-drop mass peak: :func:`flashsim_coffea.nanoaod.jet_truth.jet_truth`,
the same truth the reference draws its scores from) and its two soft-drop gen subjets (the prong
structure behind ``msoftdrop``, ``tau2/tau1``, ``n2b1``). Every feature is a gen-level function,
computed for the whole chunk at once (:func:`flashsim_coffea.sim.features.compute` calls
:func:`compute` for the names of :data:`FEATURES` and for ``parent:<name>``).

Feature names:

* ``ak8_nb``, ``ak8_nc``: weakly decaying b / c hadrons (:func:`flashsim_coffea.sim.features.heavy_hadrons`)
  within ΔR < 0.8; ``sub_nb``, ``sub_nc``: the same within ΔR < 0.4 (a subjet);
* ``ak8_top``, ``ak8_w``, ``ak8_z``, ``ak8_hbb``, ``ak8_hcc``, ``ak8_hqq`` (H → 4q or a light pair),
  ``ak8_tautau``: the jet contains all decay products of such a resonance (one-hot, 0 for QCD);
  ``ak8_pair_b``, ``ak8_pair_c``: the contained W/Z pair is bb / has a c;
* ``sd_n``: how many SubGenJetAK8 belong to the jet (0-2); ``sd_share``: pT of the harder over the sum
  (1 with fewer than two); ``sd_dr``: ΔR between the two (0); ``sd_logm1``, ``sd_logm2``: log(1 + m/GeV) of
  each; ``sd_logmass``: log(1 + m/GeV) of their sum, the groomed gen mass (0);
* ``parent_dr``: ΔR of a SubGenJetAK8 to its GenJetAK8 (8 without); ``parent:<name>``: feature ``<name>``
  of the candidate's parent GenJetAK8 (0 without parent).

Example:
    A GenJetAK8 of 400 GeV with two subjets of 300 and 100 GeV 0.4 apart:

    >>> gen = ak.Array({
    ...     "GenPart": [[]], "GenJetAK8": [[{"pt": 400.0, "eta": 0.0, "phi": 0.0, "mass": 90.0}]],
    ...     "SubGenJetAK8": [[{"pt": 300.0, "eta": 0.1, "phi": 0.0, "mass": 10.0},
    ...                       {"pt": 100.0, "eta": -0.3, "phi": 0.0, "mass": 5.0}]]})
    >>> sub = with_parent(gen, gen.SubGenJetAK8)
    >>> sub.parent_idx.tolist()
    [[0, 0]]
    >>> f = subjet_pairs(gen)
    >>> [round(float(f[k][0][0]), 3) for k in ("sd_n", "sd_share", "sd_dr", "sd_logmass")]
    [2.0, 0.75, 0.4, 4.282]
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import jet_truth
from flashsim_coffea.nanoaod.angles import delta_r
from flashsim_coffea.nanoaod.derived import invariant_mass, offsets, p4
from flashsim_coffea.nanoaod.genevents import GenInputError
from flashsim_coffea.nanoaod.status_flags import BITS

#: fat-jet radius: subjets, hadrons and decay products "inside" (AK8).
R = 0.8
#: subjet radius for ``sub_nb`` / ``sub_nc``.
R_SUB = 0.4
#: resonance one-hots -> the :data:`flashsim_coffea.nanoaod.jet_truth.CATEGORIES` they cover.
RESONANCES: dict[str, tuple[str, ...]] = {
    "ak8_top": ("T",), "ak8_w": ("W",), "ak8_z": ("Z",), "ak8_hbb": ("Hbb",), "ak8_hcc": ("Hcc",),
    "ak8_hqq": ("H4q", "Hqq"), "ak8_tautau": ("Xtt", "Xte", "Xtm"),
}
_PAIRS = ("sd_n", "sd_share", "sd_dr", "sd_logm1", "sd_logm2", "sd_logmass")
#: the feature names this module computes (besides ``parent:<name>``).
FEATURES = ("ak8_nb", "ak8_nc", "sub_nb", "sub_nc", *RESONANCES, "ak8_pair_b", "ak8_pair_c", *_PAIRS, "parent_dr")


def _need(gen: ak.Array, coll: str, what: str) -> None:
    if coll not in gen.fields:
        raise GenInputError(f"missing gen branch {coll}_pt (needed for {what})")


def with_parent(gen: ak.Array, sub: ak.Array) -> ak.Array:
    """``sub`` (SubGenJetAK8 records) with ``parent_idx``: the index of the nearest GenJetAK8 within
    ΔR < :data:`R` (-1: none). NanoAOD writes the subjets jet after jet without a link; the nearest
    fat jet is the one they were groomed from. Example in the module docstring."""
    _need(gen, "GenJetAK8", "SubGenJetAK8 candidates")
    fat = gen.GenJetAK8
    pairs = ak.cartesian({"s": sub[["eta", "phi"]], "f": fat[["eta", "phi"]]}, axis=1, nested=True)
    dr = delta_r(pairs.s.eta, pairs.s.phi, pairs.f.eta, pairs.f.phi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    near = ak.firsts(dr[best], axis=2)
    idx = ak.fill_none(ak.firsts(best, axis=2), -1)
    idx = ak.where(ak.fill_none(near, np.inf) < R, idx, -1)
    return ak.with_field(sub, ak.values_astype(idx, np.int64), "parent_idx")


def subjet_pairs(gen: ak.Array) -> dict[str, ak.Array]:
    """Per GenJetAK8 (all of them, in gen order), the features ``sd_*`` of its two harder SubGenJetAK8."""
    _need(gen, "SubGenJetAK8", "the FatJet/SubJet conditioning (sd_* features)")
    fat = gen.GenJetAK8
    sub = with_parent(gen, gen.SubGenJetAK8)
    nf = ak.to_numpy(ak.num(fat.pt, axis=1)).astype(np.int64)
    ns = ak.to_numpy(ak.num(sub.pt, axis=1)).astype(np.int64)
    foff = offsets(nf)
    sevt = np.repeat(np.arange(len(nf)), ns)
    par = ak.to_numpy(ak.flatten(sub.parent_idx)).astype(np.int64)
    ok = par >= 0
    glob = foff[sevt[ok]] + par[ok]
    s = {k: ak.to_numpy(ak.flatten(sub[k])).astype(np.float64)[ok] for k in ("pt", "eta", "phi", "mass")}
    order = np.lexsort((-s["pt"], glob))  # per fat jet, harder first
    glob = glob[order]
    s = {k: v[order] for k, v in s.items()}
    rank = np.arange(len(glob)) - offsets(np.bincount(glob, minlength=int(foff[-1])))[glob]
    n_f = int(foff[-1])
    n = np.minimum(np.bincount(glob, minlength=n_f), 2)
    two = {}
    for r in (0, 1):
        pick = rank == r
        two[r] = {k: np.zeros(n_f) for k in s}
        for k in s:
            two[r][k][glob[pick]] = s[k][pick]
    a, b = two[0], two[1]
    both = n == 2
    msd = invariant_mass(sum(p4(x["pt"], x["eta"], x["phi"], x["mass"]) for x in (a, b)))
    out = {
        "sd_n": n.astype(np.float64),
        "sd_share": np.where(both, a["pt"] / np.maximum(a["pt"] + b["pt"], 1e-9), 1.0),
        "sd_dr": np.where(both, delta_r(a["eta"], a["phi"], b["eta"], b["phi"]), 0.0),
        "sd_logm1": np.log1p(a["mass"]),
        "sd_logm2": np.log1p(b["mass"]),
        "sd_logmass": np.where(n > 0, np.log1p(msd), 0.0),
    }
    return {k: ak.unflatten(v, nf) for k, v in out.items()}


def _truth_particles(gen: ak.Array) -> ak.Array:
    """Final-state gen electrons and muons with ``tauIdx`` >= 0 for τ decay products (what
    :func:`~flashsim_coffea.nanoaod.jet_truth.jet_truth` reads to tell Xte / Xtm from Xtt)."""
    g = gen.GenPart
    a = abs(g.pdgId)
    lep = g[((a == 11) | (a == 13)) & (g.status == 1)]
    tau = (lep.statusFlags >> BITS["isTauDecayProduct"]) & 1
    return ak.zip({"pdgId": lep.pdgId, "pt": lep.pt, "eta": lep.eta, "phi": lep.phi,
                   "tauIdx": ak.values_astype(tau - 1 + tau, np.int64)})


def resonances(gen: ak.Array, cand: ak.Array, particles: ak.Array | None = None) -> dict[str, ak.Array]:
    """The one-hots of :data:`RESONANCES` and ``ak8_pair_b`` / ``ak8_pair_c`` of each candidate
    (``particles``: the chunk's :func:`_truth_particles`, computed here if not given)."""
    counts = ak.to_numpy(ak.num(cand.pt, axis=1)).astype(np.int64)
    evt = np.repeat(np.arange(len(counts)), counts)
    flat = {k: ak.to_numpy(ak.flatten(cand[k])).astype(np.float64) for k in ("eta", "phi")}
    particles = _truth_particles(gen) if particles is None else particles
    t = jet_truth.jet_truth(gen.GenPart, particles, evt, flat["eta"], flat["phi"], R)
    name = np.asarray(jet_truth.CATEGORIES)[t["category"]]
    out = {k: np.isin(name, v).astype(np.float64) for k, v in RESONANCES.items()}
    pair = np.isin(name, ("W", "Z"))
    out["ak8_pair_b"] = (pair & (t["flavour"] == 5)).astype(np.float64)
    out["ak8_pair_c"] = (pair & (t["flavour"] == 4)).astype(np.float64)
    return {k: ak.unflatten(v, counts) for k, v in out.items()}


def compute(gen: ak.Array, cand: ak.Array, name: str, shared: dict, cache: dict) -> ak.Array:
    """Feature ``name`` (:data:`FEATURES` or ``parent:<name>``) of the candidates ``cand`` of chunk ``gen``.

    ``shared``: the chunk's cache across sources; ``cache``: this candidate collection's.
    """
    from flashsim_coffea.sim import features

    if name.startswith("parent:"):
        _need(gen, "GenJetAK8", name)
        inner = name[len("parent:"):]
        if ("parents", inner) not in shared:
            fat = ak.with_field(gen.GenJetAK8, ak.local_index(gen.GenJetAK8.pt, axis=1), "idx")
            shared["parents", inner] = features.compute(gen, fat, [inner], shared=shared)[inner]
        value = shared["parents", inner]
        pidx = cand.parent_idx
        has = pidx >= 0
        return ak.where(has, value[ak.where(has, pidx, 0)], 0.0)
    if name in ("ak8_nb", "ak8_nc", "sub_nb", "sub_nc"):
        if "heavy_hadrons" not in shared:
            shared["heavy_hadrons"] = features.heavy_hadrons(gen)
        h = shared["heavy_hadrons"]
        want = 5 if name.endswith("nb") else 4
        ones = ak.zip({"eta": h.eta, "phi": h.phi, "pt": ak.values_astype(h.flavour == want, np.float64)})
        return features.cone_sum(cand, ones, R if name.startswith("ak8") else R_SUB)
    if name in RESONANCES or name in ("ak8_pair_b", "ak8_pair_c"):
        if "resonances" not in cache:
            if "truth_particles" not in shared:
                shared["truth_particles"] = _truth_particles(gen)
            cache["resonances"] = resonances(gen, cand, shared["truth_particles"])
        return cache["resonances"][name]
    if name in _PAIRS:
        if "subjet_pairs" not in shared:
            shared["subjet_pairs"] = subjet_pairs(gen)
        value = shared["subjet_pairs"][name]
        if "parent_idx" in cand.fields:  # a subjet: its parent's
            has = cand.parent_idx >= 0
            return ak.where(has, value[ak.where(has, cand.parent_idx, 0)], 0.0)
        return value[cand.idx]
    if name == "parent_dr":
        fat = gen.GenJetAK8
        has = cand.parent_idx >= 0
        p = fat[ak.where(has, cand.parent_idx, 0)]
        return ak.where(has, delta_r(cand.eta, cand.phi, p.eta, p.phi), features.NO_NEIGHBOUR_DR)
    raise KeyError(f"unknown boosted feature {name!r}")
