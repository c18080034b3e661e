"""The seed analyses of the CMS FlashSim talk (VBF H->mumu, ZH->llbb) as coffea processors."""
