"""The ``flashsim`` command.

Subcommands:
    generate   make a reference sample (Pythia 8 + reference detector) as NanoAOD

Every subcommand has ``--help``. Bad arguments give a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``flashsim generate: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
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
    from .reference.generate import PILEUP_MU
    from .reference.processes import PROCESSES

    p = sub.add_parser(
        "generate",
        help="make a reference sample (Pythia 8 + reference detector) as NanoAOD",
        description="Generate Pythia 8 events (13.6 TeV, CP5 tune), pass them through the parametric "
        "CMS-like reference detector, and write gen and reco collections as NanoAOD v12 (ROOT, TTree Events).",
    )
    p.add_argument("--process", required=True, choices=sorted(PROCESSES), help="physics process")
    p.add_argument("--events", required=True, type=_positive_int, help="number of events")
    p.add_argument("--seed", required=True, type=_positive_int, help="random seed (same seed: identical file)")
    p.add_argument("--out", required=True, type=_writable_file, help="output ROOT file")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--pileup", type=_nonnegative_float, default=PILEUP_MU, help=f"mean pileup (default {PILEUP_MU:g})"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> int:
    from .reference.generate import generate

    meta = generate(
        args.process,
        args.events,
        args.seed,
        args.out,
        workers=args.workers,
        pileup_mu=args.pileup,
        progress=not args.no_progress,
    )
    print(
        f"wrote {args.out}: {meta['events']} {meta['process']} events, "
        f"xsec {meta['xsec_pb']:.4g} pb, {meta['events_per_second']:.1f} events/s "
        f"with {args.workers} worker(s)"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    """The ``flashsim`` argument parser."""
    p = _Parser(prog="flashsim", description="flashsim-coffea: ML end-to-end fast simulation for CMS")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_generate(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flashsim`` console script."""
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
