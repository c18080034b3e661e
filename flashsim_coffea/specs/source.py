"""A FlashSim *source*: one way a reco object comes about, with its models' inputs and outputs.

Example:
    >>> src = Source("Muon", "genmuon", candidates="GenMuon", link="genPartIdx",
    ...              conditioning=["log_pt", "eta"], targets={"pt": {"kind": "ratio", "gen": "pt"}})
    >>> src.key, src.link, src.match_dr, src.mirror
    ('Muon_genmuon', 'genPartIdx', 0.4, ())
    >>> fsr = Source("FsrPhoton", "muon", candidates="GenFsrPhotonMuon", conditioning=["log_pt"], targets={},
    ...              parent=Parent("Muon", "genPartIdx", index="muonIdx"))
    >>> fsr.parent.collection, fsr.parent.field, fsr.parent.column
    ('Muon', 'parent_idx', 'muonIdx')
    >>> Source("Muon", "genmuon", candidates="GenMuon", conditioning=["log_pt"], targets={},
    ...        oversample={"flag:isPrompt": 4.0})
    Traceback (most recent call last):
    ...
    ValueError: source Muon_genmuon: oversample names ['flag:isPrompt'], which are not in its conditioning ['log_pt']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import awkward as ak


def candidate_dr(sampled: Mapping[str, np.ndarray], gen: Mapping[str, np.ndarray]) -> np.ndarray:
    """ΔR of each sampled object (``eta``, ``phi``) to its candidate (``gen_eta``, ``gen_phi``): what a
    :attr:`Source.region` reads.

    Example:
        >>> candidate_dr({"eta": np.array([0.3]), "phi": np.array([3.0])}, {"gen_eta": np.zeros(1),
        ...              "gen_phi": np.array([-3.0])}).round(3).tolist()
        [0.413]
    """
    from flashsim_coffea.nanoaod.angles import delta_r

    return delta_r(np.asarray(sampled["eta"], np.float64), np.asarray(sampled["phi"], np.float64),
                   np.asarray(gen["gen_eta"], np.float64), np.asarray(gen["gen_phi"], np.float64))


def near_candidate(sampled: Mapping[str, np.ndarray], gen: Mapping[str, np.ndarray], dr_max: float) -> np.ndarray:
    """A :attr:`Source.region`: the sampled objects within ``dr_max`` of their candidate, as every training
    object of a source matched within that ΔR is (``functools.partial(near_candidate, dr_max=0.4)``).

    Example:
        >>> gen = {"gen_eta": np.zeros(3), "gen_phi": np.array([0.0, 0.0, 3.1])}
        >>> near_candidate({"eta": np.array([0.1, 0.5, 0.0]), "phi": np.array([0.0, 0.0, -3.1])}, gen, 0.4).tolist()
        [True, False, True]
    """
    return candidate_dr(sampled, gen) < dr_max


@dataclass(frozen=True)
class Parent:
    """The object of an earlier reco collection a source's objects need in the same event.

    A SubJet exists only inside its FatJet, an FSR photon only next to its muon: such a
    source's candidates carry the gen index of their parent gen object (``field``). The
    engine drops a candidate whose parent gen object has no object in the parent
    collection of that flash event (after the efficiency draw: the efficiency model is
    P(reconstructed | parent reconstructed)), and writes the parent's position in its final
    (pT-sorted) collection into ``index``; training uses only the candidates whose parent
    gen object has a reco object in the parent collection.

    Attributes:
        collection: the parent reco collection, made earlier (:data:`flashsim_coffea.specs.COLLECTIONS` order).
        link: the parent collection's gen-link field (``genPartIdx``, ``genJetAK8Idx``).
        field: the candidates' field holding their parent's gen index (-1: none).
        index: this collection's field receiving the parent's position (``muonIdx``); ``None``:
            the private column :data:`PARENT_COLUMN`, which the collection's derive function
            reads and removes (reverse links such as ``FatJet.subJetIdx1/2``).
        shared_draw: the candidates of one parent share the uniform of their efficiency draw (keyed by
            the parent's gen index instead of their own), so that they are kept together as far as their
            probabilities allow: with p1 <= p2 both with probability p1, one alone with p2 - p1 (the
            comonotone coupling; each candidate's own probability unchanged). A groomed fat jet has two
            subjets or none; independent draws gave 10 % of the flash fat jets one subjet, FullSim none.
        eligible: per parent reco object (an awkward record array of the parent collection), whether it can
            have children at all (a fat jet with soft drop); ``None``: every parent. Training counts only the
            candidates of eligible parents, so the efficiency model is P(reconstructed | eligible parent), and
            the collection's derive function drops the children of ineligible flash parents by the same rule:
            counting them in training as well lost them twice.
    """

    collection: str
    link: str
    field: str = "parent_idx"
    index: str | None = None
    shared_draw: bool = False
    eligible: Callable[[ak.Array], ak.Array] | None = None

    @property
    def column(self) -> str:
        """The column the parent's position goes in."""
        return self.index or PARENT_COLUMN


#: private column of the parent's position when :attr:`Parent.index` is ``None`` (not a NanoAOD field).
PARENT_COLUMN = "_parentIdx"
#: conditioning of a count source (no gen object: the pileup jets, the fakes apart from every jet): the event's
#: pileup and activity
COUNT_CONDITIONING = ["nTrueInt", "nPU", "nGenJet10", "nGenJet10_central", "HT", "nGenJet", "GenMET_pt"]
#: suffix of a category that is the region of a ``regions`` target (``"eta:region"``), not a field of its own
REGION = ":region"
#: suffix of a category that is the point mass a ``spike`` target sits on (``"chHEF:point"``: 0 none, k the k-th
#: nested spike's value), not a field of its own
POINT = ":point"


def spike_points(spec: Mapping) -> list:
    """The point masses of a target spec's ``spike`` chain, outer first (empty: no spike), where a categories-first
    source may draw them: numeric values, and no transform of the chain reading a gen column. The chain may be the
    gap of an ``excess`` to its bound (a point 0: the tie).

    Example:
        >>> spike_points({"kind": "spike", "value": 0.0, "then": {"kind": "spike", "value": 1.0, "then": {"kind": "logit"}}})
        [0.0, 1.0]
        >>> spike_points({"kind": "excess", "over": "chg", "then": {"kind": "spike", "value": 0.0, "then": {"kind": "log"}}})
        [0.0]
        >>> spike_points({"kind": "ratio", "gen": "pt"})
        []
    """
    chain, t = [], spec
    while isinstance(t, Mapping):
        chain.append(t)
        t = t.get("then")
    out = []
    for d in chain[1:] if chain and chain[0].get("kind") == "excess" else chain:
        if d.get("kind") not in ("spike", "default"):
            break
        if d["kind"] == "spike":
            out.append(d.get("value", 0.0))
    return [] if any(isinstance(v, str) for v in out) or any("gen" in d for d in chain) else out


@dataclass(frozen=True)
class Source:
    """One source of a reco collection.

    Attributes:
        collection: the reco collection (``Jet``, ``Muon``, ...); ``""`` for event-level quantities.
        name: the source's name, unique within the collection (``genjet``, ``jetfake``, ...).
        candidates: kind of gen candidate (:data:`flashsim_coffea.sim.candidates.KINDS`);
            ``None`` for event-level sources (one "candidate" per event).
        link: reco field holding the candidate's gen index (``genPartIdx``/``genJetIdx``)
            for genuine sources; ``None`` for fakes (matched by ΔR to the candidate).
        conditioning: feature names (:mod:`flashsim_coffea.sim.features`).
        targets: reco field -> transform spec (:mod:`flashsim_coffea.sim.transforms`), in order.
        copy: reco field -> candidate field copied as is (e.g. ``hadronFlavour``).
        match_dr: ΔR for fallback/fake matching.
        constants: reco field -> constant value (e.g. the muon mass).
        mirror: reflections (``phi``, ``eta``) whose mirror images augment the training
            rows (:mod:`flashsim_coffea.train.mirror`); ``()`` for none.
        oversample: conditioning flag -> factor: the flow's training batches draw the rows
            with that flag set ``factor`` times as often (weights of the conditioning alone
            leave p(reco | gen) unchanged; a rare kind of candidate gets more of the
            training). ``{}`` for none.
        efficiency_bins: conditioning features the efficiency classifier also sees in a
            piecewise-linear encoding (:class:`flashsim_coffea.sim.efficiency.Classifier`
            ``bins``, edges at quantiles of the reconstructed candidates): an acceptance
            edge in |η| comes out as a step (tried on fake taus; binning ``log_pt`` as well
            made 15-20 GeV jets fake a hundred times too often). ``()`` for none.
        full_schedule: train the flow over its whole cosine schedule, keeping the best
            epoch of the averaged weights, instead of stopping early: for a sparse source the
            validation loss of a tenth of its objects is too noisy to stop on (fake taus:
            one training stopped at epoch 89 of 175, the learning rate still high).
        max_objects: reco objects the flow trains on at most (a random subset beyond): a
            choice of training time, not of memory (training reads them group by group,
            :mod:`flashsim_coffea.train.rows`).
        max_candidates: candidates the efficiency classifier trains on at most (a random subset
            beyond): a classifier step is cheap, and the turn-on needs them all (GenJets at
            20-25 GeV, |η| < 2.5, zh_llbb: 0.852 from a 400k subset of the 731k training
            candidates, 0.870 from all of them, FullSim 0.886).
        parent: the earlier collection's object each object needs (:class:`Parent`); ``None``: none.
        optional: the collection is still simulated, without this source and with a warning, from an
            input that lacks the source's gen collection (tau SVs from a NanoAOD v12 file without
            GenVisTau); ``False``: the collection is then left out.
        region: ``region(sampled, gen) -> mask`` of the sampled objects inside a cut that every
            training object satisfies by construction (an FSR photon within the producer's ΔR and
            dR/ET² of its lepton); the engine draws the others again, as those outside the
            acceptance (the flow density truncated to where the data are). ``None``: no such cut.
        categories: one-hot targets (:mod:`flashsim_coffea.sim.transforms` ``onehot``) drawn jointly before the
            flow by a classifier of their value combinations given the conditioning, the flow then given the
            drawn combination (:mod:`flashsim_coffea.sim.categories`), instead of by the flow: calibrated
            category shares; ``"<target>:region"`` (:data:`REGION`) for the region of a ``regions`` target (the
            pileup jets' calorimeter region of η), its position inside the region still the flow's;
            ``"<target>:point"`` (:data:`POINT`) for which point mass of a ``spike`` target it sits on (a jet's
            ``chHEF`` = 0: flows under-produce narrow point masses, docs/performance.md), its value off the points
            still the flow's. ``()``: the flow learns them as its other targets.
        categories_conditioning: the conditioning features the categories classifier sees (a subset of
            :attr:`conditioning`; the flow still sees all of it). ``()``: all of it. The pileup jets' flavour
            shares hardly differ between processes (parton flavour 0 for 0.29-0.31 of them, weighted, in each
            training process), but a classifier given the event's jet counts, HT and MET read 0.25 for ttbar and
            0.35 for W+jets; given the pileup alone, within 0.016 of every process (docs/performance.md).
        apart_from: ``((candidate kind, ΔR), ...)``: the source's objects lie farther than ΔR from every
            candidate of each kind in their event, as every training object does by construction (the pileup
            jets from the GenJets and from the b hadrons outside them: the jets there are split and bhadron
            jets); the engine draws again those that do not. The training weights each object by the inverse
            of the azimuth fraction at its η apart from its event's candidates (:mod:`flashsim_coffea.train.apart`),
            so that the flow learns the density before the exclusion and the redraw applies it once.
            ``()``: anywhere.
        draw_with: an earlier source of the same collection and candidates whose efficiency uniforms this one
            reuses (the comonotone coupling, as :attr:`Parent.shared_draw`): where its probability is at most
            that source's, it fires only where that one fired, each probability unchanged. A second fake
            electron beside a GenJet: the efficiency learns P(a second fake | GenJet), the coupling puts it
            beside a first one (drawn apart, 141 seconds in zh_llbb 20k against FullSim's 540). ``None``: its
            own draws.
    """

    collection: str
    name: str
    candidates: str | None
    conditioning: list[str]
    targets: dict[str, dict]
    link: str | None = None
    copy: dict[str, str] = field(default_factory=dict)
    match_dr: float = 0.4
    constants: dict[str, float] = field(default_factory=dict)
    mirror: tuple[str, ...] = ()
    oversample: dict[str, float] = field(default_factory=dict)
    efficiency_bins: tuple[str, ...] = ()
    full_schedule: bool = False
    max_objects: int = 400_000
    max_candidates: int = 2_000_000
    parent: Parent | None = None
    optional: bool = False
    region: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], np.ndarray] | None = None
    apart_from: tuple[tuple[str, float], ...] = ()
    categories: tuple[str, ...] = ()
    categories_conditioning: tuple[str, ...] = ()
    draw_with: str | None = None

    @property
    def flow_targets(self) -> dict[str, dict]:
        """The targets the flow learns: all but the :attr:`categories`."""
        return {k: v for k, v in self.targets.items() if k not in self.categories}

    def __post_init__(self):
        wrong = [n for n in self.categories if self.targets.get(n, {}).get("kind") != "onehot" and not (
            n.endswith(REGION) and self.targets.get(n[:-len(REGION)], {}).get("kind") == "regions"
            and n[:-len(REGION)] not in self.mirror) and not (
            n.endswith(POINT) and spike_points(self.targets.get(n[:-len(POINT)], {}))
            and n[:-len(POINT)] not in self.mirror)]
        if wrong or len(set(self.categories)) < len(self.categories):
            raise ValueError(f"source {self.key}: categories {list(self.categories)}: each once, a onehot target, "
                             "the region of a regions target or the point mass of a spike target (numeric values, "
                             "no gen column in its chain; not mirrored: an image lies in another region)")
        if self.categories_conditioning and not self.categories:
            raise ValueError(f"source {self.key}: categories_conditioning without categories")
        for option, names in (("oversample", self.oversample), ("efficiency_bins", self.efficiency_bins),
                              ("categories_conditioning", self.categories_conditioning)):
            unknown = [n for n in names if n not in self.conditioning]
            if unknown:
                raise ValueError(f"source {self.key}: {option} names {unknown}, which are not in its conditioning "
                                 f"{self.conditioning}")
        if self.draw_with is not None and (self.draw_with == self.name or self.candidates is None):
            raise ValueError(f"source {self.key}: draw_with names another candidate source, not {self.draw_with!r}")

    @property
    def key(self) -> str:
        """``<collection>_<name>``: the model directory name."""
        return f"{self.collection or 'Event'}_{self.name}"

    @property
    def efficiency_key(self) -> str:
        """The key whose efficiency uniforms the source draws: its own, or that of :attr:`draw_with`."""
        return f"{self.collection or 'Event'}_{self.draw_with or self.name}"
