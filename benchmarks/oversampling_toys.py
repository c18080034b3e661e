"""Toy check of the oversampled-histogram errors: bin spread across toys vs quoted error.

Usage: python benchmarks/oversampling_toys.py [--toys 300] [--K 10] [--events 2000] [--seed 1]

Each toy draws N ~ Poisson(events) gen events, x ~ Exponential(1) with weight w ~ U(0.5, 1.5),
and "simulates" each K times with a smearing shared in scale by the replicas of one gen event,
reco = x * (1 + N(0, 0.1)), so replicas often fall in the same bin. The same flash events fill
one histogram with ``fill_oversampled`` (correlated-bin errors, arXiv:2402.13684) and one with
naive per-entry weights w/K (variance sum (w/K)^2). Over toys, per well-populated bin:
spread (std) of the bin content / mean quoted error. Correct errors give 1; the naive ones
underestimate it. Exits 1 if the correlated ratio is outside 1.00 +- 0.05 or the naive one is
not above 1.1.
"""

from __future__ import annotations

import argparse

import hist
import numpy as np
from tqdm import tqdm

from flashsim_coffea.oversampling import fill_oversampled

RESOLUTION = 0.1
TOLERANCE = 0.05


def new_hist() -> hist.Hist:
    return hist.Hist(hist.axis.Regular(20, 0.0, 4.0, name="reco"), storage=hist.storage.Weight())


def run_toys(toys: int, k: int, events: int, seed: int) -> dict[str, np.ndarray]:
    """Bin values and quoted errors (flow bins included) per toy, for both error methods."""
    rng = np.random.default_rng(seed)
    shape = (toys, new_hist().axes[0].extent)
    out = {name: np.zeros(shape) for name in ("value", "err_corr", "err_naive")}
    for t in tqdm(range(toys), desc="toys", unit="toy"):
        n = rng.poisson(events)
        x = rng.exponential(1.0, n)
        w = rng.uniform(0.5, 1.5, n)
        gen = np.repeat(np.arange(n), k)
        reco = np.repeat(x, k) * (1.0 + rng.normal(0.0, RESOLUTION, n * k))
        wk = np.repeat(w, k)
        corr = fill_oversampled(new_hist(), reco=reco, gen_event=gen, replicas=k, weight=wk)
        naive = new_hist().fill(reco=reco, weight=wk / k)
        vc, vn = corr.view(flow=True), naive.view(flow=True)
        if not np.allclose(vc["value"], vn["value"], rtol=1e-10, atol=1e-12):
            raise AssertionError("bin contents of the two fills differ")
        out["value"][t] = vc["value"]
        out["err_corr"][t] = np.sqrt(vc["variance"])
        out["err_naive"][t] = np.sqrt(vn["variance"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--toys", type=int, default=300, help="independent toy samples (default 300)")
    p.add_argument("--K", type=int, default=10, help="replicas per gen event (default 10)")
    p.add_argument("--events", type=int, default=2000, help="mean gen events per toy, Poisson (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--min-content", type=float, default=20.0,
                   help="bins used: mean content over toys >= this (default 20)")
    p.add_argument("--verbose", action="store_true", help="print the per-bin table")
    a = p.parse_args()
    if a.toys < 2 or a.K < 1 or a.events < 1:
        p.error("need --toys >= 2, --K >= 1, --events >= 1")

    r = run_toys(a.toys, a.K, a.events, a.seed)
    spread = r["value"].std(axis=0, ddof=1)
    mean = r["value"].mean(axis=0)
    used = mean >= a.min_content
    if not used.any():
        p.error("no bin passes --min-content")
    ratio_corr = spread[used] / r["err_corr"].mean(axis=0)[used]
    ratio_naive = spread[used] / r["err_naive"].mean(axis=0)[used]
    if a.verbose:
        print(f"{'bin':>4} {'mean':>9} {'spread':>8} {'err corr':>9} {'err naive':>9} {'r corr':>7} {'r naive':>7}")
        for b, (m, s, ec, en) in enumerate(zip(mean, spread, r["err_corr"].mean(0), r["err_naive"].mean(0))):
            if used[b]:
                print(f"{b:4d} {m:9.2f} {s:8.3f} {ec:9.3f} {en:9.3f} {s / ec:7.3f} {s / en:7.3f}")

    rc, rn = float(ratio_corr.mean()), float(ratio_naive.mean())
    print(f"toys={a.toys}  K={a.K}  mean gen events/toy={a.events} (Poisson)  seed={a.seed}  "
          f"bins used={int(used.sum())} (mean content >= {a.min_content:g}, flow bins included)")
    print(f"per-bin toy scatter of a ratio ~ 1/sqrt(2(toys-1)) = {1 / np.sqrt(2 * (a.toys - 1)):.3f}; "
          f"scatter of the per-bin correlated ratios = {ratio_corr.std(ddof=1):.3f}")
    print(f"mean over bins of spread/quoted error, correlated (fill_oversampled): {rc:.3f}   target 1.00 +- {TOLERANCE}")
    print(f"mean over bins of spread/quoted error, naive per-entry (w/K)^2:        {rn:.3f}   (> 1: errors too small)")
    ratio = (r["err_corr"] / np.where(r["err_naive"] > 0, r["err_naive"], np.inf)).mean(0)[used].mean()
    print(f"mean error ratio correlated/naive: {float(ratio):.3f}")
    bad = 0
    if abs(rc - 1.0) > TOLERANCE:
        print(f"FAIL: correlated ratio {rc:.3f} outside 1.00 +- {TOLERANCE}")
        bad = 1
    if a.K > 1 and rn <= 1.1:
        print(f"FAIL: naive ratio {rn:.3f} not clearly above 1")
        bad = 1
    print("OK" if not bad else "FAILED")
    return bad


if __name__ == "__main__":
    raise SystemExit(main())
