"""Every field a collection writes, flash vs FullSim: per-field and whole-collection two-sample AUCs.

The per-source figures of :mod:`.report` see a source's conditioning and learnt targets only.
An analysis reads every field of a collection, copied (Jet ``partonFlavour`` from the GenJet),
constant (``partonFlavour = 0`` for pileup jets), derived (``pfIsoId``, trigger bits) and links
(``genJetIdx``) alike; so this check takes the objects of one collection as an analysis sees
them (all sources together, FullSim's unattributed fakes included) above the collection's
threshold, and every field both sides write:

* per field, a single-variable AUC: the 1-D likelihood ratio of flash vs FullSim (a histogram of
  the field, one bin per value for a field of at most :data:`MAX_DISCRETE` values, else
  :data:`BINS` quantile bins, NaN its own bin) learnt on one half of a balanced sample and
  scored on the other (0.5: alike; its ``err`` is the spread of the AUC of two alike samples of
  this size);
* over all fields together, two classifiers, the MLP of :func:`.report.two_sample_auc` and
  scikit-learn's ``HistGradientBoostingClassifier`` (:func:`.report.hgb_auc`), each for classifier
  seeds 0..N-1 (a draw of data split and training: mean and spread), and the same classifiers
  telling two disjoint halves of flash apart (the null: what a perfect simulation would give on
  this many objects; the replicas of one gen event share it, so the null is a little low);
* the fields FullSim writes that flash does not (``not_simulated``) and the reverse
  (``flash_only``), read from the data, never from a fixed list.

A link field (a name ending in ``Idx``, ``Idx1``, ...) enters as its index and as ``<name>:linked``
(index >= 0). Event-level fields (``MET_*``, ``PuppiMET_*``, ``PV_*``, ``Rho_*``, ``HLT_*``,
``Flag_*``: every flat reco branch) make the collection :data:`EVENT`, one row per event; its
``HLT_*``/``Flag_*`` bits also get exact pass fractions over all events (:func:`trigger_table`).

Example:
    A FullSim field with a value flash never gives (partonFlavour 21 for a third of the objects):

    >>> rng = np.random.default_rng(1)
    >>> full = {"pt": rng.exponential(30, 2000), "partonFlavour": np.where(rng.random(2000) < 0.3, 21, 0),
    ...         "genJetIdx": rng.integers(-1, 5, 2000), "btagPNetB": rng.random(2000)}
    >>> flash = {"pt": rng.exponential(30, 2000), "partonFlavour": np.zeros(2000, np.int32),
    ...          "genJetIdx": rng.integers(-1, 5, 2000)}
    >>> r = compare(full, flash, seeds=2, classifiers=("hgb",))
    >>> r["not_simulated"], r["fields"]
    (['btagPNetB'], ['genJetIdx', 'genJetIdx:linked', 'partonFlavour', 'pt'])
    >>> {k: round(v["auc"], 2) for k, v in r["single"].items()}
    {'genJetIdx': 0.5, 'genJetIdx:linked': 0.5, 'partonFlavour': 0.66, 'pt': 0.51}
    >>> round(r["classifiers"]["hgb"]["mean"], 2), len(r["classifiers"]["hgb"]["seeds"])
    (0.67, 2)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import awkward as ak
import numpy as np

from flashsim_coffea.validate.report import MIN_AUC_OBJECTS, auc_score, hgb_auc, two_sample_auc

#: the collection name of the event-level fields.
EVENT = "Event"
#: objects (or events) kept per collection and side for the field check (a uniform subsample beyond,
#: :mod:`.sample`): 50k rows of ~60 fields in their own dtypes, a few tens of MB per collection.
FIELD_CAP = 50_000
#: branch-name prefixes of gen/truth content: not reco fields.
TRUTH_PREFIXES = ("Gen", "gen", "SubGen", "LHE", "Generator", "PSWeight", "HTXS", "Pileup", "btagWeight", "L1")
#: event-level bits whose pass fraction is tabulated (trigger paths, MET filters).
TRIGGER_PREFIXES = ("HLT_", "Flag_")
#: a link field: an index into another collection.
LINK = re.compile(r"Idx\d*$")
#: link-name stems whose collection is not the capitalised stem (``eleIdx`` -> Electron).
LINK_COLLECTIONS = {"ele": "Electron", "mu": "Muon", "sv": "SV", "pf": "PFCands"}


def link_collection(name: str) -> str | None:
    """The collection a link field points into (``None``: not a link); links to collections a run
    does not simulate (``Jet.electronIdx1`` when only Jet is simulated: flash writes -1, FullSim
    does not) are left out of the field check by :func:`objects`.

    Example:
        >>> [link_collection(k) for k in ("electronIdx1", "subJetIdx2", "muonIdx3SJ", "eleIdx", "genJetAK8Idx", "pt")]
        ['Electron', 'SubJet', 'Muon', 'Electron', 'GenJetAK8', None]
    """
    m = re.fullmatch(r"(\w+?)Idx\d*(SJ)?", name)
    if m is None:
        return None
    stem = m.group(1)
    return LINK_COLLECTIONS.get(stem, stem[:1].upper() + stem[1:])


#: a field with at most this many distinct values gets one histogram bin per value.
MAX_DISCRETE = 64
#: quantile bins of a continuous field in the single-variable AUC.
BINS = 40
#: the classifiers over all fields (:mod:`.report`).
CLASSIFIERS = {"mlp": two_sample_auc, "hgb": hgb_auc}


def is_event_field(name: str) -> bool:
    """An event-level reco field: ``<group>_<name>`` and not gen/truth content.

    Example:
        >>> [is_event_field(n) for n in ("MET_pt", "HLT_IsoMu24", "GenMET_pt", "Pileup_nPU", "run", "nJet")]
        [True, True, False, False, False, False]
    """
    return "_" in name and not name.startswith(TRUTH_PREFIXES)


def event_branches(path, entry_start: int | None = None, entry_stop: int | None = None) -> dict[str, np.ndarray]:
    """The flat event-level reco branches of a NanoAOD file (:func:`is_event_field`), one value per event.

    Example:
        >>> b = event_branches(SHARED / "nano_tt_v12.root", 0, 5)
        >>> b["MET_pt"].shape, "PuppiMET_pt" in b, "GenMET_pt" in b, any(k.startswith("nJet") for k in b)
        ((5,), True, False, False)
    """
    import uproot

    with uproot.open(path) as f:
        tree = f["Events"]
        jagged = {k.split("_")[0] for k, b in tree.items() if isinstance(b.interpretation, uproot.AsJagged)}
        counters = {"n" + c for c in jagged}
        names = [k for k, b in tree.items(recursive=False)
                 if is_event_field(k) and k.split("_")[0] not in jagged | counters
                 and isinstance(b.interpretation, uproot.AsDtype) and b.interpretation.inner_shape == ()]
        return tree.arrays(names, entry_start=entry_start, entry_stop=entry_stop, library="np")


def event_columns(ev) -> dict[str, np.ndarray]:
    """The event-level reco fields of ``ev`` (an awkward record per event, or a dict of 1-D arrays).

    Example:
        >>> ev = ak.Array({"MET_pt": [10.0, 20.0], "GenMET_pt": [9.0, 21.0], "Jet": [[{"pt": 30.0}], []], "event": [1, 2]})
        >>> sorted(event_columns(ev))
        ['MET_pt']
    """
    if isinstance(ev, Mapping):
        return {k: np.asarray(v) for k, v in ev.items() if is_event_field(k) and np.ndim(v) == 1}
    out = {}
    for k in ev.fields:
        if is_event_field(k) and ev[k].ndim == 1 and not ak.fields(ev[k]):
            out[k] = ak.to_numpy(ev[k])
    return out


def threshold(sources: Iterable) -> dict:
    """The collection's threshold: the largest reco pT floor and |η| reach of its sources' acceptance
    (flow cards, :class:`flashsim_coffea.sim.engine.SourceModel`), so both sides are complete above it.

    Example:
        >>> from types import SimpleNamespace as M
        >>> threshold([M(pt_min=15.0, abs_eta_max=4.7), M(pt_min=15.2, abs_eta_max=4.6)])
        {'pt_min': 15.2, 'abs_eta_max': 4.7}
    """
    pts = [m.pt_min for m in sources if m.pt_min is not None]
    etas = [m.abs_eta_max for m in sources if m.abs_eta_max is not None]
    return {"pt_min": max(pts) if pts else None, "abs_eta_max": max(etas) if etas else None}


def objects(ev: ak.Array, coll: str, pt_min: float | None = None, abs_eta_max: float | None = None,
            simulated: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every field of the ``coll`` objects of ``ev`` above the threshold, flat, in their own dtypes;
    with ``simulated`` (the reco collections flash makes) without the links to other reco collections.

    Example:
        >>> ev = ak.Array({"Jet": [[{"pt": 30.0, "eta": 1.0, "partonFlavour": 21, "muonIdx1": 0}, {"pt": 12.0,
        ...                "eta": 0.0, "partonFlavour": 0, "muonIdx1": -1}], [{"pt": 50.0, "eta": 5.0,
        ...                "partonFlavour": 5, "muonIdx1": -1}]]})
        >>> {k: v.tolist() for k, v in objects(ev, "Jet", pt_min=15.0, abs_eta_max=4.7, simulated=["Jet"]).items()}
        {'pt': [30.0], 'eta': [1.0], 'partonFlavour': [21]}
    """
    if coll not in ev.fields:
        return {}
    flat = ak.flatten(ev[coll], axis=1)
    keep = np.ones(len(flat), bool)
    if pt_min is not None and "pt" in flat.fields:
        keep &= ak.to_numpy(flat.pt) >= pt_min
    if abs_eta_max is not None and "eta" in flat.fields:
        keep &= np.abs(ak.to_numpy(flat.eta)) <= abs_eta_max
    known = None if simulated is None else set(simulated)

    def wanted(f: str) -> bool:
        target = link_collection(f)
        return known is None or target is None or target.startswith(TRUTH_PREFIXES) or target in known

    return {f: ak.to_numpy(flat[f])[keep] for f in flat.fields
            if flat[f].ndim == 1 and not ak.fields(flat[f]) and wanted(f)}


