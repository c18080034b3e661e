"""The analyses' report: flash vs FullSim on the same gen events, the oversampling test, throughput.

``python analyses/report.py --analysis zh_llbb --fileset fs.json --events 200000 --workers 8``
(or ``--scheduler tcp://host:8786``) runs, over the first ``--events`` entries of each dataset:

- pass K=1 (:class:`Passes`): per chunk, the analysis on the FullSim events and on flash events
  made from the same gen events, and their paired difference (:func:`analyses.statistics.paired`);
- pass K (``--replicas 6 10``): flash with K replicas of the first ``1/K`` of those gen events
  (weights scaled by the fraction) against FullSim on all of them, per-bin pulls with the
  ``fill_oversampled`` errors of the paired difference and with naive per-entry errors;

and writes ``report.md``, ``report.json`` and the PNGs under ``validation/analyses/<analysis>/``
(:func:`write_report`). Without ``--fileset`` the embedded reference samples are used
(``--events`` per sample, default 2000).

Example:
    >>> args = parser().parse_args(["--analysis", "zh_llbb", "--replicas", "6"])
    >>> args.analysis, args.replicas, args.workers, args.out
    ('zh_llbb', [6], 1, None)
    >>> limits({"a.root": 1000, "b.root": 500}, 1200), subset({"a.root": 1000, "b.root": 200}, 6)
    ({'a.root': 1000, 'b.root': 200}, {'a.root': 166, 'b.root': 33})
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from coffea import processor

if __package__ in (None, ""):  # run as a script: make ``analyses`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses import objects, statistics
from analyses.analysis import Analysis
from analyses.histograms import HIST_REGIONS, LOG_SCALE
from analyses.outputs import compare, group_hist, plot_comparison, yields_table
from analyses.running import check_fileset, complete_metadata, flash_processor, load_fileset, reference_fileset, run
from analyses.selection import DEFAULT_LUMI_FB
from analyses.vbf_hmumu import VBFHmumu
from analyses.zh_llbb import ZHllbb

ANALYSES: dict[str, type[Analysis]] = {"zh_llbb": ZHllbb, "vbf_hmumu": VBFHmumu}
#: the oversampling factors of the CMS test (flash from 1/K of the gen events, K replicas each).
REPLICAS = (6, 10)
#: events per embedded reference sample when neither --fileset nor --events is given.
DEFAULT_EVENTS = 2000


def limits(entries: dict[str, int], events: int | None) -> dict[str, int]:
    """Entries used per file: the first ``events`` of a dataset, file after file (all without ``events``)."""
    out, left = {}, events
    for path, n in entries.items():
        out[path] = n if left is None else max(0, min(n, left))
        left = None if left is None else left - out[path]
    return out


def subset(used: dict[str, int], k: int) -> dict[str, int]:
    """The first ``used // k`` entries of each file: the gen events of the K-replica flash pass."""
    return {path: n // k for path, n in used.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB, ``getrusage`` ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Passes(processor.ProcessorABC):
    """One pass of the report, per chunk: the analysis on the FullSim events among the first
    ``full[file]`` entries and on flash events (``flash``'s replicas) of the first ``gen[file]``
    entries (weights times ``used / gen``), the flash - FullSim difference filled per gen event
    (:meth:`Analysis.fill` of ``[(flash, +1), (fullsim, -1)]``) and the same with naive per-entry
    groups. Output: ``{"fullsim"|"flash"|"flash_naive"|"diff"|"diff_naive": {dataset: ...},
    "timing": {"fullsim"|"flash": {"seconds", "events"}}}``."""

    def __init__(self, analysis: Analysis, flash: Any, full: dict[str, int], gen: dict[str, int]):
        self.analysis, self.flash_proc, self.full, self.gen = analysis, flash, full, gen

    def process(self, events):
        md = events.metadata
        path, start, ds = md["filename"], int(md["entrystart"]), md["dataset"]
        n = len(events)
        n_full = int(np.clip(self.full[path] - start, 0, n))
        n_gen = int(np.clip(self.gen[path] - start, 0, n)) if self.flash_proc is not None else 0
        if n_full == 0:
            return {}
        ana = self.analysis
        t0 = time.perf_counter()
        full = ana.table(events if n_full == n else events[:n_full])
        t1 = time.perf_counter()
        out: dict = {"fullsim": {ds: {**ana.fill([(full, 1.0)]), "events": n_full, "gen_events": n_full}},
                     "timing": {"fullsim": {"seconds": t1 - t0, "events": n_full}}}
        if n_gen:
            flash_events = self.flash_proc.flash(events if n_gen == n else events[:n_gen])
            fl = ana.table(flash_events)
            fl["w"] = fl["w"] * (self.full[path] / self.gen[path])
            t2 = time.perf_counter()
            out["timing"]["flash"] = {"seconds": t2 - t1, "events": fl["events"], "gen_events": n_gen}
            out["flash"] = {ds: {**ana.fill([(fl, 1.0)]), "events": fl["events"], "gen_events": n_gen}}
            out["flash_naive"] = {ds: ana.fill([(fl, 1.0)], naive=True)}
            out["diff"] = {ds: ana.fill([(fl, 1.0), (full, -1.0)])}
            out["diff_naive"] = {ds: ana.fill([(fl, 1.0), (full, -1.0)], naive=True)}
        return out

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator


def run_pass(fileset: dict, proc: Passes, workers: int, chunksize: int, client: Any = None, fresh: bool = False) -> dict:
    """Run one pass (iterative in this process without ``client``); adds ``wall_s``, ``workers`` and
    ``peak_rss_mb`` per worker (``fresh``: workers started for this pass, so the peak is this pass's;
    in this process it is the peak since the process started)."""
    start = time.perf_counter()
    out = run(fileset, proc, "dask" if client is not None else "iterative", workers, chunksize, None, client)
    wall = time.perf_counter() - start
    rss = client.run(peak_rss_mb) if client is not None else {"this process": peak_rss_mb()}
    out["resources"] = {"wall_s": wall, "workers": len(rss), "peak_rss_mb": {str(k): round(v, 1) for k, v in rss.items()},
                        "peak_rss_is_this_pass": client is not None and fresh}
    return out


def _hists(result: dict, datasets: list[str], name: str, region: str):
    h = group_hist(result, datasets, "hists", name)
    return None if h is None else h[{"region": region}]


def comparison(passes: dict, groups: dict[str, list[str]], names: list[str], out: Path, name: str, lumi_fb: float) -> dict:
    """(a) every histogram, region and process group: paired chi2 and pulls, the independent chi2
    and binned KS (:func:`analyses.outputs.compare`), a plot with ratio and pull panels."""
    res, plots = {}, []
    for group, dss in groups.items():
        for hname in names:
            for region in HIST_REGIONS:
                hs = {src: _hists(passes[src], dss, hname, region) for src in ("fullsim", "flash")}
                diff = _hists(passes["diff"], dss, hname, region)
                if any(h is None for h in (*hs.values(), diff)):
                    continue
                if not any(float(np.sum(np.abs(h.values()))) > 0 for h in hs.values()):
                    continue  # an empty histogram: no row, no plot
                key = f"{group}/{region}/{hname}"
                c = statistics.paired(diff, hs["flash"], hs["fullsim"])
                c20 = statistics.paired(diff, hs["flash"], hs["fullsim"], statistics.MIN_ENTRIES)
                ind = compare(hs["flash"], hs["fullsim"])
                res[key] = {"paired": c, "paired_min20": {k: v for k, v in c20.items() if k != "pulls"},
                            "independent": {k: ind[k] for k in ("chi2", "ndf", "chi2_ndf")}, "ks_binned": ind["ks_binned"],
                            "flash_sum": ind["flash_sum"], "fullsim_sum": ind["fullsim_sum"]}
                chi = f"{c['chi2']:.1f}/{c['ndf']}" if c["ndf"] else "-"
                ks = f"{ind['ks_binned']:.3f}" if ind["ks_binned"] is not None else "-"
                path = out / "plots" / f"{name}_{group}_{region}_{hname}.png"
                if plot_comparison(hs, path, f"{group}, {region}", lumi_fb, pulls=c["pulls"], log=hname in LOG_SCALE,
                                   text=f"paired $\\chi^2$/ndf = {chi}, KS = {ks}"):
                    plots.append(os.fspath(path.relative_to(out)))
    return {"histograms": res, "plots": plots}


def oversampling_test(passes: dict, k: int, names: list[str]) -> dict:
    """(b) pulls over every bin of every histogram and dataset (FullSim >= MIN_ENTRIES equivalent events):
    paired difference with the ``fill_oversampled`` errors, naive per-entry errors, and the flash
    errors added to FullSim's as if independent; the effective statistics per histogram."""
    grouped, naive, independent, eff = [], [], [], {}
    datasets = list(passes["diff"])
    for ds in datasets:
        for hname in names:
            for region in HIST_REGIONS:
                full = passes["fullsim"][ds]["hists"][hname][{"region": region}]
                used = statistics.bin_entries(full) >= statistics.MIN_ENTRIES
                for store, src in ((grouped, "diff"), (naive, "diff_naive")):
                    d = passes[src][ds]["hists"][hname][{"region": region}]
                    ok = used & (d.variances() > 0)
                    store.append(d.values()[ok] / np.sqrt(d.variances()[ok]))
                independent.append(statistics.pulls(passes["flash"][ds]["hists"][hname][{"region": region}], full))
    for hname in names:
        f = group_hist(passes["flash"], datasets, "hists", hname)[{"region": "presel"}]
        r = group_hist(passes["fullsim"], datasets, "hists", hname)[{"region": "presel"}]
        n_gen = sum(passes["flash"][ds]["gen_events"] for ds in datasets)
        n_full = sum(passes["fullsim"][ds]["gen_events"] for ds in datasets)
        per_gen_f, per_gen_r = statistics.effective_entries(f) / n_gen, statistics.effective_entries(r) / n_full
        eff[hname] = {"flash_per_gen_event": per_gen_f, "fullsim_per_gen_event": per_gen_r,
                      "gain": per_gen_f / per_gen_r if per_gen_r > 0 else None}
    cat = np.concatenate
    return {"K": k, "gen_events": {ds: passes["flash"][ds]["gen_events"] for ds in datasets},
            "pulls_oversampled": statistics.summarize(cat(grouped)), "pulls_naive": statistics.summarize(cat(naive)),
            "pulls_independent": statistics.summarize(cat(independent)), "effective_statistics": eff,
            "_pulls": {"oversampled": cat(grouped).tolist(), "naive": cat(naive).tolist()}}


def plot_pulls(test: dict, path: Path) -> None:
    """Distributions of the oversampling test's pulls (both error treatments) against N(0, 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    bins = np.linspace(-5, 5, 41)
    x = np.linspace(-5, 5, 200)
    for key, color in (("oversampled", "tab:blue"), ("naive", "tab:orange")):
        p = np.clip(test["_pulls"][key], -4.99, 4.99)
        s = test[f"pulls_{key}"]
        ax.hist(p, bins=bins, histtype="step", lw=2, color=color,
                label=f"{key} errors: mean {s['mean']:.2f}, width {s['width']:.2f}" if s["width"] else key)
        ax.plot(x, len(p) * np.diff(bins)[0] * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi), color=color, ls=":", lw=1)
    ax.set_xlabel("(flash - FullSim) / σ per bin")
    ax.set_ylabel("Bins")
    ax.set_title(f"Oversampling test, K = {test['K']} (flash from 1/K of the gen events)", fontsize=12)
    ax.legend(fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def throughput(resources: dict, timing: dict) -> dict:
    """Events/s of a pass (wall clock, all workers) and per worker-second of each part."""
    out = {"wall_s": resources["wall_s"], "workers": resources["workers"], "peak_rss_mb": resources["peak_rss_mb"],
           "peak_rss_is_this_pass": resources["peak_rss_is_this_pass"]}
    for part, t in timing.items():
        out[part] = {"events": t["events"], "worker_seconds": t["seconds"],
                     "events_per_worker_second": t["events"] / t["seconds"] if t["seconds"] > 0 else None,
                     "events_per_s_wall": t["events"] / resources["wall_s"] if resources["wall_s"] > 0 else None}
    return out


def cutflow_rows(passes: dict, groups: dict[str, list[str]]) -> list[dict]:
    """Cutflow of FullSim and flash (K = 1, same gen events) side by side, per sample and group."""
    rows = {}
    for r in yields_table({"fullsim": passes["fullsim"], "flash": passes["flash"]}, groups):
        rows.setdefault((r["sample"], r["region"]), {"sample": r["sample"], "region": r["region"]})[r["source"]] = {
            "yield": r["yield"], "error": r["error"], "entries": r["entries"]}
    return list(rows.values())


def object_check(passes: dict) -> dict[str, list[dict]]:
    """The per-object check of the K = 1 pass per dataset (:func:`analyses.objects.rows`): which object
    cut makes flash and FullSim differ."""
    return {ds: objects.rows(passes["fullsim"][ds]["objects"], passes["flash"][ds]["objects"],
                             passes["diff"][ds]["objects"])
            for ds in passes["diff"] if "objects" in passes["diff"][ds]}


def write_report(name: str, k1: dict, oversampled: dict[int, dict], groups: dict[str, list[str]], out: str | os.PathLike,
                 lumi_fb: float = DEFAULT_LUMI_FB, info: dict | None = None) -> dict:
    """``report.json``, ``report.md`` and the PNGs of the passes' outputs (``k1``: the K = 1 pass,
    ``oversampled``: K -> that pass)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(k1["fullsim"].values()))
    names = [h for h in first["hists"] if any(float(np.sum(np.abs(r["hists"][h].values()))) > 0
                                               for r in k1["fullsim"].values())]
    comp = comparison(k1, groups, names, out, name, lumi_fb)
    tests = {}
    for k, res in oversampled.items():
        test = oversampling_test(res, k, names)
        plot_pulls(test, out / "plots" / f"{name}_oversampling_K{k}.png")
        comp["plots"].append(f"plots/{name}_oversampling_K{k}.png")
        test.pop("_pulls")
        tests[f"K{k}"] = test
    report = {
        "analysis": name, "lumi_fb": lumi_fb, "groups": groups, **(info or {}),
        "statistic": ("paired per-gen-event differences: flash - FullSim filled per gen event with "
                      "fill_oversampled, variance per bin sum_e (H_flash_eb/K - H_full_eb)^2"),
        "ks": "max |F_flash - F_full| of the normalised binned cumulative distributions",
        "min_entries": statistics.MIN_ENTRIES,
        "comparison": comp["histograms"], "cutflow": cutflow_rows(k1, groups), "objects": object_check(k1),
        "yields": yields_table({"fullsim": k1["fullsim"], "flash": k1["flash"]}, groups),
        "oversampling": tests,
        "throughput": {"K1": throughput(k1["resources"], k1["timing"]),
                       **{f"K{k}": throughput(r["resources"], r["timing"]) for k, r in oversampled.items()}},
        "plots": comp["plots"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def _f(x: Any, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(r: dict) -> str:
    """The report's Markdown from its JSON."""
    md = [f"# {r['analysis']}: FlashSim vs reference detector", "",
          f"Events per dataset: {r.get('events_per_dataset', '-')}; {r['lumi_fb']:g} fb^-1. Statistic: {r['statistic']}. "
          f"chi2 also over bins with >= {r['min_entries']:g} equivalent FullSim events (Kish).", "",
          "## (a) flash K = 1 on the same gen events", "",
          "| histogram | paired chi2/ndf | (>=20 ev.) | independent chi2/ndf | KS | flash | FullSim |",
          "|---|---:|---:|---:|---:|---:|---:|"]
    for key, c in r["comparison"].items():
        p, p20, ind = c["paired"], c["paired_min20"], c["independent"]
        md.append(f"| {key} | {_f(p['chi2'], '.1f')}/{p['ndf']} | {_f(p20['chi2'], '.1f')}/{p20['ndf']} | "
                  f"{_f(ind['chi2'], '.1f')}/{ind['ndf']} | {_f(c['ks_binned'])} | {_f(c['flash_sum'], '.4g')} | "
                  f"{_f(c['fullsim_sum'], '.4g')} |")
    md += ["", "### Cutflow (yield ± error; raw entries)", "", "| sample | cut | FullSim | flash | flash/FullSim |",
           "|---|---|---:|---:|---:|"]
    for row in r["cutflow"]:
        full, fl = row.get("fullsim"), row.get("flash")
        if not full or not fl:
            continue
        ratio = fl["yield"] / full["yield"] if full["yield"] else None
        cells = [f"{x['yield']:.4g} ± {x['error']:.2g} ({x['entries']:.0f})" for x in (full, fl)]
        md.append(f"| {row['sample']} | {row['region']} | {cells[0]} | {cells[1]} | {_f(ratio, '.3f')} |")
    md += ["", "### Per-object check (raw objects, cuts cumulative within a class; ratio error from the paired "
           "difference)", "", "| sample | stage | FullSim | flash | flash/FullSim | pull |", "|---|---|---:|---:|---:|---:|"]
    for ds, rows in r.get("objects", {}).items():
        for row in rows:
            md.append(f"| {ds} | {row['stage']} | {row['fullsim']:.0f} | {row['flash']:.0f} | "
                      f"{row['ratio']:.4f} ± {row['ratio_err']:.4f} | {_f(row['pull'], '.1f')} |")
    md += ["", "## (b) oversampling test: flash from N/K gen events, K replicas, vs FullSim on N", ""]
    if not r["oversampling"]:
        md.append("No oversampling pass in this run (`--replicas K ...`).")
    else:
        md += ["| K | bins | pull mean (fill_oversampled) | width | naive mean | naive width | independent width |",
               "|---:|---:|---:|---:|---:|---:|---:|"]
    for t in r["oversampling"].values():
        g, n, i = t["pulls_oversampled"], t["pulls_naive"], t["pulls_independent"]
        md.append(f"| {t['K']} | {g['bins']} | {_f(g['mean'], '.3f')} ± {_f(g['mean_err'], '.2f')} | "
                  f"{_f(g['width'], '.3f')} ± {_f(g['width_err'], '.2f')} | {_f(n['mean'], '.3f')} | "
                  f"{_f(n['width'], '.3f')} | {_f(i['width'], '.3f')} |")
    tests = list(r["oversampling"].values())
    if tests:
        md += ["", "Effective statistics (presel, all datasets): equivalent independent events per gen event (Kish).",
               "", "| histogram | " + " | ".join(f"K={t['K']} flash | gain" for t in tests) + " | FullSim |",
               "|---|" + "---:|---:|" * len(tests) + "---:|"]
        for h, first in tests[0]["effective_statistics"].items():
            cells = [f"{_f(t['effective_statistics'][h]['flash_per_gen_event'])} | "
                     f"{_f(t['effective_statistics'][h]['gain'])}" for t in tests]
            md.append(f"| {h} | " + " | ".join(cells) + f" | {_f(first['fullsim_per_gen_event'])} |")
    md += ["", "## (c) throughput", "",
           "events/s: the wall clock of the pass, all workers; per worker-second: summed chunk times.",
           "", "| pass | workers | wall s | FullSim events | FullSim ev / worker-s | flash events | flash ev / worker-s | "
           "flash events/s | peak RSS per worker (MB) |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for pname, t in r["throughput"].items():
        full, fl = t.get("fullsim", {}), t.get("flash", {})
        rss = ", ".join(f"{v:.0f}" for v in t["peak_rss_mb"].values())
        md.append(f"| {pname} | {t['workers']} | {t['wall_s']:.1f} | {full.get('events', 0)} | "
                  f"{_f(full.get('events_per_worker_second'), '.0f')} | {fl.get('events', 0)} | "
                  f"{_f(fl.get('events_per_worker_second'), '.0f')} | {_f(fl.get('events_per_s_wall'), '.0f')} | {rss} |")
    md += ["", "## Plots", "", *[f"![{p}]({p})" for p in r["plots"]], ""]
    return "\n".join(md)


def parser():
    """The report's options."""
    from flashsim_coffea.cli import Parser, positive_int

    p = Parser(description="FlashSim vs FullSim report of a seed analysis (validation/analyses/<analysis>/)")
    p.add_argument("--analysis", required=True, choices=sorted(ANALYSES))
    p.add_argument("--fileset", help="JSON fileset {dataset: {files, metadata}}; default: embedded reference samples")
    p.add_argument("--events", type=positive_int, default=None, help="first events per dataset (all of a --fileset)")
    p.add_argument("--replicas", type=positive_int, nargs="*", default=list(REPLICAS), metavar="K",
                   help="oversampling factors of test (b)")
    p.add_argument("--workers", type=positive_int, default=1, help="1: in this process; more: a LocalCluster")
    p.add_argument("--scheduler", default=None, metavar="ADDR", help="run on this dask scheduler (tcp://host:8786)")
    p.add_argument("--chunksize", type=positive_int, default=50_000)
    p.add_argument("--out", default=None, help="output directory (default validation/analyses/<analysis>)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lumi", type=float, default=DEFAULT_LUMI_FB)
    p.add_argument("--models", default=None, help="FlashSim models directory (default: the shipped ones)")
    p.add_argument("--dnn", default=None, help="the analysis DNN (stem of .json/.safetensors; default analyses/models/)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Check the input, run the K = 1 pass and one pass per ``--replicas``, write the report."""
    from analyses.running import FilesetError
    from flashsim_coffea import cluster

    p = parser()
    args = p.parse_args(argv)
    if args.scheduler is not None and "://" not in args.scheduler:
        p.error(f"argument --scheduler: {args.scheduler!r} is not a scheduler address (tcp://host:port)")
    if args.dnn is not None and not Path(args.dnn).with_suffix(".json").exists():
        p.error(f"argument --dnn: no model card {Path(args.dnn).with_suffix('.json')}")
    analysis = ANALYSES[args.analysis](lumi_fb=args.lumi, dnn_path=args.dnn)
    try:
        raw = load_fileset(args.fileset) if args.fileset else reference_fileset(
            analysis.signal, args.events or DEFAULT_EVENTS, args.seed)
        checked = check_fileset(raw, fullsim=True, flash=True)
    except FilesetError as err:
        p.error(f"argument --fileset: {err}")
    entries = {ds: {f: m["entries"] for f, m in s["file_metadata"].items()} for ds, s in checked.items()}
    used = {ds: limits(e, args.events) for ds, e in entries.items()}
    fileset = complete_metadata(checked, args.events)
    per_file = {f: n for u in used.values() for f, n in u.items()}
    signal = [ds for ds, s in fileset.items() if s["metadata"].get("process", ds) == analysis.signal]
    groups = {"signal": signal, "background": [ds for ds in fileset if ds not in signal]}
    out_dir = Path(args.out or Path("validation") / "analyses" / analysis.name)
    own = args.scheduler is None and args.workers > 1

    def one(k: int) -> dict:
        # a fresh LocalCluster per pass (its workers' peak RSS is this pass's); a given scheduler is reused
        flash = flash_processor(analysis, k, args.seed, args.models)
        if flash is None:
            raise SystemExit("the report needs the FlashSim processor")
        start = time.perf_counter()
        print(f"[report] pass K={k}: flash from 1/{k} of the gen events", flush=True)
        with cluster.client(args.workers, args.scheduler) if (own or args.scheduler) else contextlib.nullcontext() as client:
            res = run_pass(fileset, Passes(analysis, flash, per_file, subset(per_file, k)), args.workers,
                           args.chunksize, client, fresh=args.scheduler is None)
        print(f"[report] pass K={k} done in {time.perf_counter() - start:.1f} s", flush=True)
        return res

    k1 = one(1)
    over = {k: one(k) for k in args.replicas}
    info = {"events_per_dataset": {ds: sum(u.values()) for ds, u in used.items()},
            "fileset": args.fileset or "embedded reference samples", "seed": args.seed,
            "models": args.models or "shipped", "dnn": analysis.dnn_path,
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])}
    report = write_report(analysis.name, k1, over, groups, out_dir, args.lumi, info)
    print(f"[report] {out_dir / 'report.md'}", flush=True)
    return report


if __name__ == "__main__":
    from analyses.report import main as _main  # dask workers unpickle the passes from analyses.report

    _main()
