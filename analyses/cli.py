"""The command line of an analysis: :func:`parser` (the options) and :func:`main` (train, run, write outputs).

``python analyses/zh_llbb.py --fullsim --flash --oversample 4`` calls ``main(ZHllbb)``: it
optionally (re)trains the DNN (:func:`analyses.training.train_dnn`), builds the fileset (JSON or
the embedded reference samples, :mod:`analyses.running`), runs FullSim and/or FlashSim and
writes plots, yields and the comparison summary (:func:`analyses.outputs.write_outputs`).

Example:
    >>> args = parser("demo").parse_args(["--flash", "--oversample", "4"])
    >>> args.flash, args.fullsim, args.oversample, args.executor, args.lumi
    (True, False, 4, 'iterative', 300.0)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from analyses.analysis import Analysis
from analyses.outputs import write_outputs
from analyses.running import complete_metadata, flash_processor, load_fileset, reference_fileset, run
from analyses.selection import DEFAULT_LUMI_FB
from analyses.training import train_dnn

#: events per embedded reference sample when --events is not given.
DEFAULT_EVENTS = 2000


def parser(description: str) -> argparse.ArgumentParser:
    """The options of an analysis run (``--flash``, ``--fullsim``, ``--oversample K``, ``--executor``, ...)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--flash", action="store_true", help="run FlashSim on the gen collections")
    p.add_argument("--fullsim", action="store_true", help="run on the reco (FullSim) collections")
    p.add_argument("--fileset", help="JSON fileset {dataset: {files, metadata}}; default: embedded reference samples")
    p.add_argument("--oversample", type=int, default=1, metavar="K", help="flash replicas per gen event")
    p.add_argument("--executor", default="iterative", choices=["iterative", "futures", "dask", "dask-awkward"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--events", type=int, default=None,
                   help=f"events per reference sample (default {DEFAULT_EVENTS}), or at most this many per fileset dataset")
    p.add_argument("--chunksize", type=int, default=50_000)
    p.add_argument("--out", default=None, help="output directory (default: out/<analysis>)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lumi", type=float, default=DEFAULT_LUMI_FB, help="integrated luminosity in fb^-1")
    p.add_argument("--models", default=None, help="FlashSim models directory")
    p.add_argument("--train-dnn", action="store_true", help="(re)train the DNN on reference samples, then run")
    return p


def main(make: Callable[..., Analysis], argv: list[str] | None = None) -> dict:
    """The CLI of one analysis: train (optional), run FullSim and/or flash, write outputs."""
    probe = make()
    args = parser(f"{probe.name}: FlashSim vs reference-detector analysis").parse_args(argv)
    if not (args.flash or args.fullsim):
        args.flash = args.fullsim = True
    analysis = make(lumi_fb=args.lumi)
    if args.train_dnn:
        train_dnn(analysis, args.events or 5000, args.seed, load_fileset(args.fileset) if args.fileset else None)
    if args.fileset:
        fileset = complete_metadata(load_fileset(args.fileset), args.events)
        signal = [ds for ds, s in fileset.items() if s["metadata"].get("process", ds) == analysis.signal]
    else:
        fileset = complete_metadata(reference_fileset(analysis.signal, args.events or DEFAULT_EVENTS, args.seed))
        signal = [analysis.signal]
    out_dir = Path(args.out or Path("out") / analysis.name)
    results: dict[str, dict] = {}
    if args.fullsim:
        start = time.perf_counter()
        print(f"[fullsim] {', '.join(fileset)} with {args.executor}", flush=True)
        results["fullsim"] = run(fileset, analysis, args.executor, args.workers, args.chunksize,
                                 args.events if args.fileset else None)
        print(f"[fullsim] done in {time.perf_counter() - start:.1f} s", flush=True)
    if args.flash:
        proc = flash_processor(analysis, args.oversample, args.seed, args.models)
        if proc is not None:
            start = time.perf_counter()
            print(f"[flash] K={args.oversample} seed={args.seed} with {args.executor}", flush=True)
            results["flash"] = run(fileset, proc, args.executor, args.workers, args.chunksize,
                                   args.events if args.fileset else None)
            print(f"[flash] done in {time.perf_counter() - start:.1f} s", flush=True)
    groups = {"signal": signal, "background": [ds for ds in fileset if ds not in signal]}
    summary = write_outputs(results, groups, out_dir, analysis.name, lumi_fb=args.lumi)
    print(f"[out] {out_dir}", flush=True)
    return summary
