"""Validation of trained models against FullSim: efficiency curves, W1/σ, KS and a two-sample AUC.

The flash sample is made from the gen collections of the FullSim files, ``replicas``
flash events per gen event (oversampling, as an analysis uses FlashSim: the flash
side's sampling noise shrinks as 1/K while FullSim's stays), then both are passed
through the *same* training-table extraction (:func:`flashsim_coffea.train.extract.tables`).
Per source:

* efficiency vs gen pT and η (genuine and fake sources: the reconstructed fraction of
  candidates), flash vs FullSim, and the largest difference above 20 GeV;
* per target variable: Wasserstein-1 distance over the FullSim standard deviation and
  the Kolmogorov-Smirnov statistic;
* a two-sample classifier AUC: an MLP trained to tell flash from FullSim objects on
  gen conditioning + reco targets, evaluated on a held-out half (0.5 = indistinguishable).

Per collection, every field it writes (copied, constant, derived and links too) and the
event-level fields (MET flavours, PV, rho, trigger and filter bits) are compared as an analysis
sees them (:mod:`.fields`): single-variable AUCs, an MLP and a gradient-boosted classifier over all
fields (mean and spread over seeds, and their flash-vs-flash null), the fields FullSim writes and
flash does not, and the pass fraction of every trigger path and MET filter.

A collection's figures: the AUC is the worst over its sources with at least
``MIN_AUC_OBJECTS`` objects per sample; the median W1/σ is taken over the reco variables
of the whole collection (every source's objects pooled, as an analysis sees them), next
to its statistical floor (the same figure between two random halves of FullSim, scaled
to what a perfect simulation with K replicas would show against this FullSim sample); the efficiency difference is the
largest above 20 GeV among bins where it is measured to better than ``EFF_PRECISION``.
Plots (mplhep CMS style, ratio panels), a JSON and ``fields.md`` (the every-field tables) go to ``out``.

Example:
    The shipped muon models against 50 events of a real CMS ttbar file, 4 flash events per gen
    event (too few objects for an AUC: ``-``; the every-field check of :mod:`.fields` left out; float32:
    the same figures on every CPU, where the default takes bfloat16 on those that have it):

    >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
    >>> report = validate(DEFAULT_MODELS, [SHARED / "nano_tt_v12.root"], entry_stop=50, collections=["Muon"],
    ...                   replicas=4, plots=False, progress=False, field_seeds=0, precision="float32")
    >>> report["sources"]["Muon_genmuon"]["objects"]
    {'fullsim': 39, 'flash': 154}
    >>> for line in summary_lines(report):
    ...     print(line)
    collection    AUC  medW1/σ  (floor)  max|Δeff|>20
    Muon            -   0.1541   0.1522             -
    <BLANKLINE>
      Muon_genmuon           objects     154/39      AUC - medW1/σ 0.1066 eff flash/full 0.939/0.951
      Muon_jetfake           objects      66/11      AUC - medW1/σ 0.4166 eff flash/full 0.045/0.030
      Muon_uefake            objects       8/3       AUC - medW1/σ 0.7254 count flash/full 0.04/0.06
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import awkward as ak
import numpy as np

from flashsim_coffea.nanoaod import genevents
from flashsim_coffea.sim import cards
from flashsim_coffea.sim.engine import DEFAULT_GRID, DEFAULT_PRECISION, EVENT_RECORDS, FlashSim
from flashsim_coffea.sim.precision import resolve
from flashsim_coffea.train import extract, store
from flashsim_coffea.validate.sample import CAP, ETA_EDGES, PT_EDGES, add, efficiency_curve, empty, pooled

MIN_AUC_OBJECTS = 300
MAX_ROWS = 100_000
#: an efficiency bin enters ``max_eff_diff_above_20`` when flash and FullSim together
#: measure it to this absolute precision (binomial, one sigma).
EFF_PRECISION = 0.01


def flash_like_fullsim(data: ak.Array, sim: FlashSim, seed: int, replicas: int = 1) -> ak.Array:
    """The gen content of ``data`` with flash reco collections in place of its own.

    With ``replicas`` K > 1 every gen event appears K times in a row (flash event i is
    gen event i // K), each with its own reco collections.

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> data = extract.read([SHARED / "nano_tt_v12.root"], entry_stop=50)
        >>> flash = flash_like_fullsim(data, FlashSim.load(DEFAULT_MODELS, collections=["Muon"]), seed=1, replicas=4)
        >>> len(flash), flash.fields[:6]
        (200, ['GenPart', 'GenJet', 'GenJetAK8', 'SubGenJetAK8', 'GenMET', 'Pileup'])
        >>> flash.fields[6:12]  # the jets, electrons and PV that the muons' derived fields read come along
        ['run', 'luminosityBlock', 'event', 'Jet', 'Muon', 'Electron']
        >>> flash.event[8:12].tolist(), ak.num(flash.Muon)[8:12].tolist()  # gen event 2, 4 times
        ([57043184, 57043184, 57043184, 57043184], [2, 2, 2, 2])
        >>> int(data.event[2]), int(ak.num(data.Muon)[2])  # its FullSim muons
        (57043184, 3)
    """
    gen = ak.zip({f: data[f] for f in data.fields if f in (*genevents.GEN_BRANCHES, "run", "luminosityBlock", "event")},
                 depth_limit=1)
    flash = sim.simulate(gen, seed=seed, replicas=replicas)
    rows = np.asarray(flash["FlashSim", "genEventIdx"])
    rec = {f: gen[f][rows] for f in gen.fields}
    for name in flash.fields:
        if name == "FlashSim" or name in rec:  # Pileup: the gen input's, copied
            continue
        if flash[name].ndim > 1 or not ak.fields(flash[name]):  # a collection (or a flat branch): as it is
            rec[name] = flash[name]
        else:  # an event-level record (MET, PV, Rho, ...): flat <record>_<field> branches, as in NanoAOD
            for f in flash[name].fields:
                rec[f"{name}_{f}"] = flash[name][f]
    return ak.zip(rec, depth_limit=1)


def wasserstein_over_sigma(a: np.ndarray, b: np.ndarray) -> float:
    """W1(a, b) / std(b) (b is the reference).

    Example:
        >>> b = np.array([1.0, 2.0, 3.0])
        >>> round(wasserstein_over_sigma(b + 0.5, b), 4)  # a shift by 0.5 / std(b) = 0.8165
        0.6124
    """
    from scipy.stats import wasserstein_distance

    s = float(np.std(b))
    return float(wasserstein_distance(a, b) / s) if s > 0 else float(wasserstein_distance(a, b))


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest distance between the two CDFs.

    Example:
        >>> ks(np.array([1.5, 2.5, 3.5]), np.array([1.0, 2.0, 3.0]))
        0.3333333333333333
    """
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).statistic)


