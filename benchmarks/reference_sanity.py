"""Print the physics-sanity figures of the reference detector on cached samples.

Usage: python benchmarks/reference_sanity.py [--events 5000] [--seed 1] [--workers 2] [--dy FILE --ttbar FILE]

Generates (once, cached) DY and ttbar samples and prints: Z->mumu core width, prompt-muon
efficiency, DeepJet medium efficiencies per flavour, jet response and resolution, MET
resolution, the fraction of b / c / light jets with a secondary vertex, the FSR photons of Z -> mumu
(dy_mumu) events, the soft-drop mass peaks of top-, W- (ttbar_boosted) and H->bb-matched (zh_boosted)
fat jets. Ranges asserted by the slow test tests/test_reference_sanity.py are shown.
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
    # issue 23: jets (pT 30-100 GeV, |eta|<2.4) with >= 1 SV within dR < 0.4 (CMS-BTV-16-002)
    "SV fraction b jets (ttbar)": (0.55, 0.80),
    "SV fraction c jets (ttbar)": (0.20, 0.45),
    "SV fraction light jets (ttbar)": (0.0, 0.06),
    # issue 23: FSR photons of Z -> mumu events (dy_mumu; sanity.fsr_recovery): at the NanoAOD level, after
    # the CMS H -> ZZ cuts (CMS: ~5% of Z -> mumu events [mem] arXiv:1706.09936), their pT and the mass fix
    "FSR rate Z->mumu (NanoAOD cuts)": (0.08, 0.35),
    "FSR rate Z->mumu (H->ZZ cuts)": (0.03, 0.12),
    "FSR photon pT median [GeV] (H->ZZ cuts)": (3.0, 15.0),
    "FSR photon pT fraction 2-5 GeV (H->ZZ cuts)": (0.1, 0.6),
    "FSR events with m(mumu) nearer mZ (H->ZZ cuts)": (0.55, 1.0),
    # issue 23: soft-drop mass peaks of matched fat jets (sanity.fatjet_msd_peaks; JME-18-002, arXiv:2004.08262)
    "FatJet msoftdrop peak top-matched [GeV] (ttbar_boosted)": (160.0, 185.0),
    "FatJet msoftdrop peak W-matched [GeV] (ttbar_boosted)": (75.0, 90.0),
    "FatJet msoftdrop peak H->bb-matched [GeV] (zh_boosted)": (110.0, 135.0),
}


def figures(events: int, seed: int, workers: int, dy_file: str | None = None,
            tt_file: str | None = None, mumu_file: str | None = None, tt_boosted: list[str] | None = None,
            zh_boosted: list[str] | None = None) -> dict[str, float]:
    """Compute every figure of :data:`RANGES` on DY and ttbar samples (cached, or the files given)."""
    dy = uproot.open(dy_file or cache.sample("dy", events, seed, workers=workers))["Events"].arrays()
    tt = uproot.open(tt_file or cache.sample("ttbar", events, seed, workers=workers))["Events"].arrays()
    b = sanity.btag_efficiencies(tt)
    jr = sanity.jet_response(tt)
    met = sanity.met_resolution(tt)
    sv = sanity.sv_jet_fractions(tt)
    mumu = uproot.open(mumu_file or cache.sample("dy_mumu", events, seed, workers=workers))["Events"]
    fsr = sanity.fsr_recovery(mumu.arrays(filter_name=["Muon_*", "FsrPhoton_*"]))
    fat = ["FatJet_eta", "FatJet_phi", "FatJet_msoftdrop", "GenPart_pdgId", "GenPart_genPartIdxMother", "GenPart_eta",
           "GenPart_phi"]
    peaks = {
        name: sanity.fatjet_msd_peaks(uproot.concatenate(
            [f"{f}:Events" for f in (files or [cache.sample(name, events, seed, workers=workers)])], fat))
        for name, files in (("ttbar_boosted", tt_boosted), ("zh_boosted", zh_boosted))
    }
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
        "SV fraction b jets (ttbar)": sv["b"],
        "SV fraction c jets (ttbar)": sv["c"],
        "SV fraction light jets (ttbar)": sv["light"],
        "FSR rate Z->mumu (NanoAOD cuts)": fsr["rate"],
        "FSR rate Z->mumu (H->ZZ cuts)": fsr["rate_hzz"],
        "FSR photon pT median [GeV] (H->ZZ cuts)": fsr["pt_median"],
        "FSR photon pT fraction 2-5 GeV (H->ZZ cuts)": fsr["pt_frac_2_5"],
        "FSR events with m(mumu) nearer mZ (H->ZZ cuts)": fsr["improved"],
        "FatJet msoftdrop peak top-matched [GeV] (ttbar_boosted)": peaks["ttbar_boosted"]["top"],
        "FatJet msoftdrop peak W-matched [GeV] (ttbar_boosted)": peaks["ttbar_boosted"]["W"],
        "FatJet msoftdrop peak H->bb-matched [GeV] (zh_boosted)": peaks["zh_boosted"]["Hbb"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=5000, help="events per process (default 5000)")
    p.add_argument("--seed", type=int, default=1, help="sample seed (default 1)")
    p.add_argument("--workers", type=int, default=2, help="generation workers (default 2)")
    p.add_argument("--dy", default=None, help="an existing DY reference file instead of the cached sample")
    p.add_argument("--ttbar", default=None, help="an existing ttbar reference file instead of the cached sample")
    p.add_argument("--dy-mumu", default=None, help="an existing dy_mumu reference file instead of the cached sample")
    p.add_argument("--ttbar-boosted", nargs="+", default=None, help="existing ttbar_boosted reference files")
    p.add_argument("--zh-boosted", nargs="+", default=None, help="existing zh_boosted reference files")
    a = p.parse_args()
    bad = 0
    for name, value in figures(a.events, a.seed, a.workers, a.dy, a.ttbar, a.dy_mumu, a.ttbar_boosted,
                               a.zh_boosted).items():
        lo, hi = RANGES[name]
        ok = lo <= value <= hi
        bad += not ok
        print(f"{name:48s} {value:8.4f}   target [{lo:g}, {hi:g}]  {'ok' if ok else 'OUT'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
