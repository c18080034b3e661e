"""Outputs of a run: process-group sums, flash-vs-FullSim comparison (chi2, binned KS), plots, yields, summary.

:func:`write_outputs` takes ``{"flash"|"fullsim": processor output}`` and the process groups
(``{"signal": [datasets], "background": [...]}``) and writes one comparison plot per histogram,
region and group, ``yields.md``/``yields.csv`` and ``summary.json``.

Example:
    >>> import hist
    >>> def h(values):
    ...     return hist.Hist(hist.axis.Regular(2, 0.0, 2.0, name="x"), storage=hist.storage.Weight()).fill(x=values)
    >>> c = compare(h([0.5, 1.5, 1.5]), h([0.5, 0.5, 1.5]))
    >>> round(c["chi2"], 4), c["ndf"], round(c["ks_binned"], 4), c["flash_sum"], c["fullsim_sum"]
    (0.6667, 2, 0.3333, 3.0, 3.0)
    >>> result = {"dy": {"cutflow": h([0.5])}, "tt": {"cutflow": h([1.5])}}
    >>> group_hist(result, ["dy", "tt", "zz"], "cutflow").values().tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hist
import numpy as np

from analyses.histograms import HIST_REGIONS, LOG_SCALE
from analyses.selection import DEFAULT_LUMI_FB


def _sum(hists: list[hist.Hist]) -> hist.Hist | None:
    out = None
    for h in hists:
        out = h.copy() if out is None else out + h
    return out


def group_hist(result: dict, datasets: list[str], key: str, name: str | None = None) -> hist.Hist | None:
    """Sum of ``result[ds][key]`` (or ``result[ds]["hists"][name]``) over ``datasets`` present."""
    hs = [result[ds]["hists"][name] if name else result[ds][key] for ds in datasets if ds in result]
    return _sum(hs)


def compare(flash: hist.Hist, full: hist.Hist) -> dict:
    """chi2 with both variances over bins where either is filled; KS = max |difference| of the
    normalised binned cumulative distributions (shape only, no flow bins)."""
    from scipy import stats

    fv, fw = flash.values(), flash.variances()
    rv, rw = full.values(), full.variances()
    var = fw + rw
    used = var > 0
    chi2 = float(np.sum((fv[used] - rv[used]) ** 2 / var[used]))
    ndf = int(used.sum())
    ks = None
    if fv.sum() > 0 and rv.sum() > 0:
        ks = float(np.max(np.abs(np.cumsum(fv) / fv.sum() - np.cumsum(rv) / rv.sum())))
    return {"chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf if ndf else None,
            "p_value": float(stats.chi2.sf(chi2, ndf)) if ndf else None, "ks_binned": ks,
            "flash_sum": float(fv.sum()), "fullsim_sum": float(rv.sum())}


#: the label of every plot: what the comparison is, and that the detector is not CMS.
PLOT_LABEL = "FlashSim vs parametric reference detector (not CMS)"
#: the ratio panel's range; points outside are drawn as arrows at its edge.
RATIO_RANGE = (0.5, 1.5)


def plot_comparison(hs: dict[str, hist.Hist], path: Path, title: str, lumi_fb: float, *,
                    pulls: list[float | None] | None = None, log: bool = False, text: str | None = None) -> bool:
    """Step histograms with ±1σ bands (sqrt of the stored variances, in the legend), a flash/FullSim
    ratio panel (points outside :data:`RATIO_RANGE` as arrows at its edge) and, with ``pulls``,
    a per-bin pull panel. The y axis reads "Events / bin", scaled by a power of ten named in its
    title (no offset text); ``log`` draws it logarithmic. Histograms that are all empty are not
    drawn: returns ``False`` then, ``True`` when ``path`` was written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep
    from matplotlib.patches import Patch

    if not any(float(np.sum(np.abs(h.values()))) > 0 for h in hs.values()):
        return False
    hep.style.use("CMS")
    colors = {"fullsim": "black", "flash": "tab:red"}
    labels = {"fullsim": "reference detector (FullSim)", "flash": "FlashSim"}
    panels = 3 if pulls is not None else 2
    fig, axes = plt.subplots(panels, 1, sharex=True, figsize=(10, 10 + 2 * (panels - 2)),
                             gridspec_kw={"height_ratios": [3, 1, 1][:panels], "hspace": 0.06})
    ax, rax = axes[0], axes[1]
    edges = next(iter(hs.values())).axes[0].edges
    top = max((float(np.max(h.values() + np.sqrt(h.variances()))) for h in hs.values()), default=0.0)
    power = int(np.floor(np.log10(top))) if (top >= 1e4 and not log) else 0
    scale = 10.0**-power
    handles = []
    for src, h in hs.items():
        v, e = h.values() * scale, np.sqrt(h.variances()) * scale
        hep.histplot(v, edges, ax=ax, color=colors[src], label=labels[src])
        ax.fill_between(edges, np.append(v - e, 0), np.append(v + e, 0), step="post", color=colors[src], alpha=0.25)
        handles.append(Patch(color=colors[src], alpha=0.25, label=f"{labels[src]} ±1σ stat."))
    centers = 0.5 * (edges[1:] + edges[:-1])
    if {"flash", "fullsim"} <= hs.keys():
        fv, fe = hs["flash"].values(), np.sqrt(hs["flash"].variances())
        rv, re_ = hs["fullsim"].values(), np.sqrt(hs["fullsim"].variances())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rv > 0, fv / rv, np.nan)
            rband = np.where(rv > 0, re_ / rv, np.nan)
            fband = np.where(rv > 0, fe / rv, np.nan)
        lo, hi = RATIO_RANGE
        rax.fill_between(edges, np.append(1 - rband, 1), np.append(1 + rband, 1), step="post", color="gray", alpha=0.3)
        inside = (ratio >= lo) & (ratio <= hi)
        rax.errorbar(centers[inside], ratio[inside], yerr=fband[inside], fmt="o", color=colors["flash"], ms=4)
        for x, r in zip(centers[~inside & np.isfinite(ratio)], ratio[~inside & np.isfinite(ratio)]):
            y0, y1 = (hi - 0.12, hi - 0.01) if r > hi else (lo + 0.12, lo + 0.01)
            rax.annotate("", xy=(x, y1), xytext=(x, y0), arrowprops={"arrowstyle": "->", "color": colors["flash"], "lw": 2})
        rax.set_ylim(lo, hi)
    rax.axhline(1.0, color="black", lw=1)
    rax.set_ylabel("Flash / Full")
    if pulls is not None:
        pax = axes[2]
        pv = np.array([np.nan if p is None else p for p in pulls], float)
        pax.bar(centers, np.clip(pv, -4.5, 4.5), width=np.diff(edges), color="tab:blue", alpha=0.6)
        for y in (-2, 0, 2):
            pax.axhline(y, color="gray", lw=1, ls="--" if y else "-")
        pax.set_ylim(-5, 5)
        pax.set_ylabel("Pull")
    axes[-1].set_xlabel(next(iter(hs.values())).axes[0].label)
    ax.set_ylabel("Events / bin" + (f" [$\\times 10^{{{power}}}$]" if power else ""))
    if log:
        ax.set_yscale("log")
        low = min((float(np.min(h.values()[h.values() > 0])) for h in hs.values() if np.any(h.values() > 0)), default=1e-3)
        ax.set_ylim(0.3 * low, 50 * top * scale)
    else:
        ax.set_ylim(0, 1.5 * top * scale if top > 0 else 1.0)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_xlim(edges[0], edges[-1])
    hists_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*hists_handles, *handles], title=title, fontsize=14, title_fontsize=14, loc="upper right")
    ax.set_title(PLOT_LABEL, loc="left", fontsize=15)
    ax.set_title(f"{lumi_fb:g} fb$^{{-1}}$ (13.6 TeV)", loc="right", fontsize=15)
    if text:
        ax.text(0.03, 0.95, text, transform=ax.transAxes, fontsize=13, va="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return True


def yields_table(results: dict[str, dict], groups: dict[str, list[str]]) -> list[dict]:
    """Rows (source, sample, region, yield, error, entries) for every dataset and process group."""
    rows = []
    for src, result in results.items():
        names = {ds: [ds] for ds in result} | groups
        for sample, dss in names.items():
            cf, raw = group_hist(result, dss, "cutflow"), group_hist(result, dss, "cutflow_raw")
            if cf is None:
                continue
            for i, region in enumerate(cf.axes[0]):
                rows.append({"source": src, "sample": sample, "region": region, "yield": float(cf.values()[i]),
                             "error": float(np.sqrt(cf.variances()[i])), "entries": float(raw.values()[i])})
    return rows


def write_outputs(results: dict[str, dict], groups: dict[str, list[str]], out_dir: str | os.PathLike, name: str,
                  lumi_fb: float = DEFAULT_LUMI_FB, hists: list[str] | None = None,
                  regions: tuple[str, ...] = HIST_REGIONS) -> dict:
    """Plots (one PNG per histogram, region and process group), ``yields.md``/``yields.csv`` and
    ``summary.json`` (chi2/ndf and binned KS of flash vs FullSim) from ``{"flash"|"fullsim": output}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = yields_table(results, groups)
    with open(out / "yields.csv", "w") as f:
        f.write("source,sample,region,yield,error,entries\n")
        for r in rows:
            f.write(f"{r['source']},{r['sample']},{r['region']},{r['yield']:.6g},{r['error']:.6g},{r['entries']:.6g}\n")
    md = [f"# {name}: yields for {lumi_fb:g} fb^-1 (error: sqrt of the stored variance)", "",
          "| source | sample | region | yield | error | entries/K |", "|---|---|---|---:|---:|---:|"]
    md += [f"| {r['source']} | {r['sample']} | {r['region']} | {r['yield']:.4g} | {r['error']:.3g} | {r['entries']:.4g} |"
           for r in rows]
    (out / "yields.md").write_text("\n".join(md) + "\n")
    print("\n".join(md), flush=True)

    first = next(iter(results.values()), {})
    names = hists if hists is not None else (list(next(iter(first.values()))["hists"]) if first else [])
    summary: dict = {"analysis": name, "lumi_fb": lumi_fb, "groups": groups,
                     "ks": "max |F_flash - F_full| of the normalised binned cumulative distributions",
                     "chi2": "sum over bins of (flash - full)^2 / (var_flash + var_full), bins with var > 0",
                     "comparisons": {}, "plots": []}
    for group, dss in groups.items():
        for hname in names:
            per_src = {src: group_hist(res, dss, "hists", hname) for src, res in results.items()}
            per_src = {k: v for k, v in per_src.items() if v is not None}
            if not per_src:
                continue
            for region in regions:
                hs = {src: h[{"region": region}] for src, h in per_src.items()}
                path = out / "plots" / f"{name}_{group}_{region}_{hname}.png"
                if plot_comparison(hs, path, f"{group}, {region}", lumi_fb, log=hname in LOG_SCALE):
                    summary["plots"].append(os.fspath(path.relative_to(out)))
                if {"flash", "fullsim"} <= hs.keys():
                    summary["comparisons"][f"{group}/{region}/{hname}"] = compare(hs["flash"], hs["fullsim"])
    summary["yields"] = rows
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