def kinds(sources: Iterable) -> dict[str, str]:
    """How flash makes each field of a collection, from its sources as the models were trained:
    ``learnt`` (a flow target), ``copied`` (from the gen candidate, its index included), ``constant``;
    several when the sources differ (``constant/copied``). Fields not named here are derived, and so are the
    targets of older models that the collection's derive step now replaces (:data:`flashsim_coffea.sim.derive.DERIVED`:
    ``Muon_sip3d`` learnt before the twentieth set, derived from the flash ``dxy``, ``dz`` and errors since).

    Example:
        >>> from flashsim_coffea.specs.source import Source
        >>> genjet = Source("Jet", "genjet", "GenJet", [], {"pt": {}}, link="genJetIdx",
        ...                 copy={"partonFlavour": "partonFlavour"})
        >>> pileup = Source("Jet", "pileup", None, [], {"pt": {}}, constants={"partonFlavour": 0, "genJetIdx": -1})
        >>> k = kinds([genjet, pileup])
        >>> k["pt"], k["partonFlavour"], k["genJetIdx"]
        ('learnt', 'constant/copied', 'constant/copied')
        >>> "sip3d" in kinds([Source("Muon", "genmuon", "GenMuon", [], {"pt": {}, "sip3d": {}})])  # derived now
        False
    """
    found: dict[str, list[str]] = {}
    sources_seen = list(sources)
    for src in sources_seen:
        named = [(t, "learnt") for t in src.targets] + [(t, "copied") for t in src.copy]
        named += [(src.link, "copied")] if src.link else []
        named += [(t, "constant") for t in src.constants]
        for field, kind in named:
            if kind not in found.setdefault(field, []):
                found[field].append(kind)
    from flashsim_coffea.sim.derive import DERIVED

    for src in sources_seen:
        for field in DERIVED.get(src.collection, ()):
            found.pop(field, None)
    return {f: "/".join(sorted(k)) for f, k in found.items()}


