"""Flavour of the jets without a GenJet, flash against FullSim on the same gen events.

Usage: python benchmarks/flavour_counts.py --data zh_llbb_a.root zh_llbb_b.root [--models DIR] \
    [--replicas 4] [--events N] [--seed 1] [--pt-min 15] [--out flavour_counts.json]

FullSim gives most reconstructed jets without a matched GenJet (pileup and split jets) a
parton or hadron flavour from the ghost-associated partons and hadrons; flash must give them
the same distribution. For the jets with ``genJetIdx < 0`` above ``--pt-min`` the script counts
them per ``|partonFlavour|`` class (0, light quark 1-3, c 4, b 5, gluon 21) and per
``hadronFlavour`` (0, 4, 5), and per |η| region (the barrel, the tracker's endcap, the endcap beyond
the tracker and the forward calorimeter: where pileup jets sit), per FullSim event and, for flash,
per gen event averaged over its ``--replicas`` replicas. Errors: Poisson on FullSim; on flash the spread of the per-gen-event
counts (the replicas of one gen event summed before squaring, as ``fill_oversampled`` does).
Prints a table with the pull of each class and writes the JSON.

Example (issue 22's check, 20k zh_llbb events):
    python benchmarks/flavour_counts.py --data zh_llbb_a.root zh_llbb_b.root --replicas 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from flashsim_coffea.nanoaod import genevents
from flashsim_coffea.sim.cards import DEFAULT_MODELS
from flashsim_coffea.sim.engine import FlashSim

#: class name -> (field, the |values| it holds)
CLASSES = {
    "parton 0": ("partonFlavour", (0,)), "parton uds": ("partonFlavour", (1, 2, 3)),
    "parton c": ("partonFlavour", (4,)), "parton b": ("partonFlavour", (5,)), "parton g": ("partonFlavour", (21,)),
    "hadron 0": ("hadronFlavour", (0,)), "hadron c": ("hadronFlavour", (4,)), "hadron b": ("hadronFlavour", (5,)),
}

#: region name -> the |eta| range it holds
REGIONS = {"|eta| 0-1.3": (0.0, 1.3), "|eta| 1.3-2.5": (1.3, 2.5), "|eta| 2.5-3": (2.5, 3.0), "|eta| 3-5": (3.0, 5.0)}


def per_event_counts(jets: ak.Array, pt_min: float, by_region: bool = False) -> dict[str, np.ndarray]:
    """Per event, the jets without a GenJet above ``pt_min`` in each class of :data:`CLASSES` and region of
    :data:`REGIONS` (``by_region``: and each class inside each region, ``"parton g, |eta| 3-5"``: whether the
    flavour shares are right where the jets are, apart from how many each region has).

    Example:
        >>> jets = ak.Array([[{"pt": 30.0, "eta": 0.5, "genJetIdx": -1, "partonFlavour": -21, "hadronFlavour": 0},
        ...                   {"pt": 40.0, "eta": 0.1, "genJetIdx": 0, "partonFlavour": 5, "hadronFlavour": 5}],
        ...                  [{"pt": 20.0, "eta": -3.5, "genJetIdx": -1, "partonFlavour": 4, "hadronFlavour": 4}]])
        >>> {k: v.tolist() for k, v in per_event_counts(jets, 15.0).items() if v.any()}
        {'parton c': [0, 1], 'parton g': [1, 0], 'hadron 0': [1, 0], 'hadron c': [0, 1], '|eta| 0-1.3': [1, 0], \
'|eta| 3-5': [0, 1]}
    """
    free = jets[(jets.genJetIdx < 0) & (jets.pt > pt_min)]
    out, hits = {}, {}
    for name, (field, values) in CLASSES.items():
        a = abs(free[field])
        hit = a == values[0]
        for v in values[1:]:
            hit = hit | (a == v)
        hits[name] = hit
        out[name] = ak.to_numpy(ak.sum(hit, axis=1)).astype(np.int64)
    a = abs(free.eta)
    for name, (lo, hi) in REGIONS.items():
        inside = (a >= lo) & (a < hi)
        out[name] = ak.to_numpy(ak.sum(inside, axis=1)).astype(np.int64)
        if by_region:
            for c, hit in hits.items():
                out[f"{c}, {name}"] = ak.to_numpy(ak.sum(hit & inside, axis=1)).astype(np.int64)
    return out


def compare(full: dict[str, np.ndarray], flash: dict[str, np.ndarray], replicas: int) -> list[dict]:
    """Rows per class: FullSim count ± Poisson, flash count (per gen event, summed) ± the spread of the
    per-gen-event sums, and the pull. ``flash`` counts are per gen event summed over its replicas."""
    rows = []
    for name in full:
        n_full = float(full[name].sum())
        n_flash = float(flash[name].sum()) / replicas
        e_full = np.sqrt(n_full)
        e_flash = float(np.sqrt(np.sum(flash[name].astype(np.float64) ** 2))) / replicas
        err = np.hypot(e_full, e_flash)
        rows.append({"class": name, "fullsim": n_full, "fullsim_err": e_full, "flash": n_flash, "flash_err": e_flash,
                     "pull": (n_flash - n_full) / err if err > 0 else 0.0})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="FullSim NanoAOD files (gen and reco)")
    p.add_argument("--models", default=str(DEFAULT_MODELS), help="models directory (default: the shipped set)")
    p.add_argument("--replicas", type=int, default=4, help="flash events per gen event")
    p.add_argument("--events", type=int, default=None, help="at most N events per file")
    p.add_argument("--seed", type=int, default=1, help="simulation seed")
    p.add_argument("--pt-min", type=float, default=15.0, help="jet pT threshold (GeV)")
    p.add_argument("--step", type=int, default=10000, help="events simulated at a time")
    p.add_argument("--by-region", action="store_true", help="also each class inside each |eta| region")
    p.add_argument("--out", default="flavour_counts.json", help="output JSON")
    args = p.parse_args(argv)
    sim = FlashSim.load(args.models, collections=["Jet"])
    fields = ["Jet_pt", "Jet_eta", "Jet_genJetIdx", "Jet_partonFlavour", "Jet_hadronFlavour"]
    names = [*genevents.branch_names(optional=True), "run", "luminosityBlock", "event"]
    full, flash = {}, {}
    for path in args.data:
        tree = uproot.open(path)["Events"]
        stop = min(tree.num_entries, args.events or tree.num_entries)
        for start in range(0, stop, args.step):
            arrays = tree.arrays(filter_name=[*names, *fields], entry_start=start, entry_stop=min(stop, start + args.step))
            reco = ak.zip({f[4:]: arrays[f] for f in fields})
            for k, v in per_event_counts(reco, args.pt_min, args.by_region).items():
                full.setdefault(k, []).append(v)
            gen = genevents.from_branches(arrays[[n for n in arrays.fields if n not in fields]], source=path)
            out = sim.simulate(gen, seed=args.seed, replicas=args.replicas)
            counts = per_event_counts(out.Jet, args.pt_min, args.by_region)
            gen_event = ak.to_numpy(out.FlashSim.genEventIdx)
            for k, v in counts.items():  # the replicas of one gen event summed
                flash.setdefault(k, []).append(np.bincount(gen_event, weights=v, minlength=len(gen)))
    rows = compare({k: np.concatenate(v) for k, v in full.items()}, {k: np.concatenate(v) for k, v in flash.items()},
                   args.replicas)
    n_events = int(sum(len(v) for v in full["parton 0"]))
    print(f"jets without a GenJet, pT > {args.pt_min:g} GeV, {n_events} events, flash K = {args.replicas}")
    print(f"{'class':<28} {'FullSim':>14} {'flash':>16} {'pull':>6}")
    for r in rows:
        print(f"{r['class']:<28} {r['fullsim']:>8.0f} ± {r['fullsim_err']:<4.0f} {r['flash']:>9.1f} ± "
              f"{r['flash_err']:<4.0f} {r['pull']:>6.2f}")
    Path(args.out).write_text(json.dumps({"files": [Path(x).name for x in args.data], "events": n_events,
                                          "replicas": args.replicas, "pt_min": args.pt_min, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
