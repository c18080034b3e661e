"""Which fields let a gradient-boosted classifier tell flash objects from FullSim ones: greedy forward selection,
or every field but one (``--drop-one``).

Usage: python benchmarks/field_greedy.py --collection Electron|...|Event --data zh_llbb_a.root zh_llbb_b.root \
    [--models flashsim_coffea/models] [--fields all|learnt] [--genuine] [--steps 6] [--seed 1] [--drop-one] \
    [--exclude FIELD ...]

Simulates the gen content of the FullSim files once (K = 1, as ``flashsim validate``), takes the
collection's objects above its threshold (:func:`flashsim_coffea.validate.fields.objects`; ``Event``: one row
per event, its event-level fields without the trigger bits), then adds
fields one at a time, each time the one that raises the held-out AUC of
:func:`flashsim_coffea.validate.report.hgb_auc` most, and prints the path: where a high every-field
AUC comes from when no single field shows it (a relation between fields that the flows break).
``--fields learnt`` keeps the flow targets only; ``--genuine`` the objects linked to a gen candidate.
``--drop-one``: the every-field AUC, then with each field left out, the ``--steps`` largest falls first: the
fields the every-field classifier leans on (``--exclude`` leaves fields out of both, to look past the first).

Example (docs/performance.md, "The gradient-boosted test"):
    python benchmarks/field_greedy.py --collection Muon --data zh_llbb_a.root zh_llbb_b.root --fields learnt --genuine
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import numpy as np
from tqdm import tqdm

from flashsim_coffea.validate.report import hgb_auc


def auc_of(flash: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], cols: list[str], seed: int = 0) -> float:
    """The held-out AUC of :func:`flashsim_coffea.validate.report.hgb_auc` on the fields ``cols``."""
    return hgb_auc(np.stack([flash[c] for c in cols], 1), np.stack([ref[c] for c in cols], 1), seed)


def greedy(flash: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], steps: int, seed: int = 0,
           progress: bool = False) -> list[tuple[str, float]]:
    """The forward-selection path: ``[(field, AUC with it and the fields before it), ...]``.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> a = rng.normal(size=(4000, 3))
        >>> b = rng.normal(size=(4000, 3))
        >>> b[:, 2] = b[:, 1] + 0.3 * rng.normal(size=4000)  # FullSim: c follows b; flash: independent
        >>> a[:, 2] = rng.normal(0, np.sqrt(1.09), 4000)        # (same marginal)
        >>> path = greedy(dict(zip("xbc", a.T)), dict(zip("xbc", b.T)), steps=2)
        >>> sorted(f for f, _ in path), round(path[-1][1], 1)  # the pair b, c, far above either alone
        (['b', 'c'], 0.9)
    """
    pool = [k for k in ref if k in flash]
    chosen: list[tuple[str, float]] = []
    for _ in tqdm(range(min(steps, len(pool))), desc="fields", unit="field", disable=not progress):
        names = [f for f, _ in chosen]
        best = None
        for k in pool:
            if k in names:
                continue
            auc = auc_of(flash, ref, [*names, k], seed)
            if best is None or auc > best[1]:
                best = (k, auc)
        chosen.append(best)
    return chosen


def drop_one(flash: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], seed: int = 0,
             progress: bool = False) -> tuple[float, list[tuple[str, float]]]:
    """The AUC with every field, and ``[(field, AUC without it), ...]`` from the lowest.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
        >>> b[:, 2] = b[:, 1] + 0.3 * rng.normal(size=4000)  # as in greedy's example: c follows b in FullSim only
        >>> a[:, 2] = rng.normal(0, np.sqrt(1.09), 4000)
        >>> every, without = drop_one(dict(zip("xbc", a.T)), dict(zip("xbc", b.T)))
        >>> round(every, 1), sorted(f for f, _ in without[:2]), round(without[-1][1], 1)  # x alone: no help
        (0.9, ['b', 'c'], 0.9)
    """
    pool = [k for k in ref if k in flash]
    every = auc_of(flash, ref, pool, seed)
    rows = [(k, auc_of(flash, ref, [c for c in pool if c != k], seed))
            for k in tqdm(pool, desc="fields", unit="field", disable=not progress)]
    return every, sorted(rows, key=lambda r: r[1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collection", required=True, help="reco collection (Muon, Electron, Jet, ...), or Event")
    ap.add_argument("--data", nargs="+", required=True, help="FullSim NanoAOD files")
    ap.add_argument("--models", default=None, help="models directory (default: the shipped models)")
    ap.add_argument("--fields", choices=("all", "learnt"), default="all", help="every field, or the flow targets only")
    ap.add_argument("--genuine", action="store_true", help="only objects linked to a gen candidate")
    ap.add_argument("--steps", type=int, default=6, help="fields to add (default 6)")
    ap.add_argument("--seed", type=int, default=1, help="simulation seed (the classifier's is 0)")
    ap.add_argument("--drop-one", action="store_true", help="every field, then every field but one, instead")
    ap.add_argument("--exclude", nargs="+", default=[], metavar="FIELD", help="fields left out of every classifier")
    args = ap.parse_args(argv)

    from flashsim_coffea.sim.cards import DEFAULT_MODELS
    from flashsim_coffea.sim.engine import FlashSim
    from flashsim_coffea.train import extract
    from flashsim_coffea.validate import fields
    from flashsim_coffea.validate.report import flash_like_fullsim

    sim = FlashSim.load(args.models or DEFAULT_MODELS)
    event = args.collection == fields.EVENT
    models = [m for m in sim.models.values() if (m.source.collection or fields.EVENT) == args.collection]
    if not models:
        raise SystemExit(f"field_greedy: no source of collection {args.collection!r} (have {sim.collections})")
    data = extract.read(args.data)
    flash = flash_like_fullsim(data, sim, args.seed)
    side = {}
    for name, ev in (("fullsim", data), ("flash", flash)):
        if event:  # the event-level fields; the trigger and filter bits aside (derived from the objects)
            per_file = [fields.event_branches(p) for p in args.data] if name == "fullsim" else [fields.event_columns(ev)]
            cols = {k: np.concatenate([c[k] for c in per_file]) for k in per_file[0]
                    if not k.startswith(fields.TRIGGER_PREFIXES)}
        else:
            cols = fields.objects(ev, args.collection, **fields.threshold(models), simulated=sim.collections)
        cols = fields.encode(cols)
        if args.genuine:
            link = next((k for k in cols if k.startswith("gen") and k.endswith("Idx")), None)
            if link is None:
                raise SystemExit(f"field_greedy: {args.collection} has no gen link for --genuine")
            cols = {k: v[cols[link] >= 0] for k, v in cols.items()}
        if args.fields == "learnt":
            kinds = fields.kinds(m.source for m in models)
            cols = {k: v for k, v in cols.items() if "learnt" in kinds.get(k, "")}
        side[name] = {k: v for k, v in cols.items() if k not in args.exclude}
    n = {k: len(next(iter(v.values()))) for k, v in side.items()}
    print(f"{args.collection}: {n['fullsim']} FullSim and {n['flash']} flash objects, {len(side['fullsim'])} fields")
    if args.drop_one:
        every, without = drop_one(side["flash"], side["fullsim"], progress=True)
        print(f"  every field          AUC {every:.3f}")
        for field, auc in without[:args.steps]:
            print(f"  - {field:<28} AUC {auc:.3f} ({auc - every:+.3f})")
        return
    for i, (field, auc) in enumerate(greedy(side["flash"], side["fullsim"], args.steps, progress=True)):
        print(f"  {i + 1}. + {field:<28} AUC {auc:.3f}")


if __name__ == "__main__":
    main()
