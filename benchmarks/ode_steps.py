"""Fidelity against ODE steps, per source and time grid: the curve the default solver is chosen from.

Usage: python benchmarks/ode_steps.py --models flashsim_coffea/models --tables HELD_OUT_TABLES \
    [--sources KEY ...] [--steps 4 8 16 32 100] [--grids uniform late] [--solver midpoint ab2] \
    [--max-objects 40000] [--auc-seeds 3] [--out docs/ode_steps] [--apply]

Each source's flow samples the reco targets of the FullSim objects of ``--tables`` (a
``flashsim extract`` folder of events the models never saw: training processes with other seeds,
never the validation processes) from their gen conditioning, redrawn outside the acceptance as
the engine does, for every (solver, grid, steps); figures from :func:`flashsim_coffea.validate.tune.score`:
two-sample AUC (mean and spread over ``--auc-seeds`` classifier seeds), median W1/σ over the
targets, the largest KS distance of any target from the midpoint 100-step samples (the integration's own
error: what a discrete target's few % moved between values shows in, where the median W1 does not), and the
multiply-adds per object. Every setting starts from the same noise (same seed),
so differences between settings are the integration's, not sampling noise. At most
``--max-objects`` objects per source (a uniform random subsample, seed 0) keep it to minutes.

Writes OUT.json (after every setting: a rerun skips the settings it holds) and OUT.png (median
W1/σ and AUC − 0.5 against velocity evaluations per object, one panel pair per source, a line per
solver and grid) and prints a table and each source's cheapest (solver, steps) within tolerance (:func:`choose`);
``--apply`` writes those into the models index as ``source_steps`` and ``source_solvers``, what the engine
integrates each flow with (``FlashSim.steps_of``, ``FlashSim.solver_of``).

Example (held-out tables: 10k ttbar, 10k dy_mumu, 4k ttbar_boosted with seeds not used in training):
    flashsim generate --process ttbar --events 10000 --seed 301 --out held/ttbar.root --workers 2
    flashsim generate --process dy_mumu --events 10000 --seed 302 --out held/dy_mumu.root --workers 2
    flashsim generate --process ttbar_boosted --events 4000 --seed 303 --out held/ttbar_boosted.root --workers 2
    flashsim extract --data held/*.root --out held/tables --workers 2
    python benchmarks/ode_steps.py --models flashsim_coffea/models --tables held/tables --out docs/ode_steps
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flashsim_coffea.sim import cards
from flashsim_coffea.sim.engine import load_source
from flashsim_coffea.sim.ode import GRIDS, SOLVERS, nfe
from flashsim_coffea.specs import all_sources
from flashsim_coffea.train import store
from flashsim_coffea.validate.tune import RowView, flash_columns, score

#: the integration every setting's samples are compared with (``max_ks_to_reference``): converged
REFERENCE_SOLVER, REFERENCE_STEPS = "midpoint", 100


def held_tables(tables: str, key: str, max_objects: int) -> dict:
    """The source's tables, each a uniform random subsample of at most ``max_objects`` rows (seed 0)."""
    out = {}
    for kind, t in store.source_tables(tables, key).items():
        rows = np.arange(len(t))
        if len(t) > max_objects:
            rows = np.sort(np.random.default_rng([0, len(kind)]).choice(len(t), max_objects, replace=False))
        out[kind] = RowView(t, rows)
    return out


def curve(models: str, tables: str, keys: list[str], steps: list[int], grids: list[str], solver: str,
          max_objects: int, auc_seeds: int, seed: int = 1, done: list[dict] | None = None,
          save=None, classifier: str = "hgb") -> list[dict]:
    """One row per (source, grid, steps): the figures of :func:`score` (AUC of ``classifier``) and the seconds
    it took to sample. Rows of ``done`` (an earlier run's, same solver and classifier; rows without one
    were the MLP's) are kept, not redone; ``save(rows)`` runs after each."""
    sources = all_sources()
    rows = [r for r in (done or []) if r["solver"] == solver and r.get("classifier", "mlp") == classifier]
    have = {(r["source"], r["grid"], r["steps"]) for r in rows}
    todo = [(k, g, s) for k in keys for g in grids for s in steps if (k, g, s) not in have]
    loaded: dict = {}
    references: dict = {}
    for key, grid, n in tqdm(todo, desc="ode steps", unit="setting"):
        if key not in loaded:
            loaded[key] = (load_source(models, sources[key]), held_tables(tables, key, max_objects))
        m, held = loaded[key]
        if (key, grid) not in references:  # the converged integration the others are compared with, same noise
            pairs = held["pairs"].take(np.arange(len(held["pairs"])))
            references[key, grid] = flash_columns(m, pairs, seed, REFERENCE_SOLVER, REFERENCE_STEPS, grid)
        start = time.perf_counter()
        r = score(m, held, seed, auc_seeds=auc_seeds, solver=solver, steps=n, grid=grid, classifier=classifier,
                  reference=references[key, grid])
        rows.append({"source": key, "grid": grid, "solver": solver, "steps": n, "nfe": nfe(solver, n),
                     "seconds": round(time.perf_counter() - start, 2), **r})
        if save is not None:
            save(rows)
    return rows


