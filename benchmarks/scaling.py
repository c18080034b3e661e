"""Scaling study of one source (the LHCb plan's scalability tests): fidelity against network size, training
steps and training events, each with its cost.

Every point trains the source's models (``flashsim_coffea.validate.tune.evaluate``: the tune campaign's
trainer and score) on the training split of a tables folder and scores them on the held-out split
(a fixed fifth of the rows): two-sample AUC averaged over ``--auc-seeds`` classifier seeds, median W1/σ,
their sum ``fidelity``. Three axes move one thing each around a base point:

* ``params``: flow width at ``--depth`` gated blocks (0.1M → 4M parameters with the default widths);
* ``steps``: gradient steps ¼× → 4× the base;
* ``events``: training rows ¼× → 4× the base (the base is a quarter of the training split, so 4× is
  all of it).

Cost of each point: flow parameters, multiply-adds per object at the default solver, training seconds.
Results go to ``OUT.json`` (resumable: a point already there is not redone) and ``OUT.png``.

Usage::

    flashsim extract --data <training files> --out tables --sources Jet_genjet
    python benchmarks/scaling.py --tables tables --source Jet_genjet --base-steps 4000 --out scaling_Jet_genjet

Example (the points of the default grid):
    >>> [(p["axis"], p["value"]) for p in points([128, 256], [0.25, 4.0], [1.0])]
    [('params', 128), ('params', 256), ('steps', 0.25), ('steps', 4.0), ('events', 1.0)]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: flow widths of the params axis: ~0.1M, 0.5M, 1M, 2M, 4M parameters at depth 4 (2 w^2 per gated block)
WIDTHS = [112, 256, 362, 512, 724]
MULTIPLIERS = [0.25, 0.5, 1.0, 2.0, 4.0]


def points(widths: list[int], steps: list[float], events: list[float]) -> list[dict]:
    """The study's points: one axis moved at a time."""
    return ([{"axis": "params", "value": w} for w in widths] + [{"axis": "steps", "value": s} for s in steps]
            + [{"axis": "events", "value": e} for e in events])


def subsample(view, fraction: float, seed: int = 0):
    """The first ``fraction`` of a random permutation of a table view's rows (nested: ¼ ⊂ ½ ⊂ 1)."""
    from flashsim_coffea.validate.tune import RowView

    perm = np.random.default_rng(seed).permutation(len(view))
    keep = np.sort(perm[: max(1, int(round(fraction * len(view))))])
    return RowView(view.table, view.rows[keep])


def run_point(key: str, tables: str, point: dict, base: dict, auc_seeds: int, seed: int) -> dict:
    """Train and score one point; returns the tune score with parameters, rows and training seconds."""
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import all_sources
    from flashsim_coffea.train import store
    from flashsim_coffea.validate import tune

    train, held = tune.split(store.source_tables(tables, key))
    params = {"flow_width": base["width"], "flow_depth": base["depth"], "steps": base["steps"],
              "precision": base.get("precision", "float32")}
    fraction = base["events"]
    if point["axis"] == "params":
        params["flow_width"] = int(point["value"])
    elif point["axis"] == "steps":
        params["steps"] = max(1, int(round(base["steps"] * point["value"])))
    else:
        fraction = min(1.0, base["events"] * point["value"])
    train = {k: subsample(v, fraction) for k, v in train.items()}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        score = tune.evaluate(key, train, held, {**tune.DEFAULTS, "lr": 1e-3, "batch_size": 512, "eff_width": 128,
                                                  "eff_depth": 2, **params}, out, seed, auc_seeds=auc_seeds)
        seconds = time.perf_counter() - start
        m = load_source(out, all_sources()[key])
        n_params = sum(int(p.numel()) for p in m.flow.parameters())
    return {**point, **score, "flow_width": params["flow_width"], "flow_depth": params["flow_depth"],
            "steps": params["steps"], "train_rows": int(len(train["pairs"])), "parameters": n_params,
            "train_seconds": seconds}


def plot(rows: list[dict], path: Path, key: str) -> None:
    """Fidelity against each axis, the training cost written beside every point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, (axis, label, x) in zip(axes, (("params", "flow parameters", "parameters"),
                                           ("steps", "training steps", "steps"),
                                           ("events", "training rows", "train_rows"))):
        pts = sorted((r for r in rows if r["axis"] == axis), key=lambda r: r[x])
        if pts:
            ax.plot([r[x] for r in pts], [r["fidelity"] for r in pts], "o-")
            for r in pts:
                ax.annotate(f"{r['train_seconds'] / 60:.0f} min", (r[x], r["fidelity"]), fontsize=7,
                            textcoords="offset points", xytext=(0, 6), ha="center")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a log axis overlap
        ax.set_xlabel(label)
    axes[0].set_ylabel("fidelity = (AUC − 0.5) + median W1/σ")
    fig.suptitle(f"{key}: scaling (held-out fifth of the training tables)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", required=True, help="a flashsim extract folder of training processes")
    ap.add_argument("--source", required=True, help="source key, e.g. Jet_genjet")
    ap.add_argument("--base-steps", type=int, default=4000, help="gradient steps of the base point")
    ap.add_argument("--base-width", type=int, default=128, help="flow width of the base point (the shipped 128)")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--base-events", type=float, default=0.25, help="fraction of the training split at the base")
    ap.add_argument("--widths", type=int, nargs="*", default=WIDTHS)
    ap.add_argument("--steps", type=float, nargs="*", default=MULTIPLIERS)
    ap.add_argument("--events", type=float, nargs="*", default=MULTIPLIERS)
    ap.add_argument("--auc-seeds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default="float32",
                    help="the flows' training arithmetic at every point (default float32)")
    ap.add_argument("--out", required=True, help="output prefix: OUT.json, OUT.png")
    args = ap.parse_args(argv)
    out = Path(args.out + ".json")
    rows = json.loads(out.read_text())["points"] if out.exists() else []
    base = {"width": args.base_width, "depth": args.depth, "steps": args.base_steps, "events": args.base_events,
            "precision": args.precision}
    for p in points(args.widths, args.steps, args.events):
        if any(r["axis"] == p["axis"] and r["value"] == p["value"] for r in rows):
            continue
        r = run_point(args.source, args.tables, p, base, args.auc_seeds, args.seed)
        rows.append(r)
        out.write_text(json.dumps({"source": args.source, "base": base, "points": rows}, indent=1))
        print(f"{p['axis']:>6} {p['value']:>7}: params {r['parameters']:>9,} steps {r['steps']:>6} rows "
              f"{r['train_rows']:>8} | AUC {r['auc']:.3f} W1/σ {r['median_w1_over_sigma']:.3f} fidelity "
              f"{r['fidelity']:.3f} | {r['train_seconds']:.0f} s", flush=True)
    plot(rows, Path(args.out + ".png"), args.source)


if __name__ == "__main__":
    main()
