"""Signal-region statistics of a background sample per CPU hour: which generator setup fills a signal region.

Runs an analysis (FullSim, the reference detector's collections) over one or more samples made by
``flashsim generate`` and prints, per sample: events kept and tried (generator-level filter), raw
FullSim events in each cutflow region, their weighted yield at the given luminosity with its error,
the effective number of events in the signal region ((Σw)² / Σw²: what weighted, biased samples
are worth), and with ``--cpu-seconds`` (the generation's CPU time, e.g. ``/usr/bin/time``'s user +
system) raw and effective signal-region events per CPU hour. Issue 24 sizes the production from
these figures: ≥ 500 raw FullSim events of each background in its signal region.

Usage::

    /usr/bin/time -f %U,%S flashsim generate --process dy_mumu_jet_zh --events 2000 --seed 41 --out zj.root
    python benchmarks/background_yield.py --analysis zh_llbb --data zj.root --cpu-seconds 310

Example (the arithmetic, on two weighted events):
    >>> effective_events(np.array([1.0, 3.0]), np.array([1.0, 9.0]))
    1.6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def effective_events(sumw: np.ndarray, sumw2: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw² of the summed bins ``sumw``, ``sumw2``."""
    s, s2 = float(np.sum(sumw)), float(np.sum(sumw2))
    return s * s / s2 if s2 > 0 else 0.0


def yields(analysis: str, files: list[str], lumi: float) -> dict:
    """Per file: metadata, raw and weighted cutflow of the FullSim analysis, SR effective events."""
    from analyses.running import complete_metadata, file_metadata, run
    from analyses.vbf_hmumu import VBFHmumu
    from analyses.zh_llbb import ZHllbb

    cls = {"zh_llbb": ZHllbb, "vbf_hmumu": VBFHmumu}[analysis]
    out = {}
    for f in files:
        ds, md = Path(f).stem, file_metadata(f)
        fs = complete_metadata({ds: {"files": {f: "Events"}, "file_metadata": {f: md}}})
        res = run(fs, cls(lumi_fb=lumi), "iterative")[ds]
        raw, cf = res["cutflow_raw"], res["cutflow"]
        regions = list(raw.axes[0])
        out[ds] = {"process": md.get("process"), "kept": md["entries"], "tried": md.get("events_tried", md["entries"]),
                   "raw": dict(zip(regions, raw.values().tolist())),
                   "yield": dict(zip(regions, cf.values().tolist())),
                   "yield_err": dict(zip(regions, np.sqrt(cf.variances()).tolist())),
                   "sr_effective": effective_events(cf.values()[-1:], cf.variances()[-1:])}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--analysis", choices=["zh_llbb", "vbf_hmumu"], required=True)
    ap.add_argument("--data", nargs="+", required=True, help="samples made by flashsim generate (one dataset each)")
    ap.add_argument("--cpu-seconds", nargs="+", type=float, help="generation CPU seconds, one per --data file")
    ap.add_argument("--lumi", type=float, default=300.0, help="integrated luminosity in fb^-1 (default 300)")
    args = ap.parse_args(argv)
    if args.cpu_seconds and len(args.cpu_seconds) != len(args.data):
        ap.error("--cpu-seconds takes one value per --data file")
    res = yields(args.analysis, args.data, args.lumi)
    for k, (ds, r) in enumerate(res.items()):
        sr = list(r["raw"])[-1]
        print(f"{ds} ({r['process']}): kept {r['kept']} of {r['tried']:.0f} tried")
        for reg in r["raw"]:
            print(f"  {reg:>8}: raw {r['raw'][reg]:8.0f}   yield {r['yield'][reg]:10.2f} ± {r['yield_err'][reg]:.2f}")
        line = f"  signal region: raw {r['raw'][sr]:.0f}, effective {r['sr_effective']:.1f}"
        if args.cpu_seconds:
            h = args.cpu_seconds[k] / 3600
            line += (f"; per CPU hour: raw {r['raw'][sr] / h:.0f}, effective {r['sr_effective'] / h:.0f} "
                     f"({args.cpu_seconds[k] / r['kept'] * 1000:.0f} ms CPU per kept event)")
        print(line)


if __name__ == "__main__":
    main()