def choose(rows: list[dict], grid: str = "uniform", auc_tolerance: float = 0.003,
           w1_tolerance: float = 0.005, ks_tolerance: float = 0.003) -> dict[str, tuple[str, int]]:
    """Per source, the (solver, steps) on ``grid`` of fewest velocity evaluations whose two-sample AUC is within
    ``auc_tolerance`` (or two classifier-seed spreads, if larger) and whose median W1/σ within ``w1_tolerance``
    of the source's reference: its setting of most evaluations (the integration converged there; the same
    noise at every setting, so a difference is the integration's), and whose samples lie within
    ``ks_tolerance`` (Kolmogorov-Smirnov, every target) of the midpoint 100-step ones (``max_ks_to_reference``;
    rows without it pass): the median W1 and the AUC missed `Jet_pileup`'s ab2 8 steps moving a tenth of its
    central jets to other η regions (KS 0.0058 from the converged samples; 12 steps 0.0026, 16 steps 0.0016).
    A source whose reference is its only row keeps it.

    Example:
        >>> rows = [{"source": "A", "grid": "uniform", "solver": "midpoint", "steps": n, "nfe": 2 * n, "auc": a,
        ...          "auc_seeds": [a, a], "median_w1_over_sigma": 0.01}
        ...         for n, a in ((4, 0.531), (8, 0.529), (100, 0.530))]
        >>> rows += [{**r, "source": "B", "auc": r["auc"] + (0.01 if r["steps"] == 4 else 0)} for r in rows]
        >>> choose(rows)
        {'A': ('midpoint', 4), 'B': ('midpoint', 8)}
        >>> ab2 = [{**r, "solver": "ab2", "steps": 6, "nfe": 7, "auc": 0.531} for r in rows if r["steps"] == 4]
        >>> choose(rows + ab2)  # 7 evaluations within tolerance: fewer than midpoint's 8 (A) and 16 (B)
        {'A': ('ab2', 6), 'B': ('ab2', 6)}
        >>> drift = [{**r, "max_ks_to_reference": 0.006} for r in ab2]  # its samples moved: not taken
        >>> choose(rows + drift)
        {'A': ('midpoint', 4), 'B': ('midpoint', 8)}
    """
    out = {}
    for key in dict.fromkeys(r["source"] for r in rows):
        rs = sorted((r for r in rows if r["source"] == key and r["grid"] == grid), key=lambda r: (r["nfe"], r["steps"]))
        if not rs:
            continue
        ref = rs[-1]
        tol = max(auc_tolerance, 2 * float(np.std(ref["auc_seeds"])))
        best = next((r for r in rs if r["auc"] - ref["auc"] <= tol
                     and r["median_w1_over_sigma"] - ref["median_w1_over_sigma"] <= w1_tolerance
                     and r.get("max_ks_to_reference", 0.0) <= ks_tolerance), ref)
        out[key] = (best["solver"], best["steps"])
    return out


def apply(models: str, chosen: dict[str, tuple[str, int]]) -> dict:
    """Write ``chosen`` (source -> (solver, steps)) into the models index as ``source_steps`` and
    ``source_solvers`` (:func:`flashsim_coffea.sim.cards.set_source_steps`); sources the index lacks are left out."""
    index = cards.read_index(models)
    mine = {k: v for k, v in chosen.items() if k in index["sources"]}
    return cards.set_source_steps(models, {k: n for k, (_, n) in mine.items()}, {k: s for k, (s, _) in mine.items()})


