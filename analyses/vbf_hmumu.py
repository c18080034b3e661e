"""VBF H -> mumu: the CMS FlashSim seed analysis, FlashSim vs reference detector.

Muons: pT > 20 GeV, |eta| < 2.4, pfRelIso04_all < 0.25, mediumId; two of opposite charge.
Jets: pT > 25 GeV, |eta| < 4.7, puId > 0, jetId > 0, dR > 0.4 from the selected muons.
Signal region: 115 < m_mumu < 135, pT(j1) > 35, pT(j2) > 25, m_jj > 150, |deta_jj| > 2
(leading two muons, leading two jets).

Usage: ``python analyses/vbf_hmumu.py --fullsim --flash --oversample 4 --events 2000``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``analyses`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses.analysis import Analysis
from analyses.cli import main


class VBFHmumu(Analysis):
    """VBF H -> mumu selection, histograms, cutflow and DNN score."""

    name = "vbf_hmumu"
    signal = "vbf_hmumu"
    jet_pt = 25.0
    jet_eta = 4.7
    cut_names = ("2mu_os", "2jets", "m_ll", "jet_pt", "m_jj", "sr")
    ranges = {"m_ll": (40, 100.0, 180.0), "m_jj": (40, 0.0, 2000.0)}

    def cuts(self, var: dict[str, np.ndarray]) -> list[np.ndarray]:
        with np.errstate(invalid="ignore"):
            return [
                var["os_dimuon"],
                var["njets"] >= 2,
                (var["m_ll"] > 115) & (var["m_ll"] < 135),
                (var["pt_j1"] > 35) & (var["pt_j2"] > 25),
                var["m_jj"] > 150,
                var["deta_jj"] > 2,
            ]


if __name__ == "__main__":
    main(VBFHmumu)
