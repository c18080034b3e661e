"""A resumable hyper-parameter search of one source (``flashsim tune``): Optuna, trials on any executor.

Every trial trains the source's models (:func:`flashsim_coffea.train.sources.train_source` with a
``config`` override) on the training split of its extracted tables (:mod:`flashsim_coffea.train.store`)
and scores them on a held-out split of the same tables: a fixed random fifth of the rows
(``split_seed``), whatever the trial. Two objectives, both minimised (a Pareto front):

* fidelity = (mean two-sample AUC - 0.5) + median W1/σ: flow samples drawn on the held-out objects'
  conditioning (redrawn while outside the source's acceptance, as the engine does) against their
  FullSim targets; the AUC is the study's ``classifier`` (:data:`CLASSIFIERS`: the gradient-boosted
  :func:`.report.hgb_auc` by default, which tells apart what the MLP :func:`.report.two_sample_auc`
  does not; a study keeps the one it started with) on gen conditioning + reco targets
  (:func:`.report.auc_inputs`) averaged over ``auc_seeds`` classifier seeds, W1/σ is
  :func:`.report.wasserstein_over_sigma` per target. The efficiency classifier's held-out
  log-loss and |mean efficiency - FullSim| are recorded with each trial (not an objective);
* cost = multiply-adds per object of the engine's networks (:meth:`FlashSim.flops_per_object`:
  the flow times the solver's evaluations, plus the efficiency or count network).

The study lives in SQLite (``sqlite:///<study>``): rerunning continues it and runs only the
trials it lacks (``trials`` counts the finished ones); a trial left ``RUNNING`` by an interrupted
run is marked ``FAIL`` first. Trials run as tasks of an executor (a dask.distributed
``Client.get_executor()``, :mod:`flashsim_coffea.cluster`): each task loads the study and runs its
share of the trials with ``study.optimize`` against the shared storage, SQLite waiting up to
:data:`SQLITE_TIMEOUT` seconds on a lock held by another worker (each trial writes a few rows,
once every few seconds at most: contention is rare). Tables of the validation processes
(:data:`VALIDATION_PROCESSES`) are refused.

References:
    Akiba et al., Optuna: A Next-generation Hyperparameter Optimization Framework (arXiv:1907.10902);
    Ozaki et al., Multiobjective tree-structured Parzen estimator (JAIR 2022);
    Hutter, Hoos, Leyton-Brown, An efficient approach for assessing hyperparameter importance (fANOVA, ICML 2014).

Example:
    The search space and the training config of one trial's parameters:

    >>> params = {"flow_width": 96, "flow_depth": 3, "lr": 0.002, "batch_size": 512, "steps": 5000,
    ...           "eff_width": 64, "eff_depth": 2, "alpha": 2.0}
    >>> config_of(params)  # doctest: +NORMALIZE_WHITESPACE
    ({'flow': {'hidden': [96, 96, 96]}, 'efficiency': {'hidden': [64, 64]}, 'lr': 0.002, 'batch_size': 512,
      'schedule': 'cosine', 'alpha': 2.0, 'half_width': 0.15}, 5000)
    >>> sorted(SPACE)  # doctest: +NORMALIZE_WHITESPACE
    ['alpha', 'batch_size', 'eff_depth', 'eff_width', 'flow_depth', 'flow_width', 'gated', 'half_width', 'lr',
     'schedule', 'steps']

The best trial becomes the source's tuned training config with ``flashsim tune ... --apply``
(:func:`apply`; written to ``flashsim_coffea/specs/tuned.json``, which ``train_source`` reads).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

from flashsim_coffea.nanoaod import fatjet_defaults, jet_defaults, schema, storage_precision
from flashsim_coffea.sim.engine import (
    DEFAULT_GRID,
    DEFAULT_SOLVER,
    DEFAULT_STEPS,
    RESAMPLE_ATTEMPTS,
    FlashSim,
    load_source,
    matrix,
)
from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import store
from flashsim_coffea.train.sources import MIN_STEPS, train_source
from flashsim_coffea.validate.report import auc_inputs, hgb_auc, ks, two_sample_auc, wasserstein_over_sigma

#: processes kept for validation: never tuned on.
VALIDATION_PROCESSES = ("zh_llbb", "vbf_hmumu")
#: seconds a SQLite writer waits on another's lock.
SQLITE_TIMEOUT = 120
#: the search space: parameter -> choices (a list) or (low, high, log) for a number.
#: ``steps``: gradient steps of the flow and the efficiency classifier, (max_steps / 4, max_steps).
#: ``gated``: the blocks' residuals gated by the conditioning (GLU-like) or plain; ``schedule`` of the
#: learning rate; ``alpha``: training times drawn with density ∝ t^alpha (more of them near the data
#: end, where the field stiffens); ``half_width``: dequantisation of the discrete targets.
SPACE: dict[str, list | tuple] = {
    "flow_width": [64, 96, 128, 192, 256],
    "flow_depth": (2, 6, False),
    "gated": [True, False],
    "lr": (2e-4, 3e-3, True),
    "schedule": ["cosine", "constant"],
    "batch_size": [128, 256, 512, 1024],
    "steps": (0.25, 1.0, True),
    "alpha": [0.0, 0.5, 1.0, 2.0],
    "half_width": [0.1, 0.15, 0.25],
    "eff_width": [64, 128, 192],
    "eff_depth": (1, 4, False),
}
#: the value a parameter has in the defaults (for trials of studies made before it was searched).
DEFAULTS = {"gated": True, "schedule": "cosine", "alpha": 1.0, "half_width": 0.15}
#: held-out fraction of the rows of the tables.
HELD_OUT = 0.2
#: the two-sample classifiers a study can score with (gradient-boosted: the stronger on these tables).
CLASSIFIERS = {"hgb": hgb_auc, "mlp": two_sample_auc}


class RowView:
    """The rows ``rows`` (increasing) of a :class:`~flashsim_coffea.train.store.Table`, read as a table.

    Example:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> _ = store.extract([SHARED / "nano_tt_v12.root"], out, events=50, keys=["Muon_genmuon"], progress=False)
        >>> t = store.Table(out, "Muon_genmuon", "pairs")
        >>> v = RowView(t, np.array([1, 30]))
        >>> len(v), v.column("pt").round(1).tolist(), v.take(np.array([1]), ["pt"])["pt"].round(1).tolist()
        (2, [3.3, 25.1], [25.1])
    """

    def __init__(self, table, rows: np.ndarray):
        self.table, self.rows = table, np.asarray(rows, np.int64)
        self.columns = table.columns

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        return self.table.column(name)[self.rows]

    def take(self, rows: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
        return self.table.take(self.rows[np.asarray(rows, np.int64)], names)


def split(tables: Mapping, fraction: float = HELD_OUT, seed: int = 0) -> tuple[dict, dict]:
    """(training, held-out) views of a source's tables: a random ``fraction`` of each table's rows held out."""
    train, held = {}, {}
    for kind, t in tables.items():
        out = np.random.default_rng([seed, len(kind)]).random(len(t)) < fraction
        train[kind], held[kind] = RowView(t, np.flatnonzero(~out)), RowView(t, np.flatnonzero(out))
    return train, held


def suggest(trial, max_steps: int) -> dict:
    """The parameters of one trial from :data:`SPACE` (``steps`` scaled by ``max_steps``)."""
    out = {}
    for name, choice in SPACE.items():
        if isinstance(choice, list):
            out[name] = trial.suggest_categorical(name, choice)
        elif name == "steps":
            out[name] = trial.suggest_int(name, max(1, int(choice[0] * max_steps)), max(1, int(choice[1] * max_steps)),
                                          log=True)
        elif isinstance(choice[0], int):
            out[name] = trial.suggest_int(name, choice[0], choice[1], log=choice[2])
        else:
            out[name] = trial.suggest_float(name, choice[0], choice[1], log=choice[2])
    return out


def config_of(params: Mapping) -> tuple[dict, int]:
    """The ``config`` of :func:`~flashsim_coffea.train.sources.train_source` and the gradient steps of a trial."""
    p = {**DEFAULTS, **params}
    flow = {"hidden": [int(p["flow_width"])] * int(p["flow_depth"]), **({} if p["gated"] else {"gated": False})}
    cfg = {"flow": flow, "efficiency": {"hidden": [int(p["eff_width"])] * int(p["eff_depth"])},
           "lr": float(p["lr"]), "batch_size": int(p["batch_size"]), "schedule": str(p["schedule"]),
           "alpha": float(p["alpha"]), "half_width": float(p["half_width"])}
    return cfg, int(p["steps"])


def _sample(m, context: np.ndarray, gen: dict, rng: np.random.Generator, solver: str, steps: int,
            grid: str = DEFAULT_GRID) -> np.ndarray:
    """Flow samples (targets) of every row, redrawn while outside the acceptance (at most RESAMPLE_ATTEMPTS draws)."""
    from flashsim_coffea.sim.engine import draw as draw_rows

    def draw(rows: np.ndarray) -> dict:
        noise = rng.standard_normal((len(rows), m.noise_dim)).astype(np.float32)
        return draw_rows(m, context[rows], noise, {k: v[rows] for k, v in gen.items()}, steps=steps, solver=solver,
                         grid=grid)

    out = {k: np.array(v, np.float64) for k, v in draw(np.arange(len(context))).items()}
    inside = m.accepted(out, gen)
    for _ in range(RESAMPLE_ATTEMPTS - 1):
        if inside is None or inside.all():
            break
        redo = np.flatnonzero(~inside)
        again = draw(redo)
        ok = m.accepted(again, {k: v[redo] for k, v in gen.items()})
        for k, v in again.items():
            out[k][redo[ok]] = np.asarray(v, np.float64)[ok]
        inside[redo[ok]] = True
    return out


#: NanoAOD's values where an algorithm does not run, put back by rule as the engine's ``derive`` does
#: (:mod:`flashsim_coffea.nanoaod.jet_defaults`, :mod:`flashsim_coffea.nanoaod.fatjet_defaults`)
NANOAOD_DEFAULTS = {"Jet": jet_defaults.apply, "FatJet": fatjet_defaults.apply, "SubJet": fatjet_defaults.apply}


def with_defaults(collection: str, flash: dict, fullsim: Mapping) -> dict:
    """Flow samples ``flash`` of ``collection`` with NanoAOD's defaults put back from their own pT, raw pT and
    eta (:data:`NANOAOD_DEFAULTS`; a fat jet's ``lsf3`` where the FullSim jet of the row has no lepton), as the engine
    writes them: a score against FullSim tables holding the defaults (taggers -1 beyond the tracker) then
    compares like with like.

    Example:
        >>> flash = {"pt": np.array([40.0, 40.0]), "eta": np.array([0.5, 3.2]), "btagPNetB": np.array([0.9, 0.2])}
        >>> with_defaults("Jet", flash, {})["btagPNetB"].tolist()
        [0.9, -1.0]
    """
    apply = NANOAOD_DEFAULTS.get(collection)
    if apply is None:
        return flash
    cols = dict(flash)
    if collection == "FatJet" and "lsf3" in fullsim:
        apply(cols, has_lepton=np.asarray(fullsim["lsf3"]) != -1)
    else:
        apply(cols)
    return cols


def evaluate(key: str, train: Mapping, held: Mapping, params: Mapping, out: str | os.PathLike, seed: int = 1, *,
             auc_seeds: int = 5, solver: str = DEFAULT_SOLVER, steps: int = DEFAULT_STEPS,
             classifier: str = "hgb") -> dict:
    """Train the models of source ``key`` with ``params`` into ``out`` and score them on ``held`` (see the module doc).
    ``params["precision"]``, when given, is the flow's training arithmetic
    (:func:`~flashsim_coffea.train.flow.train_flow`)."""
    src = all_sources()[key]
    cfg, n_steps = config_of(params)
    train_source(src, train, out, seed, epochs=1, progress=False,  # the trial's values over any tuned defaults
                 config={**cfg, "min_steps": n_steps, "min_efficiency_steps": n_steps},
                 **({"precision": params["precision"]} if "precision" in params else {}))
    return score(load_source(out, src), held, seed, auc_seeds=auc_seeds, solver=solver, steps=steps,
                 classifier=classifier)


def flash_columns(m, pairs: Mapping, seed: int = 1, solver: str = DEFAULT_SOLVER, steps: int = DEFAULT_STEPS,
                  grid: str = DEFAULT_GRID) -> dict:
    """The source's flow samples for every row of the FullSim ``pairs`` (from its gen conditioning only), as the
    engine writes them: NanoAOD's defaults put back (:func:`with_defaults`), float32 where NanoAOD writes float32
    and rounded to NanoAOD's stored precision (:mod:`flashsim_coffea.nanoaod.storage_precision`), the grid the
    FullSim tables hold; unrounded samples let a gradient-boosted classifier's quantile bins tell them apart by
    precision alone (HGB AUC 0.99 on held-out genuine muons, 0.69 rounded; a score a relation decodes to
    -0.99999999 is -1 once written: in float64 the saturation at -1 was missing, AUC 0.63 for 0.53 written)."""
    names = m.source.conditioning
    context = matrix({c: pairs[f"cond_{c}"] for c in names}, names, len(next(iter(pairs.values()))))
    gen = {k: v for k, v in pairs.items() if k.startswith("gen_")}  # never the FullSim object's own columns
    flash = with_defaults(m.source.collection, _sample(m, context, gen, np.random.default_rng(seed), solver, steps,
                                                       grid), pairs)
    dtypes = schema.SCHEMA.get(m.source.collection, {})
    flash = {k: np.asarray(v, np.float32).astype(np.float64) if dtypes.get(k) == "float32" else v
             for k, v in flash.items()}
    return storage_precision.round_columns(m.source.collection, flash)


def score(m, held: Mapping, seed: int = 1, *, auc_seeds: int = 5, solver: str = DEFAULT_SOLVER,
          steps: int = DEFAULT_STEPS, grid: str = DEFAULT_GRID, classifier: str = "hgb",
          reference: Mapping | None = None) -> dict:
    """The fidelity and cost figures of one source's loaded models (:class:`~flashsim_coffea.sim.engine.SourceModel`)
    on the tables ``held`` (see the module doc): ``auc`` (``classifier``'s, mean over ``auc_seeds``),
    ``median_w1_over_sigma``, ``fidelity``, ``flops``, and for an efficiency model its log-loss and
    mean-efficiency difference. With ``reference`` (:func:`flash_columns` of the same rows and ``seed`` at a
    converged integration), ``max_ks_to_reference``: the largest Kolmogorov-Smirnov distance over the targets
    between this integration's samples and those, the integration's own error (the same noise in both)."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown two-sample classifier {classifier!r} (known: {sorted(CLASSIFIERS)})")
    from flashsim_coffea.sim.efficiency import predict_proba

    key = m.source.key
    pairs = held["pairs"].take(np.arange(len(held["pairs"])))
    if len(held["pairs"]) < 10:
        raise ValueError(f"{key}: only {len(held['pairs'])} held-out objects; give more events")
    names = m.source.conditioning
    cond = {c: pairs[f"cond_{c}"] for c in names}
    flash = flash_columns(m, pairs, seed, solver, steps, grid)
    flash_pairs = {**{f"cond_{c}": v for c, v in cond.items()}, **flash}
    _, fa, ra, groups = auc_inputs(m.source, flash_pairs, pairs)  # row i of both: one gen object, in one half
    aucs = [CLASSIFIERS[classifier](fa, ra, s, groups) for s in range(auc_seeds)]
    w1 = {t: wasserstein_over_sigma(np.asarray(flash[t], np.float64), np.asarray(pairs[t], np.float64))
          for t in m.source.targets if t in flash and t in pairs}
    flops = FlashSim({key: m}, solver, steps, grid=grid).flops_per_object()[key]
    r = {"auc": float(np.mean(aucs)), "auc_seeds": [float(a) for a in aucs], "classifier": classifier,
         "w1_over_sigma": {t: float(v) for t, v in w1.items()},
         "median_w1_over_sigma": float(np.median(list(w1.values()))), "flops": int(sum(flops.values())),
         "held_out_objects": len(held["pairs"])}
    if reference is not None:
        r["max_ks_to_reference"] = max((ks(np.asarray(flash[t], np.float64), np.asarray(reference[t], np.float64))
                                        for t in m.source.targets if t in flash and t in reference), default=0.0)
    if m.efficiency is not None:
        sel = held["selection"]
        X = matrix({c: sel.column(f"cond_{c}") for c in names}, names, len(sel))
        y = sel.column("label").astype(np.float64)
        p = np.clip(predict_proba(m.efficiency, X), 1e-6, 1 - 1e-6)
        if m.candidate_abs_eta_max is not None and "abs_eta" in names:
            p[X[:, names.index("abs_eta")] > m.candidate_abs_eta_max] = 1e-6
        r["efficiency_logloss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        r["efficiency_abs_diff"] = float(abs(p.mean() - y.mean()))
    r["fidelity"] = r["auc"] - 0.5 + r["median_w1_over_sigma"]
    return r


def _storage(study: str | os.PathLike):
    import optuna

    return optuna.storages.RDBStorage(f"sqlite:///{Path(study).resolve()}",
                                      engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT}})