def auc_score(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Example:
        >>> auc_score(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))  # 3 of the 4 pairs ordered
        0.75
    """
    from scipy.stats import rankdata

    label = np.asarray(label).astype(bool)
    n1, n0 = label.sum(), (~label).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def two_sample_auc(flash: np.ndarray, ref: np.ndarray, seed: int = 0,
                   groups: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """AUC of an MLP telling ``flash`` rows from ``ref`` rows, on a held-out half (balanced; ``groups``: see
    :func:`balanced_halves`).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> round(two_sample_auc(rng.normal(0.5, 1, (1000, 1)), rng.normal(0, 1, (1000, 1))), 2)  # shifted
        0.61
        >>> round(two_sample_auc(rng.normal(0, 1, (1000, 1)), rng.normal(0, 1, (1000, 1))), 2)  # alike
        0.48
    """
    from flashsim_coffea.sim.efficiency import logits
    from flashsim_coffea.train.efficiency import train_efficiency

    x, y, tr, te = balanced_halves(flash, ref, seed, groups=groups)
    model, _ = train_efficiency(x[tr], y[tr], {"hidden": [64, 64]}, seed, epochs=15, calibration="none",
                                val_fraction=0.2, patience=4, progress=False)
    return auc_score(logits(model, x[te]), y[te])


def twins(flash_cond: np.ndarray, ref_cond: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Group numbers of flash and FullSim rows by their conditioning: rows of the same gen object (or, for
    event-level conditioning, the same gen event) hold bit-identical conditioning on both sides, and share
    a number; ``None`` without conditioning columns.

    Example:
        >>> twins(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]), np.array([[3.0, 4.0], [5.0, 6.0]]))
        (array([0, 1, 0]), array([1, 2]))
    """
    if flash_cond.shape[1] == 0:
        return None
    rows = np.ascontiguousarray(np.concatenate([flash_cond, ref_cond]).astype(np.float64))
    _, first, ids = np.unique(rows.view(np.dtype((np.void, rows.shape[1] * 8))).ravel(), return_index=True,
                              return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))  # numbered in order of first appearance
    ids = rank[ids.ravel()]
    return ids[: len(flash_cond)], ids[len(flash_cond) :]