def encode(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns the classifiers see, as float64: every field, and ``<link>:linked`` beside each link.

    Example:
        >>> {k: v.tolist() for k, v in encode({"pt": np.array([30.0]), "jetIdx": np.array([-1], np.int16)}).items()}
        {'jetIdx': [-1.0], 'jetIdx:linked': [0.0], 'pt': [30.0]}
    """
    out = {}
    for k in sorted(cols):
        v = np.asarray(cols[k]).astype(np.float64)
        out[k] = v
        if LINK.search(k):
            out[f"{k}:linked"] = (v >= 0).astype(np.float64)
    return out


def _codes(x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, int]:
    """Histogram bin of every value of ``x``, bins from the ``train`` values; returns (codes, number of codes)."""
    ok = train[np.isfinite(train)]
    values = np.unique(ok)
    if len(values) <= MAX_DISCRETE:
        codes = np.zeros(len(x), np.int64)
        if len(values):
            i = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
            codes = np.where(values[i] == x, i, len(values))  # len(values): a value the training half never had
        n = len(values) + 1
    else:
        edges = np.unique(np.quantile(ok, np.linspace(0, 1, BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, x, side="right")
        n = len(edges) + 1
    codes = np.where(np.isnan(x), n, codes)
    return codes.astype(np.int64), n + 1


def single_auc(flash: np.ndarray, ref: np.ndarray, seed: int = 0) -> dict:
    """Held-out AUC of the 1-D likelihood ratio of one field (see the module doc) and its null spread.

    Example:
        >>> rng = np.random.default_rng(2)
        >>> r = single_auc(rng.normal(0.5, 1, 4000), rng.normal(0, 1, 4000))  # true AUC Φ(0.5/√2) = 0.64
        >>> round(r["auc"], 2), round(r["err"], 3)
        (0.62, 0.009)
        >>> round(single_auc(np.zeros(4000), np.where(rng.random(4000) < 0.5, 21, 0))["auc"], 2)  # 0 vs 0/21
        0.75
    """
    rng = np.random.default_rng(seed)
    n = min(len(flash), len(ref))
    a = np.asarray(flash, np.float64)[rng.choice(len(flash), n, replace=False)]
    b = np.asarray(ref, np.float64)[rng.choice(len(ref), n, replace=False)]
    a, b = np.where(np.isinf(a), np.nan, a), np.where(np.isinf(b), np.nan, b)
    half = n // 2
    codes_tr, m = _codes(np.concatenate([a[:half], b[:half]]), np.concatenate([a[:half], b[:half]]))
    codes_te, _ = _codes(np.concatenate([a[half:], b[half:]]), np.concatenate([a[:half], b[:half]]))
    nf = np.bincount(codes_tr[:half], minlength=m)
    nr = np.bincount(codes_tr[half:], minlength=m)
    score = np.log((nf + 0.5) / (nr + 0.5))
    label = np.concatenate([np.ones(n - half), np.zeros(n - half)])
    n1 = n0 = n - half
    return {"auc": auc_score(score[codes_te], label), "err": float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))}


def _spread(fn, flash: np.ndarray, ref: np.ndarray, seeds: int) -> dict:
    aucs = [float(fn(flash, ref, s)) for s in range(seeds)]
    return {"seeds": aucs, "mean": float(np.mean(aucs)), "sd": float(np.std(aucs))}


def compare(ref: Mapping[str, np.ndarray], flash: Mapping[str, np.ndarray], seeds: int = 3,
            classifiers: Iterable[str] = tuple(CLASSIFIERS), field_kinds: Mapping[str, str] | None = None,
            min_objects: int = MIN_AUC_OBJECTS, null: bool = True) -> dict:
    """Per-field and all-field two-sample figures of one collection (see the module doc).

    ``ref``/``flash``: field -> values per object (FullSim, flash; ``rows`` counts them). ``field_kinds``: :func:`kinds`
    (fields it does not name are ``derived``). Below ``min_objects`` on a side no AUC is given.
    """
    n_ref = len(next(iter(ref.values()))) if ref else 0
    n_flash = len(next(iter(flash.values()))) if flash else 0
    common = [k for k in ref if k in flash]
    out: dict = {"rows": {"fullsim": n_ref, "flash": n_flash},
                 "not_simulated": sorted(k for k in ref if k not in flash),
                 "flash_only": sorted(k for k in flash if k not in ref)}
    r, f = encode({k: ref[k] for k in common}), encode({k: flash[k] for k in common})
    out["fields"] = list(r)
    field_kinds = field_kinds or {}
    out["kinds"] = {k: "link" if k.endswith(":linked") else field_kinds.get(k, "derived") for k in r}
    out["means"] = {k: {"fullsim": float(np.nanmean(r[k])) if n_ref else None,
                        "flash": float(np.nanmean(f[k])) if n_flash else None} for k in r}
    enough = min(n_ref, n_flash) >= min_objects and bool(r)
    out["single"] = {k: single_auc(f[k], r[k], seed=0) for k in r} if enough else {}
    out["classifiers"], out["null"] = {}, {}
    if not enough:
        return out
    fx = np.stack([f[k] for k in r], 1)
    rx = np.stack([r[k] for k in r], 1)
    half = min(n_flash // 2, n_ref)
    perm = np.random.default_rng(12345).permutation(n_flash)
    for name in classifiers:
        fn = CLASSIFIERS[name]
        if name == "mlp":  # the MLP drops rows with a non-finite value; a NaN field must not drop every row
            fx_, rx_ = np.nan_to_num(fx), np.nan_to_num(rx)
        else:
            fx_, rx_ = fx, rx
        out["classifiers"][name] = _spread(fn, fx_, rx_, seeds)
        if null and half >= min_objects:
            out["null"][name] = _spread(fn, fx_[perm[:half]], fx_[perm[half : 2 * half]], seeds)
    return out


def trigger_table(ref: Mapping[str, list], flash: Mapping[str, list], tolerance: float = 0.01) -> dict:
    """Pass fraction of every ``HLT_*``/``Flag_*`` bit, FullSim vs flash, from exact counts
    (:func:`flashsim_coffea.validate.sample.add_bits`: bit -> [passed, events]).

    ``within`` tells whether |Δ| <= ``tolerance`` (issue 22: 0.01 per path); a bit only one side
    writes has ``None`` on the other.

    Example:
        >>> t = trigger_table({"HLT_IsoMu24": [300, 1000], "HLT_PFJet500": [5, 1000]}, {"HLT_IsoMu24": [1240, 4000]})
        >>> t["HLT_IsoMu24"]["flash"], round(t["HLT_IsoMu24"]["diff"], 3), t["HLT_IsoMu24"]["within"]
        (0.31, 0.01, True)
        >>> t["HLT_PFJet500"]["flash"], t["HLT_PFJet500"]["within"]
        (None, None)
    """
    out = {}
    for path in sorted(set(ref) | set(flash)):
        row = {}
        for side, counts in (("fullsim", ref), ("flash", flash)):
            if path in counts and counts[path][1] > 0:
                k, n = counts[path]
                e = k / n
                row[side], row[f"{side}_err"], row[f"{side}_events"] = e, float(np.sqrt(e * (1 - e) / n)), int(n)
            else:
                row[side] = row[f"{side}_err"] = row[f"{side}_events"] = None
        both = row["fullsim"] is not None and row["flash"] is not None
        row["diff"] = row["flash"] - row["fullsim"] if both else None
        row["within"] = bool(abs(row["diff"]) <= tolerance + 1e-12) if both else None
        out[path] = row
    return out


def _f(v, p: int = 3) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{p}f}"


def markdown(report: dict) -> str:
    """The field check of a validation report (its ``fields`` and ``triggers``) as Markdown tables.

    Example:
        >>> rep = {"files": ["zh.root"], "events": 10, "replicas": 1, "triggers": {}, "fields": {"Jet": {
        ...     "threshold": {"pt_min": 15.0, "abs_eta_max": 4.7}, "rows": {"fullsim": 900, "flash": 880},
        ...     "classifiers": {"hgb": {"mean": 0.64, "sd": 0.01, "seeds": [0.63, 0.65]}}, "null": {},
        ...     "single": {"partonFlavour": {"auc": 0.62, "err": 0.01}}, "kinds": {"partonFlavour": "constant/copied"},
        ...     "means": {"partonFlavour": {"fullsim": 5.1, "flash": 2.2}}, "not_simulated": ["btagPNetB"],
        ...     "flash_only": []}}}
        >>> print(markdown(rep))  # doctest: +NORMALIZE_WHITESPACE
        # Every field, flash vs FullSim
        <BLANKLINE>
        zh.root, 10 events, 1 flash replicas per event.
        <BLANKLINE>
        ## Jet
        <BLANKLINE>
        Objects with pT >= 15.0 GeV, |η| <= 4.7: FullSim 900, flash 880. Classifiers over all fields (mean ± sd over
        seeds; null: flash vs flash): HGB 0.640 ± 0.010 (null -).
        <BLANKLINE>
        | field | flash makes it | single-variable AUC | ± | mean FullSim | mean flash |
        |---|---|---|---|---|---|
        | partonFlavour | constant/copied | 0.620 | 0.010 | 5.1 | 2.2 |
        <BLANKLINE>
        Not simulated (FullSim writes, flash does not): btagPNetB
        <BLANKLINE>
    """
    lines = ["# Every field, flash vs FullSim", "",
             f"{', '.join(report['files'])}, {report['events']} events, {report['replicas']} flash replicas per event.", ""]
    for coll, r in report.get("fields", {}).items():
        lines += [f"## {coll}", ""]
        thr = r.get("threshold") or {}
        cut = [f"pT >= {thr['pt_min']:.1f} GeV" if thr.get("pt_min") is not None else None,
               f"|η| <= {thr['abs_eta_max']:.1f}" if thr.get("abs_eta_max") is not None else None]
        cut = ", ".join(c for c in cut if c)
        what = f"Objects with {cut}" if cut else ("Events" if coll == EVENT else "Objects")
        clf = "; ".join(f"{name.upper()} {_f(c['mean'])} ± {_f(c['sd'])} (null {_f(r['null'].get(name, {}).get('mean'))})"
                        for name, c in r["classifiers"].items()) or "- (too few objects)"
        n, rows = r.get("objects", r["rows"]), r["rows"]
        kept = "" if rows == n else f" (compared: a uniform subsample of {rows['fullsim']} and {rows['flash']})"
        lines += [f"{what}: FullSim {n['fullsim']}, flash {n['flash']}{kept}. Classifiers over all "
                  f"fields (mean ± sd over seeds; null: flash vs flash): {clf}.", ""]
        if r["single"]:
            lines += ["| field | flash makes it | single-variable AUC | ± | mean FullSim | mean flash |",
                      "|---|---|---|---|---|---|"]
            for k, s in sorted(r["single"].items(), key=lambda kv: -kv[1]["auc"]):
                m = r["means"][k]
                lines.append(f"| {k} | {r['kinds'][k]} | {_f(s['auc'])} | {_f(s['err'])} | {m['fullsim']:.4g} | "
                             f"{m['flash']:.4g} |")
            lines.append("")
        if r["not_simulated"]:
            lines += [f"Not simulated (FullSim writes, flash does not): {', '.join(r['not_simulated'])}", ""]
        if r["flash_only"]:
            lines += [f"Flash only (FullSim does not write): {', '.join(r['flash_only'])}", ""]
    trig = report.get("triggers") or {}
    if trig:
        lines += ["## Trigger and filter bits: pass fraction per event", "",
                  "Within 0.01: issue 22's acceptance per path; ± is the binomial error of the difference.", "",
                  "| bit | FullSim | flash | flash - FullSim | ± | within 0.01 |", "|---|---|---|---|---|---|"]
        for path, t in trig.items():
            ok = {True: "yes", False: "**no**", None: "not simulated" if t["flash"] is None else "-"}[t["within"]]
            err = np.hypot(t["fullsim_err"], t["flash_err"]) if t["diff"] is not None else None
            lines.append(f"| {path} | {_f(t['fullsim'], 4)} | {_f(t['flash'], 4)} | {_f(t['diff'], 4)} | {_f(err, 4)} "
                         f"| {ok} |")
        lines.append("")
    return "\n".join(lines)
