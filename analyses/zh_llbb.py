"""ZH -> llbb (dimuon channel): the CMS FlashSim seed analysis, FlashSim vs reference detector.

Muons: pT > 20 GeV, |eta| < 2.4, pfRelIso04_all < 0.25, mediumId; two of opposite charge.
Jets: pT > 20 GeV, |eta| < 2.5, puId > 0, jetId > 0, dR > 0.4 from the selected muons.
Signal region: DeepFlavB(leading jet) > 0.27 (medium), 75 <= m_ll < 105, 90 < m_jj < 150
(leading two muons, leading two jets).

Usage: ``python analyses/zh_llbb.py --fullsim --flash --oversample 4 --events 2000``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``analyses`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses.analysis import Analysis
from analyses.cli import main
from analyses.selection import BTAG_MEDIUM


class ZHllbb(Analysis):
    """ZH -> mumu bb selection, histograms, cutflow and DNN score."""

    name = "zh_llbb"
    signal = "zh_llbb"
    jet_pt = 20.0
    jet_eta = 2.5
    cut_names = ("2mu_os", "2jets", "btag_j1", "m_ll", "sr")
    ranges = {"m_ll": (30, 60.0, 120.0), "m_jj": (40, 0.0, 400.0), "eta_j1": (25, -2.5, 2.5), "eta_j2": (25, -2.5, 2.5)}

    def cuts(self, var: dict[str, np.ndarray]) -> list[np.ndarray]:
        with np.errstate(invalid="ignore"):
            return [
                var["os_dimuon"],
                var["njets"] >= 2,
                var["btag_j1"] > BTAG_MEDIUM,
                (var["m_ll"] >= 75) & (var["m_ll"] < 105),
                (var["m_jj"] > 90) & (var["m_jj"] < 150),
            ]


if __name__ == "__main__":
    main(ZHllbb)