def balanced_halves(flash: np.ndarray, ref: np.ndarray, seed: int, finite: bool = True,
                    groups: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``x`` (float32), labels ``y`` (1: flash) and training / held-out row numbers of a two-sample classifier.

    As many rows of each sample (at most ``MAX_ROWS``), drawn with ``seed``; ``finite`` drops rows with a
    non-finite value, else they are kept with ±inf made NaN (for a classifier that takes NaN).

    ``groups``: a group number per flash and per FullSim row (:func:`twins`: the rows of one gen object);
    all rows of a group go to the same half. Split row by row, a classifier that remembers a training
    row's conditioning calls its twin in the other half by the training row's label: the AUC comes out
    below what the samples show, below 0.5 on small sources (held-out FSR photons of muons, 806 objects,
    gradient-boosted: 0.35 row by row, 0.51 by gen object; genuine jets, 20k: 0.590 and 0.597).

    Example:
        >>> x, y, tr, te = balanced_halves(np.ones((5, 2)), np.zeros((3, 2)), seed=0)
        >>> x.shape, y.tolist(), len(tr), len(te)
        ((6, 2), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0], 3, 3)
        >>> a, b = np.arange(8.0)[:, None], -np.arange(8.0)[:, None]
        >>> x, y, tr, te = balanced_halves(a, b, seed=0, groups=(np.arange(8), np.arange(8)))
        >>> len(tr), len(te), set(abs(x[tr, 0]).tolist()) & set(abs(x[te, 0]).tolist())  # no twin across halves
        (8, 8, set())
    """
    rng = np.random.default_rng(seed)
    n = min(len(flash), len(ref), MAX_ROWS)
    fa, ra = rng.choice(len(flash), n, replace=False), rng.choice(len(ref), n, replace=False)
    x = np.concatenate([flash[fa], ref[ra]]).astype(np.float32)
    y = np.concatenate([np.ones(n), np.zeros(n)]).astype(np.float32)
    group = None if groups is None else np.concatenate([np.asarray(groups[0])[fa], np.asarray(groups[1])[ra]])
    if finite:
        ok = np.all(np.isfinite(x), axis=1)
        x, y = x[ok], y[ok]
        group = None if group is None else group[ok]
    else:
        x[np.isinf(x)] = np.nan
    perm = rng.permutation(len(x))
    if group is not None:
        ids, inverse = np.unique(group, return_inverse=True)
        train = np.zeros(len(ids), bool)
        train[rng.permutation(len(ids))[: len(ids) // 2]] = True
        return x, y, perm[train[inverse[perm]]], perm[~train[inverse[perm]]]
    half = len(x) // 2
    return x, y, perm[:half], perm[half:]


def hgb_auc(flash: np.ndarray, ref: np.ndarray, seed: int = 0,
            groups: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """AUC of scikit-learn's ``HistGradientBoostingClassifier`` telling ``flash`` rows from ``ref`` rows,
    on a held-out half (the split of :func:`two_sample_auc`; NaN allowed; ``groups``: :func:`balanced_halves`).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> round(hgb_auc(rng.normal(0.5, 1, (2000, 1)), rng.normal(0, 1, (2000, 1))), 2)  # Φ(0.5/√2) = 0.64
        0.61
    """
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        raise ImportError("the gradient-boosted two-sample classifier needs scikit-learn: "
                          "pip install 'flashsim-coffea[validate]'") from None

    x, y, tr, te = balanced_halves(flash, ref, seed, finite=False, groups=groups)
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=True,
                                         validation_fraction=0.2, n_iter_no_change=10, random_state=seed)
    clf.fit(x[tr], y[tr])
    return auc_score(clf.decision_function(x[te]), y[te])


def auc_inputs(src, flash_pairs: dict, ref_pairs: dict) -> tuple[list[str], np.ndarray, np.ndarray, tuple | None]:
    """Columns and (flash, FullSim) rows the two-sample classifier sees, gen conditioning + reco targets, and
    the rows' gen objects (:func:`twins` of the conditioning: the ``groups`` of its split)."""
    cols = [f"cond_{c}" for c in src.conditioning] + [t for t in src.targets if t in ref_pairs and t in flash_pairs]
    rows = lambda pairs: np.stack([np.asarray(pairs[c], np.float64) for c in cols], 1)
    fa, ra, nc = rows(flash_pairs), rows(ref_pairs), len(src.conditioning)
    return cols, fa, ra, twins(fa[:, :nc], ra[:, :nc])


