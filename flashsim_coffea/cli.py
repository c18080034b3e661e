"""The ``flashsim`` command.

Subcommands:
    generate   make a reference sample (Pythia 8 + reference detector) as NanoAOD
    simulate   flash NanoAOD files from gen-level NanoAOD (K flash events per gen event)
    catalog    the sample catalogue of every generate/simulate output (list, show, verify, fileset)
    extract    training tables of every source from FullSim NanoAOD, streamed chunk by chunk (Parquet)
    train      train the models of one source from FullSim NanoAOD
    train-all  train every source
    validate   compare flash with FullSim (efficiency, W1/σ, KS, classifier AUC; JSON + plots)
    bench      events/s of the full engine per ODE step count, and the FLOP floor
    tune       a resumable Optuna hyper-parameter search of one source (fidelity vs cost), trials on dask

Every subcommand has ``--help``. Bad arguments give a one-line error and exit code 2.

Building the parser imports no heavy module (torch, awkward, uproot, coffea, dask): each subcommand
imports what it needs when it runs, so ``flashsim --help`` and ``flashsim <sub> --help`` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from flashsim_coffea.reference import PILEUP_MU


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr, ``prog: error: message``, exit code 2 (no usage block)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}\n")


def _bench_steps(text: str) -> int | str:
    """argparse type of ``flashsim bench --steps``: ``index`` or an integer >= 1."""
    return text if text == "index" else positive_int(text)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--events``, ``--workers``, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _first_event(text: str) -> int:
    """argparse type of ``flashsim generate --first-event``: a multiple of the block size >= 0."""
    from flashsim_coffea.reference.generate import BLOCK

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0 or value % BLOCK:
        raise argparse.ArgumentTypeError(f"must be a multiple of {BLOCK} (the block size) and >= 0, got {text!r}")
    return value


def _writable_file(text: str) -> str:
    directory = os.path.dirname(os.path.abspath(text)) or "."
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"directory does not exist: {directory}")
    try:  # root passes os.access everywhere: probe for real
        import tempfile

        with tempfile.NamedTemporaryFile(dir=directory, prefix=".flashsim-probe-"):
            pass
    except OSError as err:
        raise argparse.ArgumentTypeError(f"directory is not writable: {directory} ({err.strerror})") from None
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"is a directory: {text}")
    if os.path.exists(text) and not os.access(text, os.W_OK):
        raise argparse.ArgumentTypeError(f"file is not writable: {text}")
    return text




def _add_generate(sub) -> None:
    from flashsim_coffea.reference.processes import PROCESSES

    p = sub.add_parser(
        "generate",
        help="make a reference sample (Pythia 8 + reference detector) as NanoAOD",
        description="Generate Pythia 8 events (13.6 TeV, CP5 tune), pass them through the parametric "
        "CMS-like reference detector, and write gen and reco collections as NanoAOD v12 (ROOT, TTree Events).",
    )
    p.add_argument("--process", required=True, choices=sorted(PROCESSES), help="physics process")
    p.add_argument("--events", required=True, type=positive_int, help="number of events")
    p.add_argument("--seed", required=True, type=positive_int, help="random seed (same seed: identical file)")
    p.add_argument("--out", required=True, type=_writable_file, help="output ROOT file")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="blocks of 200 events run on a local dask cluster of N processes (default 1: this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="run the blocks on this dask scheduler (tcp://...) instead of local processes")
    p.add_argument(
        "--pileup", type=_nonnegative_float, default=PILEUP_MU, help=f"mean pileup (default {PILEUP_MU:g})"
    )
    p.add_argument("--first-event", type=_first_event, default=0, metavar="N",
                   help="write events N .. N+EVENTS-1 of the sample (a multiple of 200): one part of a sample "
                   "written as several files; the parts together equal the single file (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> int:
    from flashsim_coffea.cluster import executor
    from flashsim_coffea.reference.generate import generate

    with executor(args.workers, args.scheduler) as ex:
        meta = generate(args.process, args.events, args.seed, args.out, executor=ex, pileup_mu=args.pileup,
                        first_event=args.first_event, progress=not args.no_progress)
    _catalogue(args.out, meta, "generate")
    print(
        f"wrote {args.out}: {meta['events']} {meta['process']} events, "
        f"xsec {meta['xsec_pb']:.4g} pb, {meta['events_per_second']:.1f} events/s "
        f"with {args.workers} worker(s)"
    )
    return 0


def _catalogue(out: str, meta: dict, kind: str) -> None:
    """Record an output file in the sample catalogue (:mod:`flashsim_coffea.catalog`) with this command line."""
    import shlex

    from flashsim_coffea import catalog

    catalog.record(out, meta, kind=kind, command=shlex.join(["flashsim", *sys.argv[1:]]))


def _add_simulate(sub) -> None:
    from flashsim_coffea.sim.cards import DEFAULT_MODELS

    p = sub.add_parser("simulate", help="flash NanoAOD files from gen-level NanoAOD",
                       description="Simulate gen-level NanoAOD files (reference or real CMS) K times per event and "
                       "write NanoAOD: the gen collections (replicated), the flash reco collections, "
                       "FlashSim_genEventIdx/replica and a Runs tree with the oversampled counts; streamed chunk by "
                       "chunk, written under a temporary name and renamed when complete; recorded in the catalogue.")
    p.add_argument("--in", dest="inputs", required=True, nargs="+", metavar="GEN.root", help="gen-level NanoAOD files")
    p.add_argument("--out", required=True, type=_writable_file, help="output ROOT file")
    p.add_argument("--replicas", type=positive_int, default=1, help="flash events per gen event (default 1)")
    p.add_argument("--models", type=_models_dir, default=str(DEFAULT_MODELS), help="models directory")
    p.add_argument("--seed", type=positive_int, default=1, help="simulation seed (default 1)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                   help="arithmetic of the flows: bfloat16 is 2-3x faster where the CPU has native bfloat16 "
                   "(auto: there only; default: the models index's, else auto)")
    p.add_argument("--chunksize", type=positive_int, default=None, help="gen events per chunk (default 10000)")
    p.add_argument("--workers", type=positive_int, default=1, help="chunks run on a local dask cluster of N processes")
    p.add_argument("--scheduler", default=None, metavar="ADDR", help="run the chunks on this dask scheduler")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_simulate)


def _run_simulate(args) -> int:
    import signal

    from flashsim_coffea import simulate as sim
    from flashsim_coffea.cluster import executor
    from flashsim_coffea.nanoaod.genevents import GenInputError

    try:
        sim.check_inputs(args.inputs)  # before any work: a bad input ends here, nothing written
    except sim.SimulateInputError as err:
        sys.stderr.write(f"flashsim simulate: error: {err}\n")
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run removes its temporary file
    try:
        with executor(args.workers, args.scheduler) as ex:
            meta = sim.simulate(args.inputs, args.out, replicas=args.replicas, models_dir=args.models,
                                seed=args.seed, step=args.chunksize or sim.STEP, executor=ex,
                                ahead=2 * args.workers, progress=not args.no_progress, precision=args.precision)
    except (sim.SimulateInputError, GenInputError) as err:
        sys.stderr.write(f"flashsim simulate: error: {' '.join(str(err).split())}\n")
        return 2
    _catalogue(args.out, meta, "simulate")
    print(f"wrote {args.out}: {meta['flash_events']} flash events ({meta['events']} gen events x {args.replicas})")
    return 0


def _add_catalog(sub) -> None:
    p = sub.add_parser("catalog", help="the sample catalogue (every generate and simulate output)",
                       description="The SQLite catalogue of produced files ($FLASHSIM_CATALOG, default "
                       "~/.flashsim/catalog.sqlite).")
    p.add_argument("action", choices=("list", "show", "verify", "fileset"),
                   help="list: one line per file; show ID|PATH: every field; verify: re-hash the files "
                   "(exit 1 if one is modified or missing); fileset: the analyses' fileset JSON")
    p.add_argument("key", nargs="?", default=None, help="show: a row id or file path")
    p.add_argument("--process", default=None, help="list/fileset: only this process")
    p.add_argument("--kind", choices=("generate", "simulate"), default=None, help="list/fileset: only this kind")
    p.add_argument("--out", default=None, help="fileset: write the JSON here (default stdout)")
    p.set_defaults(func=_run_catalog)


def _run_catalog(args) -> int:
    import json

    from flashsim_coffea import catalog

    if args.action == "list":
        for r in catalog.rows(process=args.process, kind=args.kind):
            print(f"{r['id']:>4} {r['kind']:<8} {str(r['process']):<12} {r['events'] or 0:>8} ev "
                  f"seed {r['seed']} {r['sha256'][:12]} {r['created']} {r['path']}")
        return 0
    if args.action == "show":
        r = catalog.find(args.key or "")
        if r is None:
            sys.stderr.write(f"flashsim catalog: error: no catalogued file {args.key!r} in {catalog.default_path()}\n")
            return 2
        print("\n".join(f"{k:>16}: {v}" for k, v in r.items()))
        return 0
    if args.action == "verify":
        bad = 0
        for r in catalog.verify():
            bad += r["status"] != "ok"
            print(f"{r['status']:<8} {r['id']:>4} {r['path']}")
        return 1 if bad else 0
    fs = catalog.fileset(kind=args.kind)
    if args.process:
        fs = {k: v for k, v in fs.items() if v["metadata"]["process"] == args.process}
    text = json.dumps(fs, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


def _models_dir(text: str) -> str:
    from flashsim_coffea.sim import cards

    if not cards.is_models_dir(text):
        raise argparse.ArgumentTypeError(f"not a models directory (no {cards.INDEX}): {text}")
    return text


def _collection(src) -> str:
    """The collection name of a source on the command line (``Event`` for MET, PV, rho)."""
    return src.collection or "Event"


def _known_sources(sources: dict) -> str:
    """``Jet: genjet, pileup; Muon: ...``: the --collection/--source pairs."""
    by_coll: dict[str, list[str]] = {}
    for src in sources.values():
        by_coll.setdefault(_collection(src), []).append(src.name)
    return "; ".join(f"{c}: {', '.join(names)}" for c, names in by_coll.items())


def _add_train(sub) -> None:
    from flashsim_coffea.specs import all_sources

    known = _known_sources(all_sources())
    for name in ("train", "train-all"):
        one = name == "train"
        p = sub.add_parser(
            name,
            help="train the models of one source" if one else "train the models of every source",
            description="Train efficiency (or count) and flow models from FullSim NanoAOD (reference or real CMS): "
            "safetensors weights and a card per model in OUT/<Collection>_<source>/.",
        )
        if one:
            p.add_argument("--collection", required=True, help="reco collection (Jet, Muon, ...; Event for MET/PV/rho)")
            p.add_argument("--source", required=True, help=f"source name within the collection; known: {known}")
        else:
            p.add_argument("--collections", nargs="+", default=None, metavar="C",
                           help="train only the sources of these collections (Event: MET, PV, rho; default: every source)")
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--data", nargs="+", type=_existing_file,
                         help="FullSim NanoAOD files (extracted first, into --tables or a temporary folder)")
        src.add_argument("--tables", dest="tables_in", default=None,
                         help="a tables folder made by `flashsim extract` (no extraction)")
        p.add_argument("--tables-out", default=None, help="with --data: keep the extracted tables in this folder")
        p.add_argument("--workers", type=positive_int, default=1, help="with --data: extraction worker processes")
        p.add_argument("--out", required=True, help="models directory")
        p.add_argument("--seed", type=positive_int, default=1, help="training seed (default 1)")
        p.add_argument("--epochs", type=positive_int, default=40, help="maximum flow epochs (default 40)")
        p.add_argument("--min-steps", type=positive_int, default=None,
                       help="gradient steps every flow gets at least (default 90000; a source's tuned config "
                       "sets its own)")
        p.add_argument("--events", type=positive_int, default=None, help="with --data: at most N events per file")
        p.add_argument("--skip-sparse", action="store_true", help="skip sources with too few examples")
        p.add_argument("--checkpoint", default=None, metavar="DIR",
                       help="keep each model's training state in DIR (every 5 minutes): a run killed part way and "
                       "started again with the same arguments resumes there and writes the same models")
        p.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                       help="the flows' training arithmetic: bfloat16 autocast (mixed precision) or float32 "
                       "(default float32; auto: bfloat16 where the CPU or GPU has it natively)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.set_defaults(func=_run_train, one=one)


def _run_train(args) -> int:
    from flashsim_coffea.train.sources import train_all

    keys = None
    if args.one:
        keys = [f"{args.collection}_{args.source}"]
        from flashsim_coffea.specs import all_sources

        if keys[0] not in all_sources():
            sys.stderr.write(f"flashsim train: error: unknown source {args.source!r} of collection "
                             f"{args.collection!r} (known: {_known_sources(all_sources())})\n")
            return 2
    elif args.collections:
        from flashsim_coffea.specs import all_sources

        sources = all_sources()
        known = sorted({_collection(src) for src in sources.values()})
        unknown = [c for c in args.collections if c not in known]
        if unknown:
            sys.stderr.write(f"flashsim train-all: error: unknown collection(s) {unknown} (known: {', '.join(known)})\n")
            return 2
        keys = [k for k, src in sources.items() if _collection(src) in args.collections]
    import tempfile

    from flashsim_coffea.cluster import executor
    from flashsim_coffea.train import store

    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flashsim-tables-") as scratch:
        tables = args.tables_in
        if tables is None:
            tables = args.tables_out or scratch
            with executor(args.workers) as ex:
                store.extract(args.data, tables, events=args.events, keys=keys, executor=ex,
                              progress=not args.no_progress)
        train_all(tables, args.out, args.seed, keys=keys, epochs=args.epochs, progress=not args.no_progress,
                  skip_sparse=args.skip_sparse, checkpoint=args.checkpoint,
                  **({} if args.min_steps is None else {"min_steps": args.min_steps}),
                  **({} if args.precision is None else {"precision": args.precision}))
    print(f"models written to {args.out}")
    return 0


def _add_extract(sub) -> None:
    from flashsim_coffea.specs import all_sources

    p = sub.add_parser("extract", help="training tables of every source from FullSim NanoAOD (Parquet)",
                       description="One streamed pass over FullSim NanoAOD files (reference or real CMS), chunk by "
                       "chunk: the training tables of every source as Parquet files in OUT (resumable: finished "
                       "chunks are not redone).")
    p.add_argument("--data", required=True, nargs="+", type=_existing_file, help="FullSim NanoAOD files")
    p.add_argument("--out", required=True, help="tables folder (created; an interrupted run resumes in it)")
    p.add_argument("--step", type=positive_int, default=None, help="events per chunk (default 20000)")
    p.add_argument("--events", type=positive_int, default=None, help="use at most N events per file")
    p.add_argument("--sources", nargs="+", default=None, metavar="KEY", choices=list(all_sources()),
                   help="only these sources (default: every one)")
    p.add_argument("--workers", type=positive_int, default=1, help="local dask.distributed worker processes")
    p.add_argument("--scheduler", default=None, help="address of a running dask scheduler (tcp://...)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_extract)


def _run_extract(args) -> int:
    from flashsim_coffea.cluster import executor
    from flashsim_coffea.train import store

    with executor(args.workers, args.scheduler) as ex:
        s = store.extract(args.data, args.out, step=args.step or store.STEP, events=args.events, keys=args.sources,
                          executor=ex, progress=not args.no_progress)
    rate = f", {s['events'] / s['seconds']:.0f} events/s" if s["ran"] == s["chunks"] and s["seconds"] else ""
    print(f"{s['events']} events in {s['chunks']} chunks ({s['ran']} this run, {s['seconds']} s{rate}) -> {args.out}")
    return 0


def _add_validate(sub) -> None:
    from flashsim_coffea.sim.cards import DEFAULT_MODELS

    p = sub.add_parser("validate", help="compare flash with FullSim",
                       description="Simulate the gen content of FullSim files and compare with their reco content per "
                       "source: efficiency vs pT and eta, W1/sigma and KS per variable, two-sample classifier AUC; per "
                       "collection, every field it writes (single-variable AUCs, MLP and gradient-boosted classifiers, "
                       "fields not simulated) and the trigger pass fractions. Prints a table, writes validation.json, "
                       "fields.md and PNG plots.")
    p.add_argument("--models", type=_models_dir, default=str(DEFAULT_MODELS), help="models directory")
    p.add_argument("--data", required=True, nargs="+", type=_existing_file, help="FullSim NanoAOD files")
    p.add_argument("--out", default="validation", help="output directory (default ./validation)")
    p.add_argument("--seed", type=positive_int, default=1, help="simulation seed")
    p.add_argument("--events", type=positive_int, default=None, help="use at most N events per file")
    p.add_argument("--no-plots", action="store_true", help="JSON and table only")
    p.add_argument("--update-cards", action="store_true", help="record the figures in the models' cards")
    p.add_argument("--solver", choices=("euler", "midpoint", "heun", "rk4", "ab2"), default=None,
                   help="ODE solver (default: the models index's)")
    p.add_argument("--steps", type=positive_int, default=None, help="ODE steps (default: the models index's)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                   help="arithmetic of the flows: bfloat16 is 2-3x faster where the CPU has native bfloat16 "
                   "(auto: there only; default: the models index's, else auto)")
    p.add_argument("--grid", choices=("uniform", "late"), default=None,
                   help="ODE time grid: equal steps or steps shrinking toward the data end (default: the models index's)")
    p.add_argument("--replicas", type=positive_int, default=1,
                   help="flash events per gen event (oversampling: less flash-side noise; default 1)")
    p.add_argument("--collections", nargs="+", default=None, metavar="C",
                   help="validate only these collections (Event: MET, PV, rho), replacing their entries in an "
                   "existing OUT/validation.json of the same files, events, seed and replicas; the collections "
                   "their derived fields read are simulated with them (Muon: Jet for jetIdx and jetRelIso, the PV "
                   "for dxybs) and not compared")
    p.add_argument("--step", type=positive_int, default=None,
                   help="events read and simulated at a time (default 20000; memory follows it, not the events)")
    p.add_argument("--max-objects", type=positive_int, default=None,
                   help="reco objects kept per source and sample for W1/KS/AUC and plots, a uniform random subsample "
                   "beyond (default 200000; efficiencies and counts use every object)")
    p.add_argument("--field-seeds", type=positive_int, default=3,
                   help="classifier seeds of the every-field check per collection (MLP and gradient-boosted; default 3)")
    p.add_argument("--no-fields", action="store_true",
                   help="leave out the every-field check (per-field AUCs, trigger pass fractions, OUT/fields.md)")
    p.add_argument("--auc-seeds", type=positive_int, default=5,
                   help="classifier seeds each source's two-sample AUC is averaged over (default 5)")
    p.set_defaults(func=_run_validate)


def _run_validate(args) -> int:
    from flashsim_coffea.train import store
    from flashsim_coffea.validate import sample
    from flashsim_coffea.validate.report import summary_lines, validate

    report = validate(args.models, args.data, args.out, seed=args.seed, entry_stop=args.events,
                      plots=not args.no_plots, update_cards=args.update_cards, solver=args.solver, steps=args.steps,
                      grid=args.grid, precision=args.precision, replicas=args.replicas,
                      collections=args.collections, step=args.step or store.STEP,
                      cap=args.max_objects or sample.CAP, field_seeds=0 if args.no_fields else args.field_seeds,
                      auc_seeds=args.auc_seeds)
    print("\n".join(summary_lines(report)))
    print(f"wrote {os.path.join(args.out, 'validation.json')}")
    return 0


def _add_bench(sub) -> None:
    from flashsim_coffea.sim.cards import DEFAULT_MODELS

    p = sub.add_parser("bench", help="engine throughput per ODE step count",
                       description="Events/s of the full engine (all collections, one replica) for several ODE step "
                       "counts, and the FLOP floor per event (network multiply-adds over a matmul rate measured in the "
                       "same run, interleaved with the timings), on CPU and on GPU when one is present. Progress "
                       "lines go to stderr.")
    p.add_argument("--models", type=_models_dir, default=str(DEFAULT_MODELS), help="models directory")
    p.add_argument("--data", type=_existing_file, default=None,
                   help="gen-level NanoAOD file (default: a cached 2000-event ttbar reference sample)")
    p.add_argument("--events", type=positive_int, default=2000, help="events per timing (default 2000)")
    p.add_argument("--steps", type=_bench_steps, nargs="+", default=["index", 4, 8, 20, 100],
                   help="ODE step counts of every flow, or 'index': each source's count of the models index (the "
                   "default solver; default: index 4 8 20 100)")
    p.add_argument("--solver", choices=["euler", "midpoint", "heun", "rk4", "ab2"], default=None, help="ODE solver")
    p.add_argument("--precision", choices=("float32", "bfloat16", "auto"), default=None,
                   help="arithmetic of the flows: bfloat16 is 2-3x faster where the CPU has native bfloat16 "
                   "(auto: there only; default: float32 and, where native, bfloat16)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes timed at once, one torch thread each, events/s summed (the executors' layout: "
                   "one per core is the fastest, docs/performance.md); default 1: this process")
    p.add_argument("--no-progress", action="store_true", help="no progress lines (on stderr)")
    p.set_defaults(func=_run_bench)


def _run_bench(args) -> int:
    import torch

    from flashsim_coffea.validate.bench import bench, bench_workers, default_precisions, lines, read_gen

    def say(line: str) -> None:
        if not args.no_progress:
            print(f"bench: {line}", file=sys.stderr, flush=True)

    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.data
    if path is None:
        from flashsim_coffea.reference import cache

        say("the cached 2000-event ttbar reference sample (generated if absent)")
        path = cache.sample("ttbar", 2000, seed=1, progress=not args.no_progress)
    gen = read_gen(path, args.events)
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    say(f"{len(gen)} events of {path}; steps {' '.join(map(str, args.steps))} on {' and '.join(devices)}"
        + (f"; {args.workers} processes x 1 thread" if args.workers > 1 else ""))
    rows = []
    for device in devices:
        precisions = (args.precision,) if args.precision else default_precisions(device)
        if args.workers > 1 and device == "cpu":
            rows += bench_workers(args.models, path, args.events, args.workers, steps=args.steps, solver=args.solver,
                                  precisions=precisions)
            continue
        rows += bench(args.models, gen, steps=args.steps, solver=args.solver, device=device, progress=say,
                      precisions=precisions)
    threads = "1 per process" if args.workers > 1 else torch.get_num_threads()
    print(f"{len(gen)} events of {path}, torch threads {threads}" + (f", {args.workers} processes" if args.workers > 1
                                                                      else ""))
    print("\n".join(lines(rows)))
    return 0


def _add_reflow(sub) -> None:
    p = sub.add_parser("reflow", help="fewer ODE steps: sources' flows retrained on their own (noise, sample) pairs",
                       description="Reflow (rectified flow): each named source's flow (the teacher) is integrated "
                       "accurately from noise at the conditioning of its training tables, and a copy of it is "
                       "trained on those coupled (noise, sample) pairs: nearly straight paths, which --steps ODE "
                       "steps follow. Writes OUT, a copy of MODELS with those sources replaced and their steps set "
                       "in its index (resumable: a source already reflowed from the same teacher is kept). Check "
                       "the result with `flashsim validate --models OUT`.")
    p.add_argument("--models", required=True, type=_models_dir, help="the teacher models folder")
    p.add_argument("--sources", required=True, nargs="+", metavar="KEY", help="sources to reflow (Jet_genjet, ...)")
    p.add_argument("--tables", required=True, help="training tables of those sources (`flashsim extract`)")
    p.add_argument("--out", required=True, help="the new models folder")
    p.add_argument("--steps", required=True, type=positive_int, help="ODE steps the reflowed sources run with")
    p.add_argument("--rows", type=positive_int, default=None,
                   help="(noise, sample) pairs per source: its training objects, cycled with fresh noise if fewer "
                   "(default 400000)")
    p.add_argument("--teacher-steps", type=positive_int, default=None,
                   help="midpoint steps of the teacher's integration (default 32)")
    p.add_argument("--min-steps", type=positive_int, default=None, help="gradient steps at least (default 20000)")
    p.add_argument("--seed", type=positive_int, default=1, help="noise and training seed (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_reflow)


def _run_reflow(args) -> int:
    from flashsim_coffea.train import reflow

    kw = {k: v for k, v in (("rows", args.rows), ("teacher_steps", args.teacher_steps),
                            ("min_steps", args.min_steps)) if v is not None}
    try:
        done = reflow.reflow_models(args.models, args.sources, args.tables, args.out, args.steps, args.seed,
                                    progress=not args.no_progress, **kw)
    except (ValueError, KeyError) as err:
        sys.stderr.write(f"flashsim reflow: error: {err}\n")
        return 2
    for r in done:
        print(f"{r['source']}: {r['rows']} pairs at {r['teacher_steps']} teacher steps, {r['steps']} gradient steps, "
              f"val loss {r['val_loss']:.4g}, {r['seconds']:.0f} s")
    print(f"models written to {args.out} ({', '.join(args.sources)} at {args.steps} steps)")
    return 0


def _add_tune(sub) -> None:
    from flashsim_coffea.specs import all_sources

    p = sub.add_parser("tune", help="a resumable hyper-parameter search of one source (Optuna)",
                       description="Optuna search over the flow's width, depth, gated or plain residual blocks, "
                       "learning rate and schedule, batch size, training steps, training-time density and "
                       "dequantisation width, and the efficiency classifier's width and depth: each trial trains on the "
                       "training split of the source's tables and is scored on a held-out fifth (two-sample AUC over "
                       "several classifier seeds + median W1/sigma, vs multiply-adds per object). The study is a "
                       "SQLite file: rerunning continues it. Writes STUDY.pareto.json, STUDY.pareto.png (the Pareto "
                       "front) and prints the best configuration; --apply writes it as the source's training "
                       "defaults (flashsim_coffea/specs/tuned.json). Needs the tune extra (pip install "
                       "'flashsim-coffea[tune]').")
    p.add_argument("--collection", required=True, help="reco collection (Jet, Muon, ...; Event for MET/PV/rho)")
    p.add_argument("--source", required=True, help=f"source name; known: {_known_sources(all_sources())}")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", type=_existing_file,
                     help="FullSim NanoAOD files of training processes (extracted into STUDY_tables/, resumable)")
    src.add_argument("--tables", default=None, help="a tables folder made by `flashsim extract`")
    p.add_argument("--trials", required=True, type=positive_int, help="finished trials the study should have")
    p.add_argument("--study", required=True, type=_writable_file, help="the study's SQLite file (created or continued)")
    p.add_argument("--workers", type=positive_int, default=1, help="local dask.distributed worker processes")
    p.add_argument("--scheduler", default=None, help="address of a running dask scheduler (tcp://...)")
    p.add_argument("--seed", type=positive_int, default=1, help="sampler and training seed (default 1)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="most gradient steps of a trial (default: the training default, 30000)")
    p.add_argument("--auc-seeds", type=positive_int, default=5, help="two-sample classifier seeds (default 5)")
    p.add_argument("--classifier", choices=("hgb", "mlp"), default="hgb",
                   help="two-sample classifier of the fidelity objective: gradient-boosted (default) or the MLP; "
                        "a study keeps the one it started with (studies made before this option: mlp)")
    p.add_argument("--events", type=positive_int, default=None, help="with --data: at most N events per file")
    p.add_argument("--apply", action="store_true",
                   help="write the most faithful trial on the front as the source's tuned training defaults")
    p.add_argument("--max-cost", type=float, default=None, metavar="FLOPS",
                   help="with --apply: only trials of at most this many multiply-adds per object")
    p.set_defaults(func=_run_tune)


def _run_tune(args) -> int:
    from pathlib import Path

    from flashsim_coffea.specs import all_sources

    key = f"{args.collection}_{args.source}"
    if key not in all_sources():
        sys.stderr.write(f"flashsim tune: error: unknown source {args.source!r} of collection {args.collection!r} "
                         f"(known: {_known_sources(all_sources())})\n")
        return 2
    try:
        from flashsim_coffea.validate import tune
    except ImportError as err:
        sys.stderr.write(f"flashsim tune: error: {err}; pip install 'flashsim-coffea[tune]'\n")
        return 2
    from flashsim_coffea.cluster import executor
    from flashsim_coffea.train import store
    from flashsim_coffea.train.sources import MIN_STEPS

    study = Path(args.study)
    tables = args.tables or os.fspath(study.with_name(study.stem + "_tables"))
    parallel = args.scheduler is not None or args.workers > 1
    with executor(args.workers, args.scheduler) as ex:
        if args.data:
            store.extract(args.data, tables, events=args.events, keys=[key], executor=ex, progress=False)
        try:
            r = tune.tune(key, tables, study, args.trials, executor=ex, workers=args.workers, seed=args.seed,
                          max_steps=args.max_steps or MIN_STEPS, auc_seeds=args.auc_seeds,
                          threads=1 if parallel else None, classifier=args.classifier)
        except ValueError as err:
            sys.stderr.write(f"flashsim tune: error: {err}\n")
            return 2
    print(f"{key}: trials {r['trials']}; Pareto front (fidelity = AUC - 0.5 + median W1/sigma, multiply-adds/object):")
    for t in r["pareto"]:
        print(f"  trial {t['number']:4d}  fidelity {t['fidelity']:.4f}  AUC {t['auc']:.3f}  "
              f"W1/sigma {t['median_w1_over_sigma']:.3f}  flops {t['flops']:.3g}  {t['params']}")
    if r["importances"]:
        print("importances (fidelity):", {k: round(v, 3) for k, v in r["importances"]["fidelity"].items()})
    print("best configuration (most faithful on the front):")
    print(r["best"] or "  (no finished trial)")
    print(f"wrote {study.with_suffix('.pareto.json')} and {study.with_suffix('.pareto.png')}")
    if args.apply:
        try:
            entry = tune.apply(study, key, args.max_cost)
        except ValueError as err:
            sys.stderr.write(f"flashsim tune: error: {err}\n")
            return 2
        print(f"{key}: tuned training defaults = trial {entry['trial']} -> flashsim_coffea/specs/tuned.json")
    return 0


def parser() -> argparse.ArgumentParser:
    """The ``flashsim`` argument parser.

    Example:
        >>> from flashsim_coffea.sim.cards import DEFAULT_MODELS
        >>> args = parser().parse_args(["validate", "--data", str(SHARED / "nano_tt_v12.root"), "--replicas", "4"])
        >>> args.command, args.replicas, args.out, args.models == str(DEFAULT_MODELS)
        ('validate', 4, 'validation', True)
        >>> parser().parse_args(["validate", "--data", "missing.root"])  # stderr: flashsim validate: error: ...
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    p = Parser(prog="flashsim", description="flashsim-coffea: ML end-to-end fast simulation for CMS")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_generate(sub)
    _add_simulate(sub)
    _add_catalog(sub)
    _add_extract(sub)
    _add_train(sub)
    _add_validate(sub)
    _add_bench(sub)
    _add_reflow(sub)
    _add_tune(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flashsim`` console script; returns the exit code.

    Example:
        ``flashsim validate`` of the shipped muon models on 50 events of a real CMS ttbar file (float32: the same
        figures on every CPU):

        >>> import shutil, tempfile
        >>> out = tempfile.mkdtemp()
        >>> main(["validate", "--data", str(SHARED / "nano_tt_v12.root"), "--events", "50", "--collections", "Muon",
        ...       "--replicas", "4", "--precision", "float32", "--no-plots", "--out", out])
        collection    AUC  medW1/σ  (floor)  max|Δeff|>20
        Muon            -   0.1541   0.1522             -
        <BLANKLINE>
          Muon_genmuon           objects     154/39      AUC - medW1/σ 0.1066 eff flash/full 0.939/0.951
          Muon_jetfake           objects      66/11      AUC - medW1/σ 0.4166 eff flash/full 0.045/0.030
          Muon_uefake            objects       8/3       AUC - medW1/σ 0.7254 count flash/full 0.04/0.06
        <BLANKLINE>
        fields        MLP    HGB  worst field (single AUC)    not simulated
        Muon            -      -  -                           0
        wrote .../validation.json
        0
        >>> shutil.rmtree(out)
    """
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
