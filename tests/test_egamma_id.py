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