def compare_source(src, ref: dict, flash: dict, seed: int = 0, auc_seeds: int = 1, hgb: bool = False) -> dict:
    """Figures of one source from its FullSim and flash samples (:mod:`.sample`).

    ``auc``: the two-sample classifier's AUC, the mean over ``auc_seeds`` classifier seeds (``seed``,
    ``seed + 1``, ...: each its own split and initialisation; ``auc_seeds`` lists them and ``auc_sd``
    is their standard deviation when there are several): one seed is a draw, not a result, on sparse sources.
    With ``hgb``, ``auc_hgb`` (and ``auc_hgb_seeds``) is the same with the gradient-boosted classifier
    (:func:`hgb_auc`) on the same rows: the stronger test on these tables (zh_llbb 20k events,
    ``Electron_genelectron``: MLP 0.509, gradient-boosted 0.86 over the same conditioning and targets).

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> from flashsim_coffea.specs import muon
        >>> data = extract.read([SHARED / "nano_tt_v12.root"], entry_stop=50)
        >>> flash = flash_like_fullsim(data, FlashSim.load(DEFAULT_MODELS, collections=["Muon"]), seed=1, replicas=4)
        >>> from flashsim_coffea.validate.sample import summarise
        >>> r = compare_source(muon.GENUINE, summarise(extract.tables(data, muon.GENUINE)),
        ...                    summarise(extract.tables(flash, muon.GENUINE)))
        >>> r["efficiency"], r["objects"]
        ({'fullsim': 0.9512195121951219, 'flash': 0.9390243902439024}, {'fullsim': 39, 'flash': 154})
        >>> {k: round(v, 3) for k, v in r["variables"]["pt"].items()}, r["auc"]  # AUC: under MIN_AUC_OBJECTS
        ({'w1_over_sigma': 0.029, 'ks': 0.05}, None)
    """
    out: dict = {"source": src.key}
    if ref["eff"] is not None:
        er, sr = efficiency_curve(ref["eff"]["pt"])
        ef, sf = efficiency_curve(flash["eff"]["pt"])
        out["efficiency"] = {side: s["eff"]["reconstructed"] / max(s["eff"]["candidates"], 1)
                             for side, s in (("fullsim", ref), ("flash", flash))}
        out["eff_vs_pt"] = {"edges": PT_EDGES.tolist(), "fullsim": er.tolist(), "flash": ef.tolist(),
                            "fullsim_err": sr.tolist(), "flash_err": sf.tolist()}
        precise = np.hypot(sr, sf) <= EFF_PRECISION
        filled = ref["eff"]["pt"][0] >= 100
        above = (PT_EDGES[:-1] >= 20) & np.isfinite(er) & np.isfinite(ef) & precise & filled
        out["max_eff_diff_above_20"] = float(np.max(np.abs(er - ef)[above])) if above.any() else None
        with np.errstate(invalid="ignore", divide="ignore"):
            pull = np.abs(er - ef) / np.hypot(sr, sf)
        ok = (PT_EDGES[:-1] >= 20) & np.isfinite(pull)
        out["max_eff_pull_above_20"] = float(np.max(pull[ok])) if ok.any() else None
        if ref["eff"]["eta"] is not None:
            er, _ = efficiency_curve(ref["eff"]["eta"])
            ef, _ = efficiency_curve(flash["eff"]["eta"])
            out["eff_vs_eta"] = {"edges": ETA_EDGES.tolist(), "fullsim": er.tolist(), "flash": ef.tolist()}
    if ref["count"] is not None:
        out["mean_count"] = {side: s["count"]["sum"] / max(s["count"]["events"], 1)
                             for side, s in (("fullsim", ref), ("flash", flash))}
    rp, fp = ref["pairs"], flash["pairs"]
    out["objects"] = {"fullsim": ref["objects"], "flash": flash["objects"]}
    out["subsample"] = {"fullsim": ref["threshold"], "flash": flash["threshold"]}
    variables = {}
    for t in src.targets:
        if t not in rp or t not in fp or len(rp[t]) < 2 or len(fp[t]) < 2:
            continue
        a, b = np.asarray(fp[t], np.float64), np.asarray(rp[t], np.float64)
        variables[t] = {"w1_over_sigma": wasserstein_over_sigma(a, b), "ks": ks(a, b)}
    out["variables"] = variables
    w = [v["w1_over_sigma"] for v in variables.values()]
    out["median_w1_over_sigma"] = float(np.median(w)) if w else None
    if min(out["objects"].values()) >= MIN_AUC_OBJECTS:
        _, fa, ra, groups = auc_inputs(src, fp, rp)  # a gen object's flash replicas and FullSim object: one half
        aucs = [two_sample_auc(fa, ra, seed + k, groups) for k in range(auc_seeds)]
        out["auc"] = float(np.mean(aucs))
        if auc_seeds > 1:
            out["auc_seeds"], out["auc_sd"] = aucs, float(np.std(aucs, ddof=1))
        if hgb:
            aucs = [hgb_auc(fa, ra, seed + k, groups) for k in range(auc_seeds)]
            out["auc_hgb"], out["auc_hgb_seeds"] = float(np.mean(aucs)), aucs
    else:
        out["auc"] = None
    return out


