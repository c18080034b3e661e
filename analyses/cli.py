"""The command line of an analysis: :func:`parser` (the options) and :func:`main` (train, run, write outputs).

``python analyses/zh_llbb.py --fullsim --flash --oversample 4`` calls ``main(ZHllbb)``: it
optionally (re)trains the DNN (:func:`analyses.training.train_dnn`), builds the fileset (JSON or
the embedded reference samples, :mod:`analyses.running`), runs FullSim and/or FlashSim and
writes plots, yields and the comparison summary (:func:`analyses.outputs.write_outputs`).

Bad input is refused before any of this, with one line on stderr naming the option, file, key or
value, and exit code 2 (:class:`Parser`, :func:`positive_int`, :func:`check_inputs`); nothing is
written then.

Example:
    >>> args = parser("demo").parse_args(["--flash", "--oversample", "4"])
    >>> args.flash, args.fullsim, args.oversample, args.executor, args.lumi
    (True, False, 4, 'iterative', 300.0)
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     try:
    ...         parser("demo").parse_args(["--events", "0"])
    ...     except SystemExit as exit:
    ...         print(exit.code)
    2
    >>> print(err.getvalue().replace(parser("demo").prog, "PROG"), end="")
    PROG: error: argument --events: must be at least 1, got '0'
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import time
from collections.abc import Callable
from pathlib import Path

from analyses.analysis import Analysis
from analyses.outputs import write_outputs
from analyses.running import (
    FilesetError,
    check_fileset,
    complete_metadata,
    flash_processor,
    load_fileset,
    reference_fileset,
    run,
)
from analyses.selection import DEFAULT_LUMI_FB
from analyses.training import train_dnn
from flashsim_coffea import cluster
from flashsim_coffea.cli import Parser, positive_int

#: events per embedded reference sample when --events is not given.
DEFAULT_EVENTS = 2000


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``--lumi``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def parser(description: str) -> argparse.ArgumentParser:
    """The options of an analysis run (``--flash``, ``--fullsim``, ``--oversample K``, ``--executor``, ...)."""
    p = Parser(description=description)
    p.add_argument("--flash", action="store_true", help="run FlashSim on the gen collections")
    p.add_argument("--fullsim", action="store_true", help="run on the reco (FullSim) collections")
    p.add_argument("--fileset", help="JSON fileset {dataset: {files, metadata}}; default: embedded reference samples")
    p.add_argument("--oversample", type=positive_int, default=1, metavar="K", help="flash replicas per gen event")
    p.add_argument("--executor", default="iterative", choices=["iterative", "futures", "dask", "dask-awkward"])
    p.add_argument("--workers", type=positive_int, default=2)
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="run on this dask scheduler (tcp://host:8786: a dask-jobqueue, dask-gateway or coffea-casa "
                        "cluster); implies --executor dask (or use dask-awkward)")
    p.add_argument("--events", type=positive_int, default=None,
                   help=f"events per reference sample (default {DEFAULT_EVENTS}), or at most this many per fileset dataset")
    p.add_argument("--chunksize", type=positive_int, default=50_000)
    p.add_argument("--out", default=None, help="output directory (default: out/<analysis>)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lumi", type=positive_float, default=DEFAULT_LUMI_FB, help="integrated luminosity in fb^-1")
    p.add_argument("--models", default=None, help="FlashSim models directory")
    p.add_argument("--train-dnn", action="store_true", help="(re)train the DNN on reference samples, then run")
    return p


#: the module each executor needs beyond coffea's processor.
EXECUTOR_NEEDS = {"dask": "distributed", "dask-awkward": "dask_awkward"}


def check_inputs(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict | None:
    """Refuse bad input with ``p.error`` (one line, exit 2) before any work: the executor's
    package, ``--models``, ``--out`` and the ``--fileset`` (its JSON and every file, with the
    branches the requested passes read, :func:`analyses.running.check_fileset`).
    Returns the loaded fileset with its files' metadata (``None`` without ``--fileset``)."""
    if args.scheduler is not None:
        if args.executor == "iterative":
            args.executor = "dask"
        elif args.executor not in ("dask", "dask-awkward"):
            p.error(f"argument --scheduler: runs the dask or dask-awkward executor, not {args.executor}")
        if "://" not in args.scheduler:
            p.error(f"argument --scheduler: {args.scheduler!r} is not a scheduler address (tcp://host:port)")
    need = EXECUTOR_NEEDS.get(args.executor)
    if need and importlib.util.find_spec(need) is None:
        p.error(f"argument --executor: {args.executor} needs the {need} package (pip install 'coffea[{args.executor}]')")
    if args.flash and args.models is not None and not Path(args.models).is_dir():
        p.error(f"argument --models: no such directory: {args.models}")
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"argument --out: {args.out} exists and is not a directory")
    if args.fileset is None:
        return None
    try:
        fileset = check_fileset(load_fileset(args.fileset), fullsim=args.fullsim or args.train_dnn, flash=args.flash)
    except FilesetError as err:
        p.error(f"argument --fileset: {err}")
    return fileset


def main(make: Callable[..., Analysis], argv: list[str] | None = None) -> dict:
    """The CLI of one analysis: check the input, train (optional), run FullSim and/or flash, write outputs."""
    probe = make()
    p = parser(f"{probe.name}: FlashSim vs reference-detector analysis")
    args = p.parse_args(argv)
    if not (args.flash or args.fullsim):
        args.flash = args.fullsim = True
    user_fileset = check_inputs(p, args)
    analysis = make(lumi_fb=args.lumi)
    if args.train_dnn:
        train_dnn(analysis, args.events or 5000, args.seed, user_fileset)
    if user_fileset is not None:
        fileset = complete_metadata(user_fileset, args.events)
        signal = [ds for ds, s in fileset.items() if s["metadata"].get("process", ds) == analysis.signal]
    else:
        fileset = complete_metadata(reference_fileset(analysis.signal, args.events or DEFAULT_EVENTS, args.seed))
        signal = [analysis.signal]
    out_dir = Path(args.out or Path("out") / analysis.name)
    results: dict[str, dict] = {}
    on_cluster = args.executor == "dask" or args.scheduler is not None
    with cluster.client(args.workers, args.scheduler) if on_cluster else contextlib.nullcontext() as client:
        where = args.executor + (f" on {args.scheduler}" if args.scheduler else "")
        if args.fullsim:
            start = time.perf_counter()
            print(f"[fullsim] {', '.join(fileset)} with {where}", flush=True)
            results["fullsim"] = run(fileset, analysis, args.executor, args.workers, args.chunksize,
                                     args.events if args.fileset else None, client)
            print(f"[fullsim] done in {time.perf_counter() - start:.1f} s", flush=True)
        if args.flash:
            proc = flash_processor(analysis, args.oversample, args.seed, args.models)
            if proc is not None:
                start = time.perf_counter()
                print(f"[flash] K={args.oversample} seed={args.seed} with {where}", flush=True)
                results["flash"] = run(fileset, proc, args.executor, args.workers, args.chunksize,
                                       args.events if args.fileset else None, client)
                print(f"[flash] done in {time.perf_counter() - start:.1f} s", flush=True)
    groups = {"signal": signal, "background": [ds for ds in fileset if ds not in signal]}
    summary = write_outputs(results, groups, out_dir, analysis.name, lumi_fb=args.lumi)
    print(f"[out] {out_dir}", flush=True)
    return summary
