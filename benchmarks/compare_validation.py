"""Two or more ``flashsim validate`` reports side by side: per source and per collection.

Usage: python benchmarks/compare_validation.py old/validation.json new/validation.json [--names old new]
    [--markdown]

Per source: the two-sample AUC (mean over the report's classifier seeds, ± their sd), the gradient-boosted
AUC where the report has it, the median W1/σ and the efficiency, FullSim then flash. Per collection: the
every-field classifiers (MLP, gradient-boosted) and the largest single-field AUC. Reports of other files,
events or replicas are refused: their figures are not comparable (``--force`` to print them anyway).

Example (the shipped set and a retrained one on the same 240k events):
    python benchmarks/compare_validation.py val_old_zh/validation.json val_new_zh/validation.json \
        --names shipped retrained
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: the run settings two reports must share to be compared figure by figure
SAME = ("files", "events", "replicas", "seed")


def load(path: str | Path) -> dict:
    """A validation report (``validation.json``), with a clear error for a missing or foreign file."""
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"compare_validation: no report {p}")
    d = json.loads(p.read_text())
    if "sources" not in d:
        raise SystemExit(f"compare_validation: {p} is not a flashsim validate report (no 'sources')")
    return d


def _fmt(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def source_rows(reports: list[dict]) -> list[list[str]]:
    """One row per source of any report: AUC ± sd, HGB, median W1/σ and efficiency of each report.

    Example:
        >>> r = {"sources": {"Muon_genmuon": {"auc": 0.51, "auc_sd": 0.002, "median_w1_over_sigma": 0.01,
        ...      "efficiency": {"fullsim": 0.95, "flash": 0.94}}}}
        >>> source_rows([r, {"sources": {}}])
        [['Muon_genmuon', '0.510 ± 0.002', '—', '0.0100', '0.950/0.940', '—', '—', '—', '—']]
    """
    keys = sorted({k for r in reports for k in r["sources"]})
    rows = []
    for k in keys:
        row = [k]
        for r in reports:
            s = r["sources"].get(k)
            if s is None:
                row += ["—"] * 4
                continue
            auc = _fmt(s.get("auc")) + (f" ± {s['auc_sd']:.3f}" if s.get("auc_sd") is not None and s.get("auc") else "")
            eff = s.get("efficiency") or {}
            row += [auc, _fmt(s.get("auc_hgb")), _fmt(s.get("median_w1_over_sigma"), 4),
                    f"{_fmt(eff.get('fullsim'))}/{_fmt(eff.get('flash'))}" if eff else "—"]
        rows.append(row)
    return rows


def collection_rows(reports: list[dict]) -> list[list[str]]:
    """One row per collection: the every-field MLP and gradient-boosted AUCs, the worst single field.

    Example:
        >>> r = {"sources": {}, "fields": {"Muon": {"classifiers": {"mlp": {"mean": 0.54}, "hgb": {"mean": 0.77}},
        ...      "single": {"dxy": {"auc": 0.52}, "tunepRelPt": {"auc": 0.6}}}}}
        >>> collection_rows([r])
        [['Muon', '0.540', '0.770', 'tunepRelPt 0.600']]
    """
    colls = sorted({c for r in reports for c in (r.get("fields") or {})})
    rows = []
    for c in colls:
        row = [c]
        for r in reports:
            f = (r.get("fields") or {}).get(c)
            if not f:
                row += ["—"] * 3
                continue
            cl = f.get("classifiers") or {}
            single = {k: v["auc"] for k, v in (f.get("single") or {}).items() if isinstance(v, dict) and v.get("auc")}
            worst = max(single, key=single.get) if single else None
            row += [_fmt((cl.get("mlp") or {}).get("mean")), _fmt((cl.get("hgb") or {}).get("mean")),
                    f"{worst} {single[worst]:.3f}" if worst else "—"]
        rows.append(row)
    return rows


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                         + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in [header, *rows])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+", help="validation.json files (or the folders holding them)")
    ap.add_argument("--names", nargs="+", help="a short name per report (default: its folder)")
    ap.add_argument("--markdown", action="store_true", help="Markdown tables")
    ap.add_argument("--force", action="store_true", help="compare reports of different files, events or replicas")
    a = ap.parse_args(argv)
    paths = [Path(p) / "validation.json" if Path(p).is_dir() else Path(p) for p in a.reports]
    names = a.names or [p.parent.name for p in paths]
    if len(names) != len(paths):
        raise SystemExit(f"compare_validation: {len(paths)} reports but {len(names)} names")
    reports = [load(p) for p in paths]
    for key in SAME:
        values = {json.dumps(r.get(key), sort_keys=True) for r in reports}
        if len(values) > 1 and not a.force:
            raise SystemExit(f"compare_validation: the reports differ in {key!r}: not comparable (--force)")
    head = ["source"] + [f"{n} {c}" for n in names for c in ("AUC", "HGB", "W1/σ", "eff full/flash")]
    print(_table(head, source_rows(reports), a.markdown))
    print()
    head = ["collection"] + [f"{n} {c}" for n in names for c in ("MLP", "HGB", "worst field")]
    print(_table(head, collection_rows(reports), a.markdown))


if __name__ == "__main__":
    main()