def pooled_w1(sources: list, tables: dict, seed: int = 0, replicas: int = 1) -> dict:
    """Median W1/σ over the reco variables of a collection, all its sources pooled, and its floor.

    ``tables``: source key -> (FullSim, flash) samples (:mod:`.sample`; a plain ``{"pairs": ...}`` is a sample
    with nothing dropped).

    The floor is the same median between two random halves of FullSim (n/2 objects
    each) scaled to samples of n and K·n objects: W1 between independent samples goes
    as √(1/n₁ + 1/n₂), so the factor is √((1 + 1/K)/4) (1/√2 for K = 1). It is the
    figure a perfect simulation would show on this many objects.

    Example:
        A flash pT 2 GeV too high on a FullSim width of 10 GeV, and 4 replicas:

        >>> from flashsim_coffea.specs.source import Source
        >>> src = Source("Muon", "genmuon", candidates="GenMuon", conditioning=[], targets={"pt": {"kind": "plain"}})
        >>> rng = np.random.default_rng(1)
        >>> full, flash = {"pairs": {"pt": rng.normal(40, 10, 1000)}}, {"pairs": {"pt": rng.normal(42, 10, 4000)}}
        >>> r = pooled_w1([src], {src.key: (full, flash)}, replicas=4)
        >>> round(r["median_w1_over_sigma"], 3), round(r["w1_floor"], 3)
        (0.253, 0.033)
    """
    scale = np.sqrt((1 + 1 / replicas) / 4)
    rng = np.random.default_rng(seed)
    names = sorted({t for src in sources for t in src.targets})
    w, floor = {}, {}
    for t in names:
        both = [s.key for s in sources if t in tables[s.key][0]["pairs"] and t in tables[s.key][1]["pairs"]]
        if not both:
            continue
        ref = pooled([tables[k][0] for k in both], t)
        fl = pooled([tables[k][1] for k in both], t)
        if len(ref) < 4 or len(fl) < 2:
            continue
        w[t] = wasserstein_over_sigma(fl, ref)
        perm = rng.permutation(len(ref))
        floor[t] = wasserstein_over_sigma(ref[perm[: len(ref) // 2]], ref[perm[len(ref) // 2 :]]) * scale
    return {"variables": w, "median_w1_over_sigma": float(np.median(list(w.values()))) if w else None,
            "w1_floor": float(np.median(list(floor.values()))) if floor else None}


def _worst(values):
    v = [x for x in values if x is not None and np.isfinite(x)]
    return max(v) if v else None


def validate(models_dir: str | os.PathLike, paths: list[str | os.PathLike], out: str | os.PathLike | None = None,
             seed: int = 1, entry_stop: int | None = None, plots: bool = True, progress: bool = True,
             update_cards: bool = False, solver: str | None = None, steps: int | None = None, grid: str | None = None,
             precision: str | None = None, replicas: int = 1,
             collections: tuple[str, ...] | list[str] | None = None, step: int = store.STEP,
             cap: int = CAP, field_seeds: int = 3, auc_seeds: int = 5) -> dict:
    """Validate the models of ``models_dir`` on FullSim ``paths``; returns (and writes) the report.

    The files are read ``step`` events at a time: each chunk is simulated and folded into the
    per-source samples (:mod:`.sample`: exact efficiency histograms and counts, a uniform
    subsample of at most ``cap`` objects per source and side), so memory does not grow with the
    number of events. ``solver``/``steps``/``grid``/``precision`` override the models index's ODE
    integration (for step studies); ``replicas`` flash events are made per gen event; each source's AUC is the
    mean over ``auc_seeds`` classifier seeds (:func:`compare_source`). ``collections`` validates only
    those (after retraining them; the collections their derived fields read are simulated with them,
    :data:`flashsim_coffea.sim.derive.NEEDS`, and not compared): their entries replace the ones in an existing
    ``out/validation.json`` made on the same files, events, seed and replicas.

    Beside the sources, every field of each collection and the event-level fields are compared
    (:mod:`.fields`: per-field AUCs, MLP and gradient-boosted classifiers over ``field_seeds`` seeds,
    trigger pass fractions) on a uniform subsample of at most ``min(cap, FIELD_CAP)`` objects per
    collection and side; ``field_seeds=0`` leaves that out. ``out`` then also gets ``fields.md``.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    if field_seeds < 0:
        raise ValueError(f"field_seeds must be >= 0, got {field_seeds}")
    import zlib

    from tqdm import tqdm

    from flashsim_coffea.validate import fields
    from flashsim_coffea.validate.sample import add_bits

    sim = FlashSim.load(models_dir, collections=collections, solver=solver, steps=steps, grid=grid, precision=precision)
    # the collections compared: those asked for (the engine also simulates the ones their derived fields read)
    asked = None if not collections else {fields.EVENT if c in EVENT_RECORDS else c for c in collections}
    checked = [c for c in sim.collections if asked is None or c in asked]
    models = {k: m for k, m in sim.models.items() if asked is None or (m.source.collection or fields.EVENT) in asked}
    chunks = store.plan(paths, step, entry_stop)
    report: dict = {"files": [Path(p).name for p in paths], "events": sum(c.stop - c.start for c in chunks),
                    "seed": seed, "replicas": replicas, "solver": sim.solver, "steps": sim.steps,
                    "source_steps": dict(sim.source_steps), "source_solvers": dict(sim.source_solvers),
                    "grid": sim.grid, "precision": resolve(sim.precision, "cpu"), "subsample_cap": cap,
                    "auc_seeds": auc_seeds,
                    "sources": {}, "collections": {}, "fields": {}, "triggers": {}}
    # a partial re-validation goes into the existing report: refuse before simulating if it cannot
    path = None if out is None else Path(out) / "validation.json"
    old = json.loads(path.read_text()) if collections and path is not None and path.exists() else None
    if old is not None:
        merge_reports(old, report, path)
    tables: dict[str, tuple[dict, dict]] = {}
    by_coll = {c: [m for m in models.values() if (m.source.collection or fields.EVENT) == c]
               for c in [*checked, fields.EVENT]}
    field_colls = [c for c, ms in by_coll.items() if ms] if field_seeds else []
    thresholds = {c: fields.threshold(by_coll[c]) if c != fields.EVENT else None for c in field_colls}
    field_cap = min(cap, fields.FIELD_CAP)
    field_samples = {c: (empty(field_cap), empty(field_cap)) for c in field_colls}
    bits: tuple[dict, dict] = ({}, {})
    for c in tqdm(chunks, desc="validate", unit="chunk", disable=not progress):
        data = extract.read([c.path], entry_start=c.start, entry_stop=c.stop)
        flash = flash_like_fullsim(data, sim, seed, replicas)
        shared: tuple[dict, dict] = ({}, {})  # per side, what its sources share within the chunk
        for key, m in models.items():
            src = m.source
            if src.collection and src.collection not in data.fields:
                continue
            ref_s, flash_s = tables.setdefault(key, (empty(cap), empty(cap)))
            for side, sample, ev in ((0, ref_s, data), (1, flash_s, flash)):
                rng = np.random.default_rng([seed, c.file, c.start, side, zlib.crc32(key.encode())])
                add(sample, extract.tables(ev, src, shared[side]), rng)
        if field_colls:
            events = (fields.event_branches(c.path, c.start, c.stop), fields.event_columns(flash))
            for coll in field_colls:
                for side, ev in ((0, data), (1, flash)):
                    rng = np.random.default_rng([seed, c.file, c.start, side, zlib.crc32(f"fields {coll}".encode())])
                    cols = events[side] if coll == fields.EVENT else fields.objects(ev, coll, **thresholds[coll],
                                                                                    simulated=sim.collections)
                    add(field_samples[coll][side], {"pairs": cols}, rng)
            if fields.EVENT in field_colls:
                for side in (0, 1):
                    add_bits(bits[side], {k: v for k, v in events[side].items() if k.startswith(fields.TRIGGER_PREFIXES)})
        del data, flash
    for key in tables:
        report["sources"][key] = compare_source(sim.models[key].source, *tables[key], seed, auc_seeds,
                                                hgb=field_seeds > 0)
    for coll in [*checked, "Event"]:
        rs = [r for k, r in report["sources"].items() if k.split("_")[0] == coll]
        if not rs:
            continue
        pool = pooled_w1([sim.models[k].source for k in report["sources"] if k.split("_")[0] == coll], tables, seed,
                           replicas)
        report["collections"][coll] = {
            "auc": _worst(r["auc"] for r in rs),
            "median_w1_over_sigma": pool["median_w1_over_sigma"],
            "w1_floor": pool["w1_floor"],
            "worst_source_median_w1_over_sigma": _worst(r["median_w1_over_sigma"] for r in rs),
            "max_eff_diff_above_20": _worst(r.get("max_eff_diff_above_20") for r in rs),
            "variables": pool["variables"],
        }
    for coll in field_colls:
        ref_s, flash_s = field_samples[coll]
        r = fields.compare(ref_s["pairs"], flash_s["pairs"], seeds=field_seeds,
                           field_kinds=fields.kinds(m.source for m in by_coll[coll]))
        report["fields"][coll] = {"threshold": thresholds[coll],
                                  "objects": {"fullsim": ref_s["objects"], "flash": flash_s["objects"]},
                                  "subsample": {"fullsim": ref_s["threshold"], "flash": flash_s["threshold"]}, **r}
    if fields.EVENT in field_colls:
        report["triggers"] = fields.trigger_table(*bits)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = report if old is None else merge_reports(old, report, path)
        path.write_text(json.dumps(written, indent=1))
        if field_colls:
            (out / "fields.md").write_text(fields.markdown(written))
        if plots:
            from flashsim_coffea.validate import plots as plotting

            for coll in field_colls:
                ref_s, flash_s = field_samples[coll]
                plotting.field_figure(coll, report["fields"][coll], ref_s["pairs"], flash_s["pairs"], out,
                                      flash_scale=ref_s["threshold"] / flash_s["threshold"] / replicas)

            for key, m in report["sources"].items():
                ref_s, flash_s = tables[key]
                # both histograms on the scale of the FullSim sample kept: flash has K replicas and its own subsample
                scale = ref_s["threshold"] / flash_s["threshold"] / replicas
                plotting.source_figures(m, sim.models[key].source, ref_s["pairs"], flash_s["pairs"], out, flash_scale=scale)
    if update_cards:
        record_in_cards(report, models_dir, paths)
    return report


def record_in_cards(report: dict, models_dir: str | os.PathLike, paths: list[str | os.PathLike]) -> None:
    """Write each source's AUC, median W1/σ and Δeff of ``report`` into its card, under the process of ``paths``.

    Example:
        Into a scratch copy of the shipped models:

        >>> import shutil, tempfile
        >>> models = shutil.copytree(cards.DEFAULT_MODELS, Path(tempfile.mkdtemp()) / "models")
        >>> report = {"events": 50, "replicas": 4, "sources": {"Muon_genmuon": {
        ...     "auc": None, "median_w1_over_sigma": 0.112, "max_eff_diff_above_20": None}}}
        >>> record_in_cards(report, models, [SHARED / "nano_tt_v12.root"])
        >>> card, _ = cards.load(cards.card_path(models, "Muon_genmuon", "flow"))  # weights untouched: still loads
        >>> card["validation"]["nano_tt_v12"]  # doctest: +NORMALIZE_WHITESPACE
        {'auc': None, 'events': 50, 'max_eff_diff_above_20': None, 'median_w1_over_sigma': 0.112,
         'replicas': 4}
        >>> shutil.rmtree(models.parent)
    """
    from flashsim_coffea.train.sources import provenance

    label = ",".join(provenance(paths, report["events"])["processes"])  # e.g. "zh_llbb" for zh_llbb_{a,b}.root
    figures = {key: {**{k: r[k] for k in ("auc", "median_w1_over_sigma", "max_eff_diff_above_20") if k in r},
                     "events": report["events"], "replicas": report["replicas"]}
               for key, r in report["sources"].items()}
    cards.record_validation(models_dir, label, figures)


#: run settings two reports must share to be merged
MERGE_KEYS = ("files", "events", "seed", "replicas", "solver", "steps", "source_steps", "source_solvers", "grid",
              "precision", "auc_seeds")
#: the value of a run setting a report made before it existed had
_BEFORE = {"grid": DEFAULT_GRID, "precision": DEFAULT_PRECISION, "auc_seeds": 1, "source_steps": {},
           "source_solvers": {}}


def merge_reports(old: dict, new: dict, path: str | os.PathLike = "validation.json") -> dict:
    """``old`` with the sources and collections of ``new`` replaced (a partial re-validation).

    Example:
        >>> run = {"files": ["zh_llbb.root"], "events": 50, "seed": 1, "replicas": 4, "solver": "midpoint", "steps": 8}
        >>> old = {**run, "sources": {"Jet_genjet": {"auc": 0.55}, "Muon_genmuon": {"auc": 0.52}},
        ...        "collections": {"Jet": {"auc": 0.55}, "Muon": {"auc": 0.52}}}
        >>> muons_again = {**run, "sources": {"Muon_genmuon": {"auc": 0.51}}, "collections": {"Muon": {"auc": 0.51}}}
        >>> merge_reports(old, muons_again)["sources"]
        {'Jet_genjet': {'auc': 0.55}, 'Muon_genmuon': {'auc': 0.51}}
        >>> merge_reports(old, {**muons_again, "seed": 2})  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        ValueError: validation.json: made with seed=1, this run has seed=2; validate every collection again
        or write to another --out
    """
    for k in MERGE_KEYS:
        was, now = (r.get(k, _BEFORE.get(k)) for r in (old, new))
        if was != now:
            raise ValueError(f"{path}: made with {k}={was!r}, this run has {k}={now!r}; validate every "
                             "collection again or write to another --out")
    return {**old, "sources": {**old["sources"], **new["sources"]},
            "collections": {**old["collections"], **new["collections"]},
            "fields": {**old.get("fields", {}), **new.get("fields", {})},
            "triggers": new.get("triggers") or old.get("triggers", {})}


def summary_lines(report: dict) -> list[str]:
    """Printable per-collection and per-source lines."""
    lines = [f"{'collection':<10} {'AUC':>6} {'medW1/σ':>8} {'(floor)':>8} {'max|Δeff|>20':>13}"]
    for coll, r in report["collections"].items():
        f = lambda v, p=3: "-" if v is None else f"{v:.{p}f}"
        lines.append(f"{coll:<10} {f(r['auc']):>6} {f(r['median_w1_over_sigma'], 4):>8} {f(r.get('w1_floor'), 4):>8} "
                     f"{f(r['max_eff_diff_above_20']):>13}")
    lines.append("")
    for key, r in report["sources"].items():
        eff = r.get("efficiency")
        e = f" eff flash/full {eff['flash']:.3f}/{eff['fullsim']:.3f}" if eff else ""
        n = r.get("mean_count")
        c = f" count flash/full {n['flash']:.2f}/{n['fullsim']:.2f}" if n else ""
        auc = "-" if r["auc"] is None else f"{r['auc']:.3f}"
        auc += f" (HGB {r['auc_hgb']:.3f})" if r.get("auc_hgb") is not None else ""
        w = "-" if r["median_w1_over_sigma"] is None else f"{r['median_w1_over_sigma']:.4f}"
        lines.append(f"  {key:<22} objects {r['objects']['flash']:>7}/{r['objects']['fullsim']:<7} AUC {auc} "
                     f"medW1/σ {w}{e}{c}")
    if report.get("fields"):
        lines += ["", f"{'fields':<10} {'MLP':>6} {'HGB':>6}  worst field (single AUC)    not simulated"]
    for coll, r in report.get("fields", {}).items():
        mlp, hgb = ("-" if k not in r["classifiers"] else f"{r['classifiers'][k]['mean']:.3f}" for k in ("mlp", "hgb"))
        worst = max(r["single"].items(), key=lambda kv: kv[1]["auc"], default=None)
        w = "-" if worst is None else f"{worst[0]} {worst[1]['auc']:.3f}"
        lines.append(f"{coll:<10} {mlp:>6} {hgb:>6}  {w:<27} {len(r['not_simulated'])}")
    trig = report.get("triggers") or {}
    if trig:
        both = [t for t in trig.values() if t["within"] is not None]
        lines.append(f"trigger/filter bits: {sum(t['within'] for t in both)} of {len(both)} within 0.01, "
                     f"{len(trig) - len(both)} written by one side only")
    return lines