def run_trials(study: str, name: str, tables: str, key: str, n_trials: int, settings: Mapping, worker: int = 0) -> int:
    """Run ``n_trials`` trials of the study (one executor task); returns the trials it finished."""
    import optuna
    import torch

    threads = torch.get_num_threads()
    if settings.get("threads"):
        torch.set_num_threads(int(settings["threads"]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=name, storage=_storage(study),
                          sampler=optuna.samplers.TPESampler(seed=int(settings["seed"]) * 1000 + worker))
    train, held = split(store.source_tables(tables, key), HELD_OUT, int(settings.get("split_seed", 0)))
    trials_dir = Path(settings["trials_dir"])

    def objective(trial) -> tuple[float, float]:
        params = suggest(trial, int(settings["max_steps"]))
        r = evaluate(key, train, held, params, trials_dir / f"trial_{trial.number:04d}",
                     int(settings["seed"]) + trial.number, auc_seeds=int(settings["auc_seeds"]),
                     solver=settings["solver"], steps=int(settings["ode_steps"]),
                     classifier=settings.get("classifier", "mlp"))
        for k, v in r.items():
            trial.set_user_attr(k, v)
        return r["fidelity"], float(r["flops"])

    try:
        s.optimize(objective, n_trials=n_trials)
    finally:
        torch.set_num_threads(threads)
    return n_trials


def _check_processes(tables: str | os.PathLike) -> None:
    manifest = json.loads((Path(tables) / "manifest.json").read_text())
    procs = manifest.get("provenance", {}).get("processes", [])
    bad = [p for p in procs if any(p.startswith(v) for v in VALIDATION_PROCESSES)]
    if bad:
        raise ValueError(f"{tables}: tables of validation process(es) {bad}: tune on training processes only "
                         f"(never {', '.join(VALIDATION_PROCESSES)})")


def tune(key: str, tables: str | os.PathLike, study: str | os.PathLike, trials: int, *, executor: Executor | None = None,
         workers: int = 1, seed: int = 1, max_steps: int = MIN_STEPS, auc_seeds: int = 5, solver: str = DEFAULT_SOLVER,
         ode_steps: int = DEFAULT_STEPS, threads: int | None = None, classifier: str = "hgb") -> dict:
    """Bring the study at ``study`` (SQLite file) to ``trials`` finished trials of source ``key``; returns :func:`report`.

    The trials it lacks are shared among ``workers`` tasks of ``executor`` (none: run here). A study scores
    with one ``classifier`` throughout (recorded in it; a study made before the choice existed used the MLP).
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown two-sample classifier {classifier!r} (known: {sorted(CLASSIFIERS)})")
    import optuna
    from optuna.trial import TrialState

    if key not in all_sources():
        raise ValueError(f"unknown source {key!r}; known: {sorted(all_sources())}")
    _check_processes(tables)
    study = Path(study)
    storage = _storage(study)
    s = optuna.create_study(study_name=key, storage=storage, directions=["minimize", "minimize"], load_if_exists=True)
    for t in s.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # left by an interrupted run
        storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    done = len(s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    before = s.user_attrs.get("classifier", "mlp" if done else None)
    if before not in (None, classifier):
        raise ValueError(f"study {study} scores with the {before!r} classifier; continue it with that one")
    s.set_user_attr("classifier", classifier)
    todo = trials - done
    settings = {"seed": seed, "max_steps": max_steps, "auc_seeds": auc_seeds, "solver": solver, "ode_steps": ode_steps,
                "classifier": classifier,
                "threads": threads, "trials_dir": os.fspath(study.with_name(study.stem + "_trials").resolve())}
    shares = [todo // workers + (i < todo % workers) for i in range(workers)] if todo > 0 else []
    args = [(os.fspath(study), key, os.fspath(tables), key, n, settings, i) for i, n in enumerate(shares) if n]
    if executor is None:
        for a in args:
            run_trials(*a)
    else:
        for f in [executor.submit(run_trials, *a) for a in args]:
            f.result()
    return report(study, key)


def pareto(study) -> list:
    """The finished trials on the Pareto front (fidelity, cost), most faithful first."""
    return sorted(study.best_trials, key=lambda t: t.values[0])


def report(study_path: str | os.PathLike, name: str) -> dict:
    """Write the study's Pareto front (``<study>.pareto.json``, ``.png``) and parameter importances; return them."""
    import optuna
    from optuna.trial import TrialState

    study_path = Path(study_path)
    s = optuna.load_study(study_name=name, storage=_storage(study_path))
    done = s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = pareto(s) if done else []
    row = lambda t: {"number": t.number, "fidelity": t.values[0], "flops": int(t.values[1]), "params": t.params,
                     **{k: v for k, v in t.user_attrs.items() if k not in ("fidelity", "flops")}}
    importances = {}
    if len({json.dumps(t.params, sort_keys=True) for t in done}) >= 4:
        for i, objective in enumerate(("fidelity", "flops")):
            imp = optuna.importance.get_param_importances(
                s, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), target=lambda t, i=i: t.values[i])
            importances[objective] = {k: float(v) for k, v in imp.items()}
    states = {st.name: len(s.get_trials(deepcopy=False, states=(st,))) for st in TrialState}
    out = {"study": os.fspath(study_path), "source": name, "trials": {k: v for k, v in states.items() if v},
           "pareto": [row(t) for t in front], "importances": importances,
           "best": (tuned_entry(front[0].params) if front else None)}
    study_path.with_suffix(".pareto.json").write_text(json.dumps(out, indent=1))
    if done:
        plot(done, front, study_path.with_suffix(".pareto.png"), name)
    return out


