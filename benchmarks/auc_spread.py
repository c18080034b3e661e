"""Spread of one source's two-sample AUC over classifier seeds, and its null.

Usage: python benchmarks/auc_spread.py --models flashsim_coffea/models --source Photon_genelectron \
    --data vbf_hmumu_a.root ... [--replicas 4] [--seeds 10] [--seed 1]

``flashsim validate`` quotes one classifier (seed = the validation seed) per source. On a
sparse source (a few hundred FullSim objects) that AUC is one draw of a wide distribution.
This script simulates the source's collection once, as validate does (same seed and
replicas give the same flash tables), then prints the AUC for classifier seeds 0..N-1 and
the same classifier telling two disjoint flash subsets of the FullSim size apart (the
null: what a perfect simulation would show). Also prints per column W1/σ and means.

Example (vbf photons from gen electrons, 240k events):
    python benchmarks/auc_spread.py --models flashsim_coffea/models --source Photon_genelectron \
        --data vbf_hmumu_{a,b,c,d,e,f}.root --replicas 4
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from flashsim_coffea.sim.engine import FlashSim
from flashsim_coffea.train import extract
from flashsim_coffea.validate.report import auc_inputs, flash_like_fullsim, two_sample_auc, wasserstein_over_sigma


def feature_tables(models: str, source: str, files: list[str], seed: int, replicas: int) -> tuple:
    """(column names, flash rows, FullSim rows, their gen objects) of ``source``: the AUC classifier's inputs
    (:func:`~flashsim_coffea.validate.report.auc_inputs`)."""
    sim = FlashSim.load(models, collections=[source.split("_")[0]])
    if source not in sim.models:
        raise SystemExit(f"auc_spread: no model {source!r} in {models} (have {sorted(sim.models)})")
    src = sim.models[source].source
    data = extract.read(files)
    flash = flash_like_fullsim(data, sim, seed, replicas)
    return auc_inputs(src, extract.tables(flash, src)["pairs"], extract.tables(data, src)["pairs"])


def spread(flash: np.ndarray, ref: np.ndarray, seeds: int,
           groups: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AUCs flash vs FullSim and flash vs flash (disjoint subsets of len(ref) rows), per seed; ``groups``: the
    rows' gen objects, each kept in one half of a classifier's split
    (:func:`~flashsim_coffea.validate.report.balanced_halves`), in the null too (a gen object's replicas fall in
    both subsets)."""
    if len(flash) < 2 * len(ref):
        raise SystemExit(f"auc_spread: {len(flash)} flash rows, need 2 x {len(ref)} for the null")
    rng = np.random.default_rng(12345)
    auc, null = [], []
    for s in tqdm(range(seeds), desc="classifiers", unit="seed"):
        auc.append(two_sample_auc(flash, ref, s, groups))
        p = rng.permutation(len(flash))
        a, b = p[: len(ref)], p[len(ref) : 2 * len(ref)]
        null.append(two_sample_auc(flash[a], flash[b], s, None if groups is None else (groups[0][a], groups[0][b])))
    return np.array(auc), np.array(null)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, help="models directory")
    ap.add_argument("--source", required=True, help="source key, e.g. Photon_genelectron")
    ap.add_argument("--data", nargs="+", required=True, help="FullSim NanoAOD files")
    ap.add_argument("--replicas", type=int, default=4, help="flash replicas per gen event (K)")
    ap.add_argument("--seeds", type=int, default=10, help="classifier seeds 0..N-1")
    ap.add_argument("--seed", type=int, default=1, help="simulation seed (validate's default: 1)")
    a = ap.parse_args(argv)
    cols, flash, ref, groups = feature_tables(a.models, a.source, a.data, a.seed, a.replicas)
    print(f"{a.source}: FullSim {len(ref)} objects, flash {len(flash)} ({len(flash) / a.replicas:.1f} per replica)")
    auc, null = spread(flash, ref, a.seeds, groups)
    print(f"AUC flash vs FullSim, seeds 0-{a.seeds - 1}: {np.round(auc, 3).tolist()}")
    print(f"  mean {auc.mean():.3f} sd {auc.std():.3f}")
    print(f"AUC flash vs flash (null): mean {null.mean():.3f} sd {null.std():.3f}")
    for i, c in enumerate(cols):
        w1 = wasserstein_over_sigma(flash[:, i], ref[:, i])
        print(f"  {c:38s} W1/σ {w1:.3f}  mean FullSim {ref[:, i].mean():10.4f} flash {flash[:, i].mean():10.4f}")


if __name__ == "__main__":
    main()
