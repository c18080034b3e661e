"""Print the physics-sanity figures of the reference detector on cached samples.

Usage: python benchmarks/reference_sanity.py [--events 5000] [--seed 1] [--workers 2] [--dy FILE --ttbar FILE]

Generates (once, cached) DY and ttbar samples and prints: Z->mumu core width, prompt-muon
efficiency, DeepJet medium efficiencies per flavour, jet response and resolution, MET
resolution. Ranges asserted by the slow test tests/test_reference_sanity.py are shown.
"""

from __future__ import annotations

import argparse

import uproot

from flashsim_coffea.reference import cache, sanity

RANGES = {
    "Z->mumu core width [GeV]": (1.0, 2.5),
    "prompt muon efficiency (pT>20, |eta|<2.4)": (0.95, 1.0),
    "b-tag eff b @0.2783": (0.75, 0.85),
    "b-tag eff c @0.2783": (0.10, 0.25),
    "b-tag eff light @0.2783": (0.0, 0.02),
    "jet response mean (pT>30, |eta|<2.5)": (0.98, 1.02),
    "jet resolution sigma68 (30-50 GeV, |eta|<1.3)": (0.10, 0.20),
    "MET resolution x [GeV] (ttbar)": (20.0, 35.0),
    "MET resolution y [GeV] (ttbar)": (20.0, 35.0),
}


def figures(events: int, seed: int, workers: int, dy_file: str | None = None,
            tt_file: str | None = None) -> dict[str, float]:
    """Compute every figure of :data:`RANGES` on DY and ttbar samples (cached, or the files given)."""
    dy = uproot.open(dy_file or cache.sample("dy", events, seed, workers=workers))["Events"].arrays()
    tt = uproot.open(tt_file or cache.sample("ttbar", events, seed, workers=workers))["Events"].arrays()
    b = sanity.btag_efficiencies(tt)
    jr = sanity.jet_response(tt)
    met = sanity.met_resolution(tt)
    return {
        "Z->mumu core width [GeV]": sanity.zmumu_core_width(dy),
        "prompt muon efficiency (pT>20, |eta|<2.4)": sanity.prompt_muon_efficiency(dy),
        "b-tag eff b @0.2783": b["b"],
        "b-tag eff c @0.2783": b["c"],
        "b-tag eff light @0.2783": b["light"],
        "jet response mean (pT>30, |eta|<2.5)": jr["mean_above_30"],
        "jet resolution sigma68 (30-50 GeV, |eta|<1.3)": jr["sigma68_30_50"],
        "MET resolution x [GeV] (ttbar)": met["x"],
        "MET resolution y [GeV] (ttbar)": met["y"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=5000, help="events per process (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="sample seed (default 1)")
    p.add_argument("--workers", type=int, default=2, help="generation workers (default 2)")
    p.add_argument("--dy", default=None, help="an existing DY reference file instead of the cached sample")
    p.add_argument("--ttbar", default=None, help="an existing ttbar reference file instead of the cached sample")
    a = p.parse_args()
    bad = 0
    for name, value in figures(a.events, a.seed, a.workers, a.dy, a.ttbar).items():
        lo, hi = RANGES[name]
        ok = lo <= value <= hi
        bad += not ok
        print(f"{name:48s} {value:8.4f}   target [{lo:g}, {hi:g}]  {'ok' if ok else 'OUT'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
