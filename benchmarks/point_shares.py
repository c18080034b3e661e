"""Point-mass shares of a source's spike targets: learnt by the flow, or drawn first as categories.

Trains the source's models (the scaling study's trainer, ``flashsim_coffea.validate.tune``) on the training split of
a tables folder, with the given ``--points`` drawn first by the categories classifier (``"<target>:point"``,
:data:`flashsim_coffea.specs.source.POINT`) or none, scores them on the held-out fifth (two-sample AUC over
``--auc-seeds`` classifier seeds, median W1/σ) and prints, for every point mass of those targets, its share among the
held-out objects (``--central``: |η| < 2.4) in FullSim and in the flow's samples.

Usage::

    flashsim extract --data ttbar.root dy.root --out tables --sources Jet_genjet
    python benchmarks/point_shares.py --tables tables --source Jet_genjet --steps 8000 --points none
    python benchmarks/point_shares.py --tables tables --source Jet_genjet --steps 8000 \\
        --points chHEF neHEF chEmEF neEmEF muEF

Example (docs/performance.md, "Point masses drawn first"):
    >>> from flashsim_coffea.sim.transforms import Pipeline
    >>> specs = {"chHEF": {"kind": "spike", "value": 0.0, "then": {"kind": "spike", "value": 1.0, "side": "high",
    ...                                                          "then": {"kind": "logit"}}},
    ...          "iso": {"kind": "excess", "over": "chHEF",
    ...                  "then": {"kind": "spike", "value": 0.0, "then": {"kind": "log"}}}}
    >>> full = {"chHEF": np.array([0.0, 0.5, 1.0, 0.0]), "iso": np.array([0.0, 0.5, 1.2, 0.1])}
    >>> pipe = Pipeline.from_specs(specs).fit(full, rng=np.random.default_rng(0))
    >>> shares(full, {"chHEF": np.array([0.0, 0.4, 0.6, 0.7]), "iso": np.array([0.0, 0.5, 0.7, 0.8])},
    ...        {"chHEF": [0.0, 1.0], "iso": [0.0]}, pipe)
    {'chHEF=0': (0.5, 0.25), 'chHEF=1': (0.25, 0.0), 'iso=tie+0': (0.5, 0.25)}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def shares(full: dict, flash: dict, points: dict[str, list[float]], pipeline) -> dict[str, tuple[float, float]]:
    """``{"<target>=<value>": (FullSim share, flash share)}`` of each point mass (an excess target's: ``=tie+<value>``,
    its gap to the bound), each object's point read by the fitted ``pipeline``
    (:func:`flashsim_coffea.sim.categories.labels`)."""
    from flashsim_coffea.sim.categories import labels
    from flashsim_coffea.specs.source import POINT

    fields = [f"{t}{POINT}" for t in points]
    a, b = labels(full, fields, pipeline), labels(flash, fields, pipeline)
    kinds = dict(pipeline.columns)
    tie = {t: "tie+" if kinds[t].kind == "excess" else "" for t in points}
    return {f"{t}={tie[t]}{v:g}": (float(np.mean(a[f"{t}{POINT}"] == k)), float(np.mean(b[f"{t}{POINT}"] == k)))
            for t, values in points.items() for k, v in enumerate(values, 1)}


def main(argv: list[str] | None = None) -> None:
    from flashsim_coffea.sim.engine import load_source
    from flashsim_coffea.specs import all_sources
    from flashsim_coffea.specs.source import POINT, spike_points
    from flashsim_coffea.train import store
    from flashsim_coffea.train.sources import train_source
    from flashsim_coffea.validate import tune

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", required=True, help="a flashsim extract folder of training processes")
    ap.add_argument("--source", required=True, help="source key, e.g. Jet_genjet")
    ap.add_argument("--points", nargs="+", required=True, metavar="TARGET",
                    help="spike targets whose point masses the categories classifier draws first ('none': the flow)")
    ap.add_argument("--steps", type=int, default=8000, help="flow gradient steps")
    ap.add_argument("--width", type=int, default=128, help="flow width (depth 4)")
    ap.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default="bfloat16")
    ap.add_argument("--auc-seeds", type=int, default=5)
    ap.add_argument("--central", action="store_true", help="count the objects with |eta| < 2.4 only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    base = all_sources()[args.source]
    drawn = [] if args.points == ["none"] else args.points
    spikes = {t: points for t, s in base.flow_targets.items() if (points := spike_points(s))}
    src = replace(base, categories=(*[c for c in base.categories if not c.endswith(POINT)],
                                    *(f"{t}{POINT}" for t in drawn)))
    train, held = tune.split(store.source_tables(args.tables, args.source))
    cfg, _ = tune.config_of({**tune.DEFAULTS, "flow_width": args.width, "flow_depth": 4, "lr": 1e-3, "batch_size": 512,
                             "eff_width": 128, "eff_depth": 2, "steps": args.steps})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train_source(src, train, out, args.seed, epochs=1, progress=False, precision=args.precision,
                     config={**cfg, "min_steps": args.steps, "min_efficiency_steps": 2000})
        m = load_source(out, src)
        score = tune.score(m, held, args.seed, auc_seeds=args.auc_seeds)
        pairs = held["pairs"].take(np.arange(len(held["pairs"])))
        flash = tune.flash_columns(m, pairs, args.seed)
    keep = np.abs(pairs["cond_eta"]) < 2.4 if args.central else np.ones(len(pairs["cond_eta"]), bool)
    names = list(base.flow_targets)
    table = shares({t: np.asarray(pairs[t])[keep] for t in names}, {t: np.asarray(flash[t])[keep] for t in names},
                   spikes, m.pipeline)
    for k, (a, b) in table.items():
        print(f"{k:24s} FullSim {a:.4f} flash {b:.4f} ratio {b / a if a else float('nan'):.3f}")
    print(f"AUC {score['auc']:.3f} (seeds {', '.join(f'{a:.3f}' for a in score['auc_seeds'])}) median W1/σ "
          f"{score['median_w1_over_sigma']:.4f} | {time.perf_counter() - start:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"source": args.source, "points": drawn, "steps": args.steps,
                                              "auc": score["auc"], "auc_seeds": score["auc_seeds"],
                                              "median_w1_over_sigma": score["median_w1_over_sigma"],
                                              "shares": table}, indent=1))


if __name__ == "__main__":
    main()
