"""Field coverage per collection: in real CMS NanoAOD v12, written by the reference detector, simulated by flash.

Usage: python benchmarks/field_coverage.py [--sample REF.root] [--models DIR] [--events N] \
    [--v12 nano_tt_v12.root] [--older nano_dy.root] [--out docs/field_coverage.md]

Every column is read from data, none from a list kept by hand:

* real v12: the branches of ``--v12`` (``../shared/data/nanoaod/nano_tt_v12.root``); a collection
  that file lacks (Photon, Tau, ...) is taken from ``--older`` (``nano_dy.root``, an older NanoAOD)
  and marked so;
* reference: the branches of a reference-detector sample (``--sample``; default the cached
  400-event ttbar sample of the tests, generated once if missing);
* flash: the fields the engine writes with ``--models`` (default the shipped ones) on the gen
  content of the first ``--events`` events of that sample, and how it makes each one, from the
  sources as the models were trained (:func:`flashsim_coffea.validate.fields.kinds`): ``learnt``
  (a flow target), ``copied`` (from the gen candidate, its index included), ``constant``, else
  ``derived`` (:mod:`flashsim_coffea.sim.derive`, the MET from the learnt recoil, ...).

Gen/truth branches (``Gen*``, ``LHE*``, ``Pileup_*``, ...) and the ``n<Collection>`` counters are
not fields of a reco collection. Event-level groups (``MET``, ``PuppiMET``, ``PV``, ``Rho``,
``HLT``, ``Flag``, ...) count as collections; a group with more than :data:`LONG` fields in the
real file (``HLT`` in ``nano_dy.root``: 651 paths) lists only the fields the reference or flash
writes.

Example:
    python benchmarks/field_coverage.py            # writes docs/field_coverage.md
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FLASHSIM_SHARED_NANOAOD", ROOT.parent / "shared" / "data" / "nanoaod"))
#: a real-file group with more fields than this lists only those the reference or flash writes.
LONG = 100
#: the default reference sample: the tests' cached ttbar sample.
DEFAULT_SAMPLE = ("ttbar", 400, 11)


def file_fields(path: str | os.PathLike) -> dict[str, list[str]]:
    """Reco collection (or event-level group) -> its fields, from the branch names of a NanoAOD file."""
    import uproot

    from flashsim_coffea.validate.fields import is_event_field

    with uproot.open(path) as f:
        names = f["Events"].keys(recursive=False)
    split = [n.split("_", 1) for n in names if is_event_field(n)]
    groups = {g for g, _ in split}
    out: dict[str, list[str]] = {}
    for g, field in split:
        if g.startswith("n") and g[1:] in groups:  # nJet_pt-style counters of some writers
            continue
        out.setdefault(g, []).append(field)
    return out


def flash_fields(sample: str | os.PathLike, models: str | os.PathLike, events: int, seed: int = 1
                 ) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    """Collection -> fields flash writes on the gen content of ``sample``, and collection -> field -> kind."""
    import awkward as ak
    import uproot

    from flashsim_coffea.nanoaod.genevents import branch_names, from_branches
    from flashsim_coffea.sim.engine import FlashSim
    from flashsim_coffea.validate.fields import TRUTH_PREFIXES, kinds

    sim = FlashSim.load(models)
    with uproot.open(sample) as f:
        tree = f["Events"]
        have = set(tree.keys())
        want = [b for b in (*branch_names(), "run", "luminosityBlock", "event") if b in have]
        gen = from_branches(tree.arrays(want, entry_stop=events), source=str(sample))
    flash = sim.simulate(gen, seed=seed, replicas=1, source=str(sample))
    out, how = {}, {}
    event_kinds = kinds(m.source for m in sim.models.values() if not m.source.collection)
    for name in flash.fields:
        if name == "FlashSim" or name.startswith(TRUTH_PREFIXES) or not ak.fields(flash[name]):  # Pileup: gen input
            continue
        out[name] = list(flash[name].fields)
        if flash[name].ndim > 1:
            how[name] = kinds(m.source for m in sim.models.values() if m.source.collection == name)
        else:
            how[name] = {k.split("_", 1)[1]: v for k, v in event_kinds.items() if k.startswith(name + "_")}
    return out, how


def coverage(reference: dict[str, list[str]], flash: dict[str, list[str]], how: dict[str, dict[str, str]],
             v12: dict[str, list[str]], older: dict[str, list[str]]) -> dict[str, dict]:
    """Per collection the reference or flash writes: its rows ``(field, in real file, by reference, flash kind)``.

    Example:
        >>> cov = coverage({"Jet": ["pt", "btagPNetB"]}, {"Jet": ["pt", "partonFlavour"]}, {"Jet": {"pt": "learnt"}},
        ...                {"Jet": ["pt", "btagPNetB", "partonFlavour", "hfsigmaEtaEta"]}, {})
        >>> cov["Jet"]["real"], cov["Jet"]["rows"]  # doctest: +NORMALIZE_WHITESPACE
        ('v12', [('btagPNetB', True, True, None), ('hfsigmaEtaEta', True, False, None),
                 ('partonFlavour', True, False, 'derived'), ('pt', True, True, 'learnt')])
    """
    out = {}
    for coll in sorted(set(reference) | set(flash)):
        real, label = (v12[coll], "v12") if coll in v12 else (older.get(coll, []), "older" if coll in older else None)
        ref, fl = set(reference.get(coll, [])), set(flash.get(coll, []))
        listed = set(real) if len(real) <= LONG else set(real) & (ref | fl)
        rows = [(f, f in real, f in ref, how.get(coll, {}).get(f, "derived") if f in fl else None)
                for f in sorted(listed | ref | fl)]
        out[coll] = {"real": label, "real_count": len(real), "rows": rows}
    return out


def markdown(cov: dict[str, dict], sample: str, models: str, events: int) -> str:
    """The coverage tables: a summary per collection, then one table per collection."""
    mark = lambda b: "yes" if b else ""
    lines = ["# Field coverage per collection", "",
             "Made by `python benchmarks/field_coverage.py` (do not edit by hand). Columns: the field is in real CMS "
             "NanoAOD (v12: `nano_tt_v12.root`; *older*: `nano_dy.root`, for a collection v12 lacks), written by the "
             f"reference detector (`{sample}`), and how flash makes it with the models in `{models}` "
             f"(on the gen content of {events} events of that sample): learnt (a flow target), copied (from the gen "
             "candidate), constant, derived; empty: not simulated.", "",
             "| collection | real file | fields there | reference | flash | learnt | copied | constant | derived | "
             "reference, not flash |", "|---|---|---|---|---|---|---|---|---|---|"]
    for coll, c in cov.items():
        ref = sum(r[2] for r in c["rows"])
        kinds = [r[3].split("/") for r in c["rows"] if r[3] is not None]
        n = {k: sum(k in x for x in kinds) for k in ("learnt", "copied", "constant", "derived")}
        gap = sum(r[2] and r[3] is None for r in c["rows"])
        lines.append(f"| {coll} | {c['real'] or '-'} | {c['real_count']} | {ref} | {len(kinds)} | {n['learnt']} | "
                     f"{n['copied']} | {n['constant']} | {n['derived']} | {gap} |")
    lines.append("")
    for coll, c in cov.items():
        lines += [f"## {coll}", ""]
        listed = sum(r[1] for r in c["rows"])
        if c["real_count"] > listed:
            lines += [f"The real file has {c['real_count']} {coll} fields; the {listed} the reference or flash "
                      "writes are listed.", ""]
        lines += [f"| field | real ({c['real'] or '-'}) | reference | flash |", "|---|---|---|---|"]
        lines += [f"| {f} | {mark(real)} | {mark(ref)} | {kind or ''} |" for f, real, ref, kind in c["rows"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    from flashsim_coffea.sim.cards import DEFAULT_MODELS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", default=None, help="reference-detector NanoAOD file (default: the cached 400-event "
                    "ttbar sample of the tests, generated if missing)")
    ap.add_argument("--models", default=str(DEFAULT_MODELS), help="models directory (default: the shipped models)")
    ap.add_argument("--events", type=int, default=200, help="gen events flash simulates (default 200)")
    ap.add_argument("--v12", default=str(SHARED / "nano_tt_v12.root"), help="real CMS NanoAOD v12 file")
    ap.add_argument("--older", default=str(SHARED / "nano_dy.root"), help="older real NanoAOD, for collections v12 lacks")
    ap.add_argument("--out", default=str(ROOT / "docs" / "field_coverage.md"), help="Markdown file written")
    a = ap.parse_args(argv)
    sample = a.sample
    if sample is None:
        from flashsim_coffea.reference import cache

        process, events, seed = DEFAULT_SAMPLE
        sample = cache.sample(process, events, seed=seed, workers=1, progress=False)
        label = f"{process}, {events} events, seed {seed}"
    else:
        label = Path(sample).name
    for p in (sample, a.v12, a.older):
        if not Path(p).is_file():
            raise SystemExit(f"field_coverage: no such file: {p}")
    fl, how = flash_fields(sample, a.models, a.events)
    cov = coverage(file_fields(sample), fl, how, file_fields(a.v12), file_fields(a.older))
    models = os.path.relpath(a.models, ROOT) if Path(a.models).resolve().is_relative_to(ROOT) else a.models
    Path(a.out).write_text(markdown(cov, label, models, a.events))
    print(f"wrote {a.out}")
    return cov


if __name__ == "__main__":
    main()
