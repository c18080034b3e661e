"""The PF jet ID (nanoaod/jet_id.py): the reference detector's and CMS's written ``jetId`` are the formula of the
written fields within abs(eta) 2.7, and flash jets carry the ID their own fractions give."""

from __future__ import annotations

import awkward as ak
import numpy as np
import uproot

from flashsim_coffea.nanoaod.jet_id import WRITTEN_ETA_MAX, jet_id_written

FIELDS = ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "nConstituents", "jetId")


def _written(jets: dict) -> np.ndarray:
    return jet_id_written(*(jets[f] for f in FIELDS[:-1]), learnt=jets["jetId"])


def test_written_jet_id_is_the_formula_of_the_written_fields(tt_sample, v12_file):
    for path, share in ((tt_sample, 1.0), (v12_file, 0.99)):
        t = uproot.open(path)["Events"]
        c = {f: np.concatenate(t[f"Jet_{f}"].array(library="np")) for f in FIELDS}
        central = np.abs(c["eta"]) <= WRITTEN_ETA_MAX
        assert central.sum() > 1000 and 0 < np.mean(c["jetId"][central] == 0) < 0.5
        assert np.mean(_written(c)[central] == c["jetId"][central]) >= share, path
        assert np.array_equal(_written(c)[~central], c["jetId"][~central])  # beyond: the value given


def test_flash_jets_carry_the_id_of_their_fractions(tiny_sim, tt_gen):
    jets = tiny_sim.simulate(tt_gen, seed=5, replicas=2).Jet
    c = {f: ak.to_numpy(ak.flatten(jets[f])) for f in FIELDS}
    central = np.abs(c["eta"]) <= WRITTEN_ETA_MAX
    assert central.sum() > 500 and {0, 6} <= set(np.unique(c["jetId"][central])) <= {0, 2, 6}
    assert np.array_equal(_written(c)[central], c["jetId"][central])
    assert c["jetId"].dtype == np.uint8
