"""Training of the models of one source (or all) from FullSim NanoAOD files.

For a source, :func:`train_source` reads its training tables (extracted once for every source
by :func:`.store.extract`), trains the efficiency classifier (candidate sources) or the count model (pileup jets),
fits the target transforms and trains the flow, and writes each model as safetensors
weights plus a card (:mod:`flashsim_coffea.sim.cards`) into ``<out>/<source key>/``.
:func:`train_all` does every declared source of a tables folder and writes the models index
(``flashsim.json``).

Example:
    A tiny training of the genuine muons (50 events of a real ttbar file, a few steps) into a
    scratch folder, which the engine then loads:

    >>> import shutil, tempfile
    >>> from flashsim_coffea.sim.engine import FlashSim
    >>> from flashsim_coffea.specs import muon
    >>> tables, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> _ = store.extract([SHARED / "nano_tt_v12.root"], tables, events=50, keys=["Muon_genmuon"], progress=False)
    >>> s = train_source(muon.GENUINE, store.source_tables(tables, "Muon_genmuon"), out, seed=1, epochs=2,
    ...                  min_steps=10, min_efficiency_steps=10, progress=False)
    >>> s["candidates"], s["objects"], round(s["efficiency"], 3)  # gen muons, reco muons, their ratio
    (41, 39, 0.951)
    >>> sorted(p.name for p in (Path(out) / "Muon_genmuon").iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['categories.json', 'categories.safetensors', 'efficiency.json', 'efficiency.safetensors', 'flow.json',
     'flow.safetensors']
    >>> _ = write_index(out, ["Muon_genmuon"])
    >>> list(FlashSim.load(out).models)
    ['Muon_genmuon']
    >>> shutil.rmtree(out), shutil.rmtree(tables)
    (None, None)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from flashsim_coffea.sim import cards, categories
from flashsim_coffea.sim.engine import DEFAULT_SOLVER, DEFAULT_STEPS, matrix
from flashsim_coffea.sim.transforms import HALF_WIDTH, Pipeline
from flashsim_coffea.specs import COLLECTIONS, all_sources, fakes
from flashsim_coffea.specs.source import Source
from flashsim_coffea.train import mirror, store
from flashsim_coffea.train.checkpoint import Checkpoint
from flashsim_coffea.train.count import train_count
from flashsim_coffea.train.efficiency import train_efficiency
from flashsim_coffea.train.extract import APART_WEIGHT
from flashsim_coffea.train.flow import train_flow
from flashsim_coffea.train.rows import BUFFER_ROWS, Rows, fit_sample

#: default sizes: small networks so that inference stays fast on a laptop CPU. Measured on
#: zh_llbb genuine muons (median W1/σ): flow 96x3 0.027, 128x3 0.021, 128x4 0.016. An
#: efficiency classifier runs once per candidate (not per ODE step), so it can be wider:
#: 64x2 smoothed away the forward-jet structure (|η| 2.5-4.7) that 128x3 reproduces.
FLOW_CONFIG = {"hidden": [128, 128, 128, 128], "activation": "gelu"}
EFFICIENCY_CONFIG = {"hidden": [128, 128, 128], "activation": "silu"}
#: gradient steps every flow gets at least (small sources get more, shorter epochs).
#: 12k left the flows still improving at the last epoch (genuine muons: validation loss
#: 0.913 at 12k, 0.880 at 30k steps; the 1% tail of dxy of non-prompt muons went from
#: 1.7x to 1.3x too wide). At 30k every large source still had its best epoch at the last one, and
#: genuine electrons (the reference's shower variables, a 40-target joint) were far from converged:
#: on 80k training events, zh_llbb 20k, gradient-boosted two-sample AUC 0.796 at 30k, 0.712 at 90k
#: (validation loss 0.927 -> 0.898; a 256-wide flow at 30k: 0.689, at 3.5x the inference cost).
MIN_STEPS = 90_000
#: gradient steps scheduled for every efficiency classifier (early stopping on the
#: validation loss usually ends it sooner): with a fixed number of epochs a source of 15k
#: candidates saw only ~500 steps and its efficiency curve came out flattened towards the
#: mean (Platt slope 1.5 on the validation split).
MIN_EFFICIENCY_STEPS = 30_000
#: the flows' training arithmetic (:func:`flashsim_coffea.train.flow.train_flow`)
TRAIN_PRECISION = "float32"
#: fewest reconstructed objects a source needs to be trained.
MIN_OBJECTS = 20
#: per source, the training config a hyper-parameter search chose (``flashsim tune --apply``):
#: the defaults of :func:`train_source` for that source.
TUNED_PATH = Path(__file__).resolve().parents[1] / "specs" / "tuned.json"


def tuned_config(key: str, path: str | os.PathLike | None = None) -> dict:
    """The tuned training config of source ``key`` (``{}``: the global defaults).

    Example:
        >>> tuned_config("no_such_source")
        {}
    """
    p = Path(path or TUNED_PATH)
    return dict(json.loads(p.read_text()).get(key, {})) if p.is_file() else {}


def set_tuned_config(key: str, config: Mapping, path: str | os.PathLike | None = None) -> Path:
    """Record ``config`` as the tuned training config of source ``key`` (sources sorted, the others kept)."""
    p = Path(path or TUNED_PATH)
    table = json.loads(p.read_text()) if p.is_file() else {}
    table[key] = dict(config)
    p.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    return p


class SparseDataError(ValueError):
    """Too few examples of a source in the training data to train it."""


def _subset(n: int, rng: np.random.Generator, limit: int) -> np.ndarray:
    return np.sort(rng.choice(n, limit, replace=False)) if n > limit else np.arange(n)


def _budget(n: int, train_fraction: float, epochs: int, min_steps: int, blocks: int = 1,
            batch: int | None = None) -> tuple[int, int]:
    """Batch size (``batch``, else by ``n``) and epochs giving at least ``min_steps`` gradient steps on ``n`` rows.

    ``blocks``: every row comes with ``blocks - 1`` mirror images (more rows per epoch, the
    batch size of the ``n`` rows).
    """
    batch = batch or (256 if n < 50_000 else 1024)
    per_epoch = max(1, int(train_fraction * n) * blocks // batch)
    return batch, int(min(max(epochs, -(-min_steps // per_epoch)), 3000))


def _pair_conditioning(pairs: dict, names: list[str]) -> np.ndarray:
    """The conditioning matrix of the reco objects of a training table (its ``cond_*`` columns)."""
    return matrix({k[5:]: v for k, v in pairs.items() if k.startswith("cond_")}, names)


def _history(h: dict) -> dict:
    keep = ("best_epoch", "best_val_loss", "n_train", "n_val", "seconds", "steps", "efficiency", "calibration",
            "mean_count", "model_mean_count", "n_max", "precision")
    return {k: h[k] for k in keep if k in h} | {"epochs": len(h.get("train_loss", []))}


def oversampling_weights(pairs: dict, oversample: dict[str, float]) -> np.ndarray | None:
    """Per-row draw weights of a flow's training rows: ``factor`` where a flag of ``oversample`` is set.

    Example:
        >>> oversampling_weights({"cond_flag:isPrompt": np.array([0.0, 1.0])}, {"flag:isPrompt": 4.0}).tolist()
        [1.0, 4.0]
    """
    if not oversample:
        return None
    n = len(next(iter(pairs.values())))
    w = np.ones(n)
    for name, factor in oversample.items():
        w[np.asarray(pairs[f"cond_{name}"]) > 0.5] *= factor
    return w


#: bins of a piecewise-linear efficiency input (:attr:`Source.efficiency_bins`).
EFFICIENCY_BIN_COUNT = 32


def efficiency_bins(X: np.ndarray, y: np.ndarray, names: list[str], binned: tuple[str, ...],
                    count: int = EFFICIENCY_BIN_COUNT) -> dict[int, list[float]]:
    """Bin edges of the columns ``binned`` of ``X``: quantiles of the reconstructed rows (``y`` = 1).

    The outer edges are the column's range over every row, so that the encoding spans
    the candidates that are never reconstructed too.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 1, 1, 0])
        >>> efficiency_bins(X, y, ["abs_eta"], ("abs_eta",), count=2)
        {0: [0.0, 1.5, 3.0]}
    """
    out = {}
    for name in binned:
        k = names.index(name)
        col, pos = X[:, k].astype(np.float64), X[y > 0, k].astype(np.float64)
        inner = np.quantile(pos, np.linspace(0, 1, count + 1)[1:-1]) if len(pos) else np.zeros(0)
        edges = np.unique(np.concatenate([[col.min()], inner, [col.max()]]))
        if len(edges) >= 2:
            out[k] = edges.tolist()
    return out


def train_source(src: Source, tables: dict[str, store.Table], out: str | os.PathLike, seed: int = 1, *,
                 provenance: dict | None = None, epochs: int = 40, progress: bool = True,
                 min_objects: int = MIN_OBJECTS, min_steps: int = MIN_STEPS,
                 min_efficiency_steps: int = MIN_EFFICIENCY_STEPS, buffer_rows: int = BUFFER_ROWS,
                 config: Mapping | None = None, checkpoint: str | os.PathLike | None = None,
                 precision: str = TRAIN_PRECISION) -> dict:
    """Train and write the models of ``src`` from its extracted tables (:func:`.store.source_tables`).

    ``config`` overrides the defaults (a hyper-parameter search, :mod:`flashsim_coffea.validate.tune`):
    ``flow`` / ``efficiency`` (network configs merged over :data:`FLOW_CONFIG` / :data:`EFFICIENCY_CONFIG`),
    ``lr``, ``batch_size``, ``schedule`` (``cosine``, ``constant``) and ``alpha`` (training-time density
    ∝ t^alpha: :func:`~flashsim_coffea.train.flow.sample_t`) of the flow, and ``half_width`` (dequantisation
    of the discrete targets, :class:`~flashsim_coffea.sim.transforms.Pipeline`). Its keys replace those of
    the source's tuned defaults (:func:`tuned_config`); the card's ``training.config`` records what was used.

    A model trains on at most ``src.max_candidates`` candidates or ``src.max_objects`` reco
    objects (a random subset beyond: a choice of training time). They are read from the tables
    at most ``buffer_rows`` at a time (mirror images included; :mod:`flashsim_coffea.train.rows`),
    plus one column at a time for the labels and the acceptance: memory does not grow with
    the size of the tables.
    ``checkpoint``: a folder where each model's training state is kept (every 5 minutes; deleted once
    the source's cards are written): a run killed part way and started again with the same
    arguments resumes there and writes the models an uninterrupted run writes
    (:mod:`flashsim_coffea.train.checkpoint`).
    ``precision``: the flow's training arithmetic (:func:`~flashsim_coffea.train.flow.train_flow`; the flow
    card's ``history.precision`` records the resolved one); the other models train in float32.
    Raises :class:`SparseDataError` with fewer than ``min_objects`` reco objects, and
    ``ValueError`` naming a target branch the data lacks.

    Example:
        >>> import tempfile
        >>> from flashsim_coffea.specs import jet, muon
        >>> tables = tempfile.mkdtemp()
        >>> _ = store.extract([SHARED / "nano_tt_v12.root"], tables, events=50, keys=["Muon_jetfake", "Jet_genjet"],
        ...                   progress=False)
        >>> train_source(muon.JETFAKE, store.source_tables(tables, "Muon_jetfake"), "unused", progress=False)
        Traceback (most recent call last):
        ...
        flashsim_coffea.train.sources.SparseDataError: Muon_jetfake: only 11 reconstructed candidates in the training data
        >>> train_source(jet.GENUINE, store.source_tables(tables, "Jet_genjet"), "unused", progress=False)
        Traceback (most recent call last):
        ...
        ValueError: Jet_genjet: the training data lacks reco branch Jet_puId
    """
    out = Path(out) / src.key
    cfg = {**tuned_config(src.key), **(config or {})}
    min_steps = int(cfg.get("min_steps", min_steps))
    min_efficiency_steps = int(cfg.get("min_efficiency_steps", min_efficiency_steps))
    rng = np.random.default_rng(seed)
    selection, objects = tables.get("selection"), tables["pairs"]
    missing = [k for k in src.targets if k not in objects.columns]
    if missing:
        prefix = f"{src.collection}_" if src.collection else ""
        raise ValueError(f"{src.key}: the training data lacks reco branch {prefix}{missing[0]}")
    cond_names = [f"cond_{c}" for c in src.conditioning]
    common = {"source": src.key, "collection": src.collection or "Event", "conditioning": list(src.conditioning),
              "training": {"seed": seed, **({"mirror": list(src.mirror)} if src.mirror else {}),
                           **({"oversample": dict(src.oversample)} if src.oversample else {}),
                           **({"config": cfg} if cfg else {}), **(provenance or {})}}
    blocks = 1 + len(mirror.reflections(src.mirror))
    summary: dict = {"source": src.key}
    kept: list[Checkpoint] = []

    def resumable(model: str) -> Checkpoint | None:
        if checkpoint is None:
            return None
        tag = {"spec": hashlib.sha256(repr(src).encode()).hexdigest()[:16], "config": cfg, "objects": len(objects),
               "candidates": 0 if selection is None else len(selection), "precision": precision}
        kept.append(Checkpoint(Path(checkpoint) / f"{src.key}_{model}", rngs=(rng,), tag=tag))
        return kept[-1]
    if src.candidates is not None:
        y = selection.column("label")
        if y.sum() < min_objects:
            raise SparseDataError(f"{src.key}: only {int(y.sum())} reconstructed candidates in the training data")
        # the acceptance is a hard edge: candidates beyond the farthest reconstructed one get
        # efficiency 0 at simulation time, and the classifier learns only the inside
        acceptance = {}
        rows = np.arange(len(y))
        if "cond_eta" in selection.columns:
            abs_eta = np.abs(selection.column("cond_eta"))
            acceptance["abs_eta_max"] = float(abs_eta[y == 1].max())
            rows = rows[abs_eta <= acceptance["abs_eta_max"]]
        y = y[rows]
        summary["efficiency"], summary["candidates"] = float(y.mean()), int(len(y))
        sel = _subset(len(y), rng, src.max_candidates)
        base, labels = rows[sel], y[sel].astype(np.float32)
        del rows, y

        def load_candidates(i: np.ndarray) -> list[np.ndarray]:
            X = _pair_conditioning(selection.take(base[i], cond_names), src.conditioning)
            return [mirror.matrix_with_images(X, src.conditioning, src.mirror), np.tile(labels[i], blocks),
                    np.ones(len(i) * blocks, np.float32)]

        fit = fit_sample(len(sel), blocks - 1, rng, buffer_rows=buffer_rows)
        bins = efficiency_bins(_pair_conditioning(selection.take(base[fit], cond_names), src.conditioning),
                               labels[fit], src.conditioning, src.efficiency_bins)
        batch, n_epochs = _budget(len(sel), 0.8, max(10, epochs // 2), min_efficiency_steps, blocks)
        model, h = train_efficiency(Rows(len(sel), load_candidates, blocks - 1),
                                    config={**EFFICIENCY_CONFIG, **cfg.get("efficiency", {}), "bins": bins},
                                    seed=seed, epochs=n_epochs, batch_size=batch, patience=max(10, n_epochs // 8),
                                    buffer_rows=buffer_rows, progress=progress, checkpoint=resumable("efficiency"))
        cards.save(out, "efficiency", model.state_dict(),
                   {"kind": "efficiency", **common, "network": model.config, "history": _history(h),
                    "acceptance": acceptance})
    elif src.collection:
        counts = selection.column("count")
        C = _pair_conditioning(selection.take(np.arange(len(counts)), cond_names), src.conditioning)
        model, h = train_count(C, counts, seed=seed, progress=progress, checkpoint=resumable("count"))
        # the fake sources whose objects the extraction left out of these (the engine checks them)
        cards.save(out, "count", model.state_dict(),
                   {"kind": "count", **common, "network": model.config, "history": _history(h),
                    "excludes": fakes(src.collection)})
        summary["mean_count"] = float(np.mean(counts))
    n = len(objects)
    weighted_apart = APART_WEIGHT in objects.columns  # the pileup jets' weights (train/apart.py): flow and categories
    if weighted_apart:
        common["training"]["weighted_apart"] = True
    if n < min_objects:
        raise SparseDataError(f"{src.key}: only {n} reco objects in the training data")
    sel = _subset(n, rng, src.max_objects)
    # the transforms are fitted on the rows and their mirror images (the conditioning columns
    # ``cond_*`` reflected with the targets: symmetric constants)
    fit = sel[fit_sample(len(sel), blocks - 1, rng, buffer_rows=buffer_rows)]
    pipe = Pipeline.from_specs(src.flow_targets, half_width=cfg.get("half_width", HALF_WIDTH))
    pipe.fit(mirror.with_images(objects.take(fit), src.mirror), rng=rng)

    # the categories first, from the conditioning alone; the flow then sees the combination as conditioning
    classes = index = None
    if src.categories:
        classes, index = _train_categories(src, objects.take(sel), pipe, seed, out, common, progress,
                                           resumable("categories"))
        summary["categories"] = len(classes)

    def load_pairs(i: np.ndarray) -> list[np.ndarray]:
        pairs = mirror.with_images(objects.take(sel[i]), src.mirror)
        weights = oversampling_weights(pairs, src.oversample)
        if weighted_apart:  # the density before the exclusion the engine applies (train/apart.py)
            weights = pairs[APART_WEIGHT] * (1.0 if weights is None else weights)
        context = _pair_conditioning(pairs, src.conditioning)
        if index is not None:  # the images share their object's combination
            context = categories.with_class(context, np.tile(index[i], blocks), len(classes))
        return [pipe.forward(pairs, rng=rng), context, *([] if weights is None else [weights])]

    batch, n_epochs = _budget(len(sel), 0.9, epochs, min_steps, blocks, cfg.get("batch_size"))
    net, h = train_flow(Rows(len(sel), load_pairs, blocks - 1), config={**FLOW_CONFIG, **cfg.get("flow", {})},
                        seed=seed, epochs=n_epochs, batch_size=batch, lr=cfg.get("lr", 1e-3),
                        schedule=cfg.get("schedule", "cosine"), alpha=cfg.get("alpha", 1.0),
                        patience=n_epochs if src.full_schedule else max(8, n_epochs // 8),
                        row_weights=bool(src.oversample) or weighted_apart, buffer_rows=buffer_rows, progress=progress,
                        checkpoint=resumable("flow"), precision=precision)
    reco_acceptance = {}
    if "eta" in objects.columns and n:
        reco_acceptance["abs_eta_max"] = float(np.max(np.abs(objects.column("eta"))))
    if "pt" in objects.columns and n:
        # the collection's pT threshold (NanoAOD Jet > 15 GeV, Photon > 10 GeV, ...)
        reco_acceptance["pt_min"] = float(np.min(objects.column("pt")))
    cards.save(out, "flow", net.state_dict(),
               {"kind": "flow", **common, "targets": list(src.flow_targets), "transforms": pipe.to_dict(),
                "network": net.config, "history": _history(h), "acceptance": reco_acceptance,
                **({"categories": list(src.categories), "categories_first": True} if src.categories else {})})
    summary["objects"] = n if src.targets else 0
    summary["flow_val_loss"] = h["best_val_loss"]
    for c in kept:
        c.remove()
    return summary


def provenance(paths: list[str | os.PathLike], n_events: int) -> dict:
    """Training provenance for the cards: files, processes, events and code versions.

    The process is the one a reference sample records in its metadata, else the file name. Files are named by
    their name, part files (``partNNN.root``) by their folder and name.

    Example:
        >>> provenance([SHARED / "nano_tt_v12.root"], 50)  # doctest: +NORMALIZE_WHITESPACE
        {'files': ['nano_tt_v12.root'], 'processes': ['nano_tt_v12'], 'events': 50, 'reference_code_versions': [],
         'flashsim_coffea_version': '0.1.0'}
    """
    from flashsim_coffea.reference.generate import read_metadata

    procs, versions = [], []
    for p in paths:
        try:
            md = read_metadata(p)
        except Exception:  # real CMS NanoAOD carries no flashsim metadata
            md = {}
        procs.append(md.get("process", Path(p).stem))
        if "code_version" in md:
            versions.append(md["code_version"])
    from flashsim_coffea import __version__

    # part files (samples/<name>/partNNN.root: workflow/models.smk) by their sample's folder too
    names = [f"{Path(p).parent.name}/{Path(p).name}" if re.fullmatch(r"part\d+\.root", Path(p).name) else Path(p).name
             for p in paths]
    return {"files": names, "processes": sorted(set(procs)), "events": int(n_events),
            "reference_code_versions": sorted(set(versions)), "flashsim_coffea_version": __version__}


def write_index(out: str | os.PathLike, keys: list[str], solver: str = DEFAULT_SOLVER, steps: int = DEFAULT_STEPS) -> Path:
    """Add ``keys`` to the models index of ``out`` (:func:`flashsim_coffea.sim.cards.write_index`)."""
    return cards.write_index(out, keys, list(all_sources()), solver, steps)


def train_all(tables: str | os.PathLike, out: str | os.PathLike, seed: int = 1, *, keys: list[str] | None = None,
              epochs: int = 40, progress: bool = True, skip_sparse: bool = False, min_objects: int = MIN_OBJECTS,
              min_steps: int = MIN_STEPS, min_efficiency_steps: int = MIN_EFFICIENCY_STEPS,
              buffer_rows: int = BUFFER_ROWS, checkpoint: str | os.PathLike | None = None,
              precision: str = TRAIN_PRECISION) -> list[dict]:
    """Train every declared source (or ``keys``) from a tables folder (:func:`.store.extract`); writes the index.
    ``checkpoint``: resumable trainings, ``precision``: the flows' arithmetic (:func:`train_source`).

    With ``skip_sparse``, sources with too few examples (or a collection the files lack)
    are reported and left out of the index instead of stopping the run.
    """
    manifest = json.loads((Path(tables) / "manifest.json").read_text())
    prov = {**manifest["provenance"], "events": store.events(tables)}
    sources = all_sources()
    todo = keys or list(sources)
    unknown = [k for k in todo if k not in sources]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {sorted(sources)}")
    summaries = []
    for key in todo:
        start = time.perf_counter()
        try:
            try:
                found = store.source_tables(tables, key)
            except FileNotFoundError as err:
                raise SparseDataError(f"{key}: {err}") from None
            s = train_source(sources[key], found, out, seed, provenance=prov, epochs=epochs, progress=progress,
                             min_objects=min_objects, min_steps=min_steps,
                             min_efficiency_steps=min_efficiency_steps, buffer_rows=buffer_rows,
                             checkpoint=checkpoint, precision=precision)
        except SparseDataError as err:
            if not skip_sparse:
                raise
            print(f"[train] skipped {err}", flush=True)
            continue
        s["seconds"] = round(time.perf_counter() - start, 1)
        print(f"[train] {key}: {s}", flush=True)
        summaries.append(s)
        write_index(out, [key])
    _leave_out_sparse(out, [k for k in todo if k not in {s["source"] for s in summaries}])
    return summaries


#: network of the categories classifier (:mod:`flashsim_coffea.sim.categories`).
CATEGORIES_CONFIG = {"hidden": [64, 64], "activation": "silu"}
#: optimiser steps of the categories classifier's budget (a sparse source: smaller batches, more epochs)
MIN_CATEGORY_STEPS = 2000


def _train_categories(src: Source, rows: dict[str, np.ndarray], pipe: Pipeline, seed: int,
                      out: Path, common: dict, progress: bool,
                      checkpoint: Checkpoint | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train and save the classifier of ``src.categories`` (:mod:`flashsim_coffea.sim.categories`) on the flow's
    training ``rows``: input the conditioning, classes the combinations of the categories' values (regions and
    point masses from the fitted transforms ``pipe``), drawn with the rows' weights where they have them
    (:mod:`flashsim_coffea.train.apart`). Returns the classes and each row's class index (the flow's extra
    conditioning)."""
    fields = list(src.categories)
    classes, index = categories.encode(categories.labels(rows, fields, pipe), fields)
    # a sparse source gets smaller batches and more epochs, a budget of MIN_CATEGORY_STEPS steps (at 40 epochs of
    # 1024 rows, the 930 apart fake electrons had 40 steps: region shares of a barely trained classifier)
    batch = int(min(1024, max(128, len(index) // 16)))
    epochs = max(40, math.ceil(MIN_CATEGORY_STEPS * batch / max(1.0, 0.8 * len(index))))
    inputs = list(src.categories_conditioning or src.conditioning)
    model, h = train_count(_pair_conditioning(rows, inputs), index, config=CATEGORIES_CONFIG, seed=seed,
                           quantile=1.0, progress=progress, weights=rows.get(APART_WEIGHT), epochs=epochs,
                           batch_size=batch, patience=max(8, epochs // 8), checkpoint=checkpoint)
    cards.save(out, "categories", model.state_dict(),
               {"kind": "categories", **common, "inputs": inputs, "fields": fields, "classes": classes.tolist(),
                "network": model.config, "first": True,
                "history": {k: v for k, v in _history(h).items() if k not in ("mean_count", "model_mean_count")}})
    return classes, index


def _leave_out_sparse(out: str | os.PathLike, skipped: list[str]) -> None:
    """A fake source too sparse to train (fewer than ``min_objects`` objects in all the training data) leaves
    its few objects to no model: the count cards of its collection trained in ``out`` stop naming it in
    ``excludes`` (the engine would refuse them without its model) and name it in ``left_out``."""
    sources = all_sources()
    for key in {k for k in skipped if k in fakes(sources[k].collection)}:
        for src in COLLECTIONS[sources[key].collection]:
            count = cards.card_path(out, src.key, "count")
            card = cards.read(count) if src.candidates is None and count.is_file() else {}
            if key in card.get("excludes", []):
                card["excludes"] = [k for k in card["excludes"] if k != key]
                card["left_out"] = sorted({*card.get("left_out", []), key})
                cards.write(count, card)
