"""Cross-section of a process inside a generator-level signal region: what normalises a biased sample.

Runs Pythia on ``--process``'s settings without its generator filter (hadron level, no detector),
in blocks of ``--block`` events (block b has seed ``--seed`` x 1000 + b) on a local dask cluster of
``--workers`` processes, and counts the weighted events inside ``filters.in_signal_region(event,
--region)``. Prints Pythia's cross-section, the fraction in the region and their product with its
statistical error. The Z+jet samples (``dy_mumu_jet_zh``, ``dy_mumu_jet_vbf``) take inclusive
Drell-Yan's figure (``dy_mumu_zh`` / ``dy_mumu_vbf`` settings) as their reference in
:data:`flashsim_coffea.reference.processes.NORMALISATION`.

Usage::

    python benchmarks/fiducial_xsec.py --process dy_mumu_zh --region zh --events 40000 --workers 2

Example (the arithmetic: 3 of 4 unit-weight events of a 10 pb process inside):
    >>> r = combine([{"sigma_pb": 10.0, "sigma_err_pb": 0.0, "sumw": 4.0, "sumw2": 4.0, "sumw_in": 3.0,
    ...               "sumw2_in": 3.0, "n": 4}])
    >>> r["sigma_fid_pb"], round(r["fraction_err"], 4)
    (7.5, 0.2165)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def block(process: str, region: str, seed: int, events: int) -> dict:
    """Pythia's cross-section and the weighted counts, all and inside ``region``, of one block."""
    from flashsim_coffea.reference import filters
    from flashsim_coffea.reference.pythia import start

    pythia = start(process, seed)
    sumw = sumw2 = sumw_in = sumw2_in = 0.0
    n = 0
    while n < events:
        if not pythia.next():
            continue
        w = pythia.infoPython().weight()
        n += 1
        sumw, sumw2 = sumw + w, sumw2 + w * w
        if filters.in_signal_region(pythia.event, region):
            sumw_in, sumw2_in = sumw_in + w, sumw2_in + w * w
    info = pythia.infoPython()
    return {"sigma_pb": info.sigmaGen() * 1e9, "sigma_err_pb": info.sigmaErr() * 1e9, "sumw": sumw, "sumw2": sumw2,
            "sumw_in": sumw_in, "sumw2_in": sumw2_in, "n": n}


def combine(blocks: list[dict]) -> dict:
    """The blocks' cross-section (mean of Pythia's, weighted by events), the fraction of the weight inside
    the region with its error (``generate._ratio_err``: binomial for unit weights) and their product."""
    from flashsim_coffea.reference.generate import _ratio_err

    n = np.array([b["n"] for b in blocks], np.float64)
    sigma = float(np.sum(n * [b["sigma_pb"] for b in blocks]) / n.sum())
    sigma_err = float(np.sqrt(np.sum((n * [b["sigma_err_pb"] for b in blocks]) ** 2)) / n.sum())
    s = {k: float(sum(b[k] for b in blocks)) for k in ("sumw", "sumw2", "sumw_in", "sumw2_in")}
    frac, frac_err = _ratio_err(s["sumw_in"], s["sumw2_in"], s["sumw2_in"], s["sumw"], s["sumw2"])
    fid = sigma * frac
    err = fid * float(np.hypot(sigma_err / sigma, frac_err / frac)) if frac > 0 else 0.0
    return {"sigma_pb": sigma, "events": int(n.sum()), "fraction": frac, "fraction_err": frac_err,
            "sigma_fid_pb": fid, "sigma_fid_err_pb": err}


def main(argv: list[str] | None = None) -> None:
    from tqdm import tqdm

    from flashsim_coffea import cluster
    from flashsim_coffea.reference.filters import SIGNAL_REGIONS
    from flashsim_coffea.reference.processes import PROCESSES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--process", choices=sorted(PROCESSES), required=True)
    ap.add_argument("--region", choices=sorted(SIGNAL_REGIONS), required=True)
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument("--block", type=int, default=2000, help="events per task (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    sizes = [min(args.block, args.events - s) for s in range(0, args.events, args.block)]
    with cluster.executor(args.workers) as ex:
        if ex is None:
            res = [block(args.process, args.region, args.seed * 1000 + b, n) for b, n in enumerate(tqdm(sizes))]
        else:
            futs = [ex.submit(block, args.process, args.region, args.seed * 1000 + b, n) for b, n in enumerate(sizes)]
            res = [f.result() for f in tqdm(futs)]
    r = combine(res)
    print(f"{args.process}: sigma {r['sigma_pb']:.4g} pb, {r['events']} events, fraction in the {args.region} signal "
          f"region {r['fraction']:.5f} +- {r['fraction_err']:.5f}: sigma_fid = {r['sigma_fid_pb']:.4g} +- "
          f"{r['sigma_fid_err_pb']:.2g} pb")


if __name__ == "__main__":
    main()