def table(rows: list[dict]) -> str:
    out = [f"{'source':<22} {'solver':<8} {'grid':<8} {'steps':>5} {'NFE':>4} {'AUC':>6} {'±':>5} {'medW1/σ':>8} "
           f"{'KS ref':>7} {'objects':>8}"]
    for r in rows:
        drift = f"{r['max_ks_to_reference']:>7.4f}" if "max_ks_to_reference" in r else f"{'':>7}"
        out.append(f"{r['source']:<22} {r['solver']:<8} {r['grid']:<8} {r['steps']:>5} {r['nfe']:>4} {r['auc']:>6.3f} "
                   f"{np.std(r['auc_seeds']):>5.3f} {r['median_w1_over_sigma']:>8.4f} {drift} {r['held_out_objects']:>8}")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    hep.style.use("CMS")
    keys = list(dict.fromkeys(r["source"] for r in rows))
    ncols = min(len(keys), 7)  # a grid of (W1, AUC) panel pairs, 7 sources a row
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(2 * nrows, ncols, figsize=(4.5 * ncols, 8 * nrows), squeeze=False, sharex=True)
    for ax in axes.flat[:]:
        ax.set_visible(False)
    nfes = sorted({r["nfe"] for r in rows})
    for j, key in enumerate(keys):
        top, bottom = axes[2 * (j // ncols), j % ncols], axes[2 * (j // ncols) + 1, j % ncols]
        top.set_visible(True)
        bottom.set_visible(True)
        for solver, grid in dict.fromkeys((r["solver"], r["grid"]) for r in rows):
            rs = sorted((r for r in rows if r["source"] == key and r["grid"] == grid and r["solver"] == solver),
                        key=lambda r: r["nfe"])
            x = [r["nfe"] for r in rs]
            top.plot(x, [r["median_w1_over_sigma"] for r in rs], "o-", label=f"{solver}, {grid}")
            bottom.errorbar(x, [r["auc"] - 0.5 for r in rs], yerr=[np.std(r["auc_seeds"]) for r in rs],
                            fmt="o-", label=f"{solver}, {grid}")
        top.set_title(key, fontsize=14)
        bottom.set_xscale("log")
        bottom.set_xticks(nfes, [str(n) for n in nfes], fontsize=12)
        bottom.minorticks_off()
        if j % ncols == 0:
            top.set_ylabel("median W1/σ")
            bottom.set_ylabel("AUC − 0.5")
    fig.supxlabel("velocity evaluations per object")
    axes[0, 0].legend(fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=str(cards.DEFAULT_MODELS), help="models directory (default: the shipped set)")
    p.add_argument("--tables", required=True, help="a `flashsim extract` folder of held-out events")
    p.add_argument("--sources", nargs="+", default=None, help="source keys (default: every one of the models index)")
    p.add_argument("--steps", nargs="+", type=int, default=[4, 8, 16, 32, 100], help="ODE step counts")
    p.add_argument("--grids", nargs="+", choices=GRIDS, default=list(GRIDS), help="time grids")
    p.add_argument("--solver", nargs="+", choices=sorted(SOLVERS), default=["midpoint"],
                   help="ODE solvers (a curve each; --apply chooses among them)")
    p.add_argument("--max-objects", type=int, default=40_000, help="objects per source (uniform subsample)")
    p.add_argument("--auc-seeds", type=int, default=3, help="classifier seeds per AUC")
    p.add_argument("--classifier", choices=("hgb", "mlp"), default="hgb",
                   help="two-sample classifier: gradient-boosted (default) or the MLP (the curve in docs/performance.md)")
    p.add_argument("--out", default="ode_steps", help="output prefix: OUT.json, OUT.png")
    p.add_argument("--apply", action="store_true",
                   help="write each source's cheapest (solver, steps) on the uniform grid within tolerance of its "
                   "most evaluations (choose()) into the models index as its source_steps and source_solvers")
    p.add_argument("--auc-tolerance", type=float, default=0.003, help="with --apply: AUC tolerance (default 0.003)")
    p.add_argument("--w1-tolerance", type=float, default=0.005,
                   help="with --apply: median W1/sigma tolerance (default 0.005)")
    p.add_argument("--ks-tolerance", type=float, default=0.003,
                   help="with --apply: largest KS distance of any target from the midpoint 100-step samples "
                        "(default 0.003)")
    args = p.parse_args(argv)
    index = cards.read_index(args.models)
    keys = args.sources or [k for k in index["sources"] if k in all_sources()]
    unknown = [k for k in keys if k not in index["sources"]]
    if unknown:
        p.error(f"no model for {unknown} in {args.models} (have {index['sources']})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    js = out.with_suffix(".json")
    done = json.loads(js.read_text())["rows"] if js.exists() else []  # resume: finished settings stay
    other = sorted({r.get("classifier", "mlp") for r in done} - {args.classifier})
    if other:
        raise SystemExit(f"ode_steps: {js} holds a curve of the {other[0]!r} classifier; give another --out")

    def save(rows: list[dict]) -> None:
        tmp = js.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"models": str(args.models), "tables": str(args.tables), "rows": rows}, indent=1))
        tmp.replace(js)

    rows = done
    for solver in args.solver:
        others = [r for r in rows if r["solver"] != solver]
        mine = curve(args.models, args.tables, keys, args.steps, args.grids, solver, args.max_objects,
                     args.auc_seeds, done=rows, save=lambda rs, others=others: save(others + rs),
                     classifier=args.classifier)
        rows = others + mine
    save(rows)
    print(table(rows))
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    chosen = choose(rows, auc_tolerance=args.auc_tolerance, w1_tolerance=args.w1_tolerance,
                    ks_tolerance=args.ks_tolerance)
    print("cheapest (solver, steps) within tolerance:", chosen)
    if args.apply:
        index = apply(args.models, chosen)
        print(f"wrote source_steps and source_solvers into {Path(args.models) / cards.INDEX}: {index['solver']} "
              f"{index['steps']} steps, per source {index.get('source_steps', {})}, {index.get('source_solvers', {})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