def plot(done: list, front: list, path: Path, name: str) -> None:
    """Fidelity vs cost of every finished trial, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([t.values[1] for t in done], [t.values[0] for t in done], s=14, c="0.6", label="trials")
    f = sorted(front, key=lambda t: t.values[1])
    ax.plot([t.values[1] for t in f], [t.values[0] for t in f], "o-", c="C3", label="Pareto front")
    for t in f:
        ax.annotate(str(t.number), (t.values[1], t.values[0]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per object")
    ax.set_ylabel("(AUC - 0.5) + median W1/σ (held out)")
    ax.set_title(f"{name}: {len(done)} trials")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tuned_entry(params: Mapping) -> dict:
    """The parameters of a trial as the source's tuned training config
    (:func:`flashsim_coffea.train.sources.tuned_config`: ``train_source``'s defaults for it).

    Example:
        >>> tuned_entry({"flow_width": 96, "flow_depth": 2, "lr": 0.002, "batch_size": 512, "steps": 5000,
        ...              "eff_width": 64, "eff_depth": 1, "gated": False})  # doctest: +NORMALIZE_WHITESPACE
        {'flow': {'hidden': [96, 96], 'gated': False}, 'efficiency': {'hidden': [64]}, 'lr': 0.002,
         'batch_size': 512, 'schedule': 'cosine', 'alpha': 1.0, 'half_width': 0.15, 'min_steps': 5000,
         'min_efficiency_steps': 5000}
    """
    cfg, steps = config_of(params)
    return {**cfg, "min_steps": steps, "min_efficiency_steps": steps}


def apply(study_path: str | os.PathLike, name: str, max_flops: float | None = None,
          path: str | os.PathLike | None = None) -> dict:
    """Write the most faithful Pareto trial of the study (whose multiply-adds per object are at most
    ``max_flops``, if given) as source ``name``'s tuned training config; returns that entry."""
    import optuna

    from flashsim_coffea.train.sources import set_tuned_config

    s = optuna.load_study(study_name=name, storage=_storage(study_path))
    front = [t for t in pareto(s) if max_flops is None or t.values[1] <= max_flops]
    if not front:
        raise ValueError(f"{study_path}: no finished trial" + (f" within {max_flops:g} multiply-adds per object"
                                                                 if max_flops is not None else ""))
    entry = {**tuned_entry(front[0].params), "study": os.fspath(study_path), "trial": front[0].number,
             "fidelity": float(front[0].values[0]), "flops": int(front[0].values[1])}
    set_tuned_config(name, entry, path)
    return entry
