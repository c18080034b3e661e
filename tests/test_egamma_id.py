"""nanoaod.egamma_id: the cut flows' input handling (the thresholds are tested on the reference's samples in
tests/test_reference_egamma_fields.py and on the flash fields in tests/test_flash_lepton_fields.py)."""

import numpy as np
import pytest

from flashsim_coffea.nanoaod import egamma_id


@pytest.mark.parametrize("fn", [egamma_id.electron_cut_levels, egamma_id.heep_cut_bits, egamma_id.photon_cut_levels])
def test_an_input_no_cut_reads_is_named(fn):
    with pytest.raises(TypeError, match=rf"{fn.__name__}: unknown inputs \['sieie_typo'\]"):
        fn(np.array([0.3]), sieie=np.array([0.01]), sieie_typo=np.array([0.01]))


def test_only_the_cuts_whose_inputs_are_all_given_are_computed():
    eta = np.array([0.3, 2.0])
    # H/E needs e_sc and rho besides hoe: without them the cut is left out, not computed from defaults
    lv = egamma_id.electron_cut_levels(eta, hoe=np.array([0.01, 0.01]), pt=np.array([40.0, 3.0]))
    assert sorted(lv) == [0, 1]
    assert lv[0].tolist() == [4, 0] and lv[1].tolist() == [4, 4]
    lv = egamma_id.electron_cut_levels(eta, hoe=np.array([0.01, 0.01]), e_sc=np.array([50.0, 50.0]),
                                       rho=np.array([20.0, 20.0]))
    assert sorted(lv) == [1, 5]
    bits = egamma_id.heep_cut_bits(eta, e2x5=np.array([0.5, 0.5]))
    assert sorted(bits) == [1]  # e2x5 alone: the shower-shape cut also reads e1x5
    lv = egamma_id.photon_cut_levels(np.abs(eta), nh=np.array([0.1, 5.0]), pt=np.array([30.0, 30.0]))
    assert sorted(lv) == [0, 5]
    # endcap nh 5 GeV at 30 GeV: loose only (medium's cut 2.718 + 0.0117 pT + 2.3e-5 pT^2 = 3.09 GeV)
    assert lv[5].tolist() == [3, 1]


@pytest.mark.parametrize("sample", ["v12_file", "tt_sample"])
def test_real_and_reference_electrons_sit_at_reachable_levels_only(sample, request):
    """CMS v12 electrons and the reference detector's have no cut level its WPs cannot give (the H/E cut's
    veto and loose WPs are one threshold: no H/E level 1), so moving levels to reachable ones changes none
    of them; their track sums are 0 or at least their least track's pT, which :func:`egamma_id.track_sum`
    leaves unchanged."""
    import awkward as ak
    import uproot

    a = uproot.open(request.getfixturevalue(sample))["Events"].arrays(
        ["Electron_vidNestedWPBitmap", "Electron_eta", "Electron_deltaEtaSC", "Electron_pt",
         *(f"Electron_{k}" for k in egamma_id.TRACK_SUM_PT_MIN)])
    for k in egamma_id.TRACK_SUM_PT_MIN:
        v = ak.to_numpy(ak.flatten(a[f"Electron_{k}"]))
        assert np.sum(v > 0) > 10 and np.array_equal(egamma_id.track_sum(k, v), v), k
    bitmap = ak.to_numpy(ak.flatten(a.Electron_vidNestedWPBitmap)).astype(np.int64)
    eta_sc = ak.to_numpy(ak.flatten(a.Electron_eta + a.Electron_deltaEtaSC))
    levels = egamma_id.unpack_vid(bitmap, len(egamma_id.ELECTRON_CUTS), 3)
    assert len(levels) > 100
    assert np.array_equal(egamma_id.electron_snap_levels(levels, eta_sc), levels)
    barrel = np.abs(eta_sc) <= 1.479
    assert {0, 4} <= set(levels[barrel, 5]) and 1 not in set(levels[:, 5])
