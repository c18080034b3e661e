"""Validation figures: flash vs FullSim with ratio panels (mplhep CMS style).

:func:`source_figures` draws the figures of one source and :func:`field_figure` every field of a
collection (:mod:`.fields`) that :func:`flashsim_coffea.validate.report.validate` writes next to
its ``validation.json``.

Example:
    >>> import shutil, tempfile
    >>> from flashsim_coffea.specs.source import Source
    >>> src = Source("Muon", "genmuon", candidates="GenMuon", conditioning=[],
    ...              targets={"pt": {"kind": "plain"}, "eta": {"kind": "plain"}})
    >>> rng = np.random.default_rng(1)
    >>> full = {"pt": rng.normal(40, 10, 1000), "eta": rng.normal(0, 1, 1000)}
    >>> flash = {"pt": rng.normal(41, 10, 4000), "eta": rng.normal(0, 1, 4000)}  # 4 replicas
    >>> result = {"eff_vs_pt": {"edges": [10, 20, 50, 1e9], "fullsim": [0.90, 0.95, 0.97], "flash": [0.88, 0.95, 0.98],
    ...                         "fullsim_err": [0.01] * 3, "flash_err": [0.005] * 3}}
    >>> out = Path(tempfile.mkdtemp())
    >>> paths = source_figures(result, src, full, flash, out, flash_scale=1 / 4)
    >>> [p.name for p in paths], all(p.stat().st_size > 0 for p in paths)
    (['Muon_genmuon_efficiency.png', 'Muon_genmuon_variables.png'], True)
    >>> fields = {"single": {"pt": {"auc": 0.52, "err": 0.01}, "eta": {"auc": 0.5, "err": 0.01}}}
    >>> field_figure("Muon", fields, full, flash, out, flash_scale=1 / 4).name
    'Muon_fields.png'
    >>> shutil.rmtree(out)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLASH, FULL = "FlashSim", "FullSim (reference)"


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9,
                         "xtick.labelsize": 9, "ytick.labelsize": 9})
    return plt


def _pair(fig, spec):
    top = fig.add_subplot(spec[0])
    bottom = fig.add_subplot(spec[1], sharex=top)
    top.tick_params(labelbottom=False)
    return top, bottom


def _ratio(bottom, edges, num, den, num_err, den_err):
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
        e = np.abs(r) * np.hypot(num_err / np.where(num > 0, num, 1), den_err / np.where(den > 0, den, 1))
    e = np.nan_to_num(e, nan=0.0, posinf=0.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    bottom.errorbar(centres, r, yerr=e, fmt="o", ms=2, color="tab:red")
    bottom.axhline(1, color="k", lw=0.8)
    bottom.set_ylim(0.5, 1.5)
    bottom.set_ylabel("flash / full", fontsize=8)


def _hist_panel(top, bottom, a: np.ndarray, b: np.ndarray, name: str, a_scale: float = 1.0):
    lo, hi = np.nanpercentile(b, [0.5, 99.5]) if len(b) else (0, 1)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 41)
    ha = np.histogram(np.clip(a, lo, hi), edges)[0].astype(float)
    hb = np.histogram(np.clip(b, lo, hi), edges)[0].astype(float)
    top.stairs(hb, edges, color="k", label=FULL)
    top.stairs(ha * a_scale, edges, color="tab:red", label=FLASH)
    top.set_ylabel("objects", fontsize=8)
    top.set_title(name, fontsize=9)
    _ratio(bottom, edges, ha * a_scale, hb, np.sqrt(ha) * a_scale, np.sqrt(hb))


def _panel_grid(plt, panels: list[tuple[np.ndarray, np.ndarray, str]], ncol: int, cell: tuple[float, float],
                space: tuple[float, float], title: str, path: Path, dpi: int, flash_scale: float) -> Path:
    """One figure of distribution + ratio panels (:func:`_hist_panel`), ``ncol`` a row, saved to ``path``.

    ``panels``: (flash values, FullSim values, panel title); ``cell``: inches per panel (width, height);
    ``space``: the grid's (hspace, wspace). The first panel carries the legend."""
    from matplotlib.gridspec import GridSpec

    nrow = (len(panels) + ncol - 1) // ncol
    fig = plt.figure(figsize=(cell[0] * ncol, cell[1] * nrow))
    outer = GridSpec(nrow, ncol, figure=fig, hspace=space[0], wspace=space[1])
    for i, (a, b, name) in enumerate(panels):
        inner = outer[i // ncol, i % ncol].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        top, bottom = _pair(fig, inner)
        _hist_panel(top, bottom, a, b, name, flash_scale)
        if i == 0:
            top.legend(fontsize=7)
    fig.suptitle(title, y=1.0)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def source_figures(result: dict, src, ref_pairs: dict, flash_pairs: dict, out: Path,
                   flash_scale: float = 1.0) -> list[Path]:
    """Efficiency vs pT (if any) and every target variable of one source; returns the PNG paths.

    ``flash_scale`` weights the flash objects (1/K for K replicas per gen event).
    """
    plt = _style()
    from matplotlib.gridspec import GridSpec

    paths = []
    if "eff_vs_pt" in result:
        e = result["eff_vs_pt"]
        edges = np.array(e["edges"], float)
        edges[-1] = max(edges[-2] * 2, 1000)
        fig = plt.figure(figsize=(5, 5))
        top, bottom = _pair(fig, GridSpec(2, 1, height_ratios=[3, 1], hspace=0.05))
        for key, color, lab in (("fullsim", "k", FULL), ("flash", "tab:red", FLASH)):
            centres = 0.5 * (edges[1:] + edges[:-1])
            top.errorbar(centres, e[key], yerr=np.nan_to_num(np.abs(e[f"{key}_err"])), fmt="o", ms=3, color=color,
                         label=lab)
        top.set_xscale("log")
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        for ax in (top, bottom):  # plain GeV labels; minor log ticks unlabelled (they overlap)
            ax.set_xticks([10, 20, 50, 100, 200, 500])
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        top.set_ylabel("efficiency")
        top.set_title(f"{src.key}: reconstruction efficiency", fontsize=10)
        top.legend()
        _ratio(bottom, edges, np.array(e["flash"], float), np.array(e["fullsim"], float),
               np.array(e["flash_err"], float), np.array(e["fullsim_err"], float))
        bottom.set_xlabel("gen $p_T$ [GeV]")
        p = out / f"{src.key}_efficiency.png"
        fig.savefig(p, dpi=80, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    names = [t for t in src.targets if t in ref_pairs and t in flash_pairs]
    if names:
        panels = [(np.asarray(flash_pairs[n], float), np.asarray(ref_pairs[n], float), n) for n in names]
        paths.append(_panel_grid(plt, panels, 4, (4, 3.6), (0.45, 0.35), f"{src.key}: reco variables, flash vs FullSim",
                                 out / f"{src.key}_variables.png", 60, flash_scale))
    return paths


#: panels of :func:`field_figure` at most (the fields with the largest single-variable AUC first).
MAX_FIELD_PANELS = 48


def field_figure(coll: str, result: dict, ref_cols: dict, flash_cols: dict, out: Path,
                 flash_scale: float = 1.0) -> Path | None:
    """Every compared field of collection ``coll`` (:func:`flashsim_coffea.validate.fields.compare` ``result``),
    flash vs FullSim with ratio panels, titled with its single-variable AUC, the most different first."""
    from flashsim_coffea.validate.fields import encode

    single = result.get("single") or {}
    names = sorted(single, key=lambda k: -single[k]["auc"])[:MAX_FIELD_PANELS]
    if not names:
        return None
    ref, flash = encode(ref_cols), encode(flash_cols)
    panels = [(flash[n][np.isfinite(flash[n])], ref[n][np.isfinite(ref[n])], f"{n}  AUC {single[n]['auc']:.3f}")
              for n in names]
    return _panel_grid(_style(), panels, 6, (3.4, 3.2), (0.5, 0.4),
                       f"{coll}: every field, flash vs FullSim (single-variable AUC)", out / f"{coll}_fields.png", 50,
                       flash_scale)
