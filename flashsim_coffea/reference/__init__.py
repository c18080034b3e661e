"""The reference detector: Pythia 8 events and a parametric CMS-like detector written as NanoAOD (the embedded FullSim).

This package file stays light (the ``flashsim`` command line reads its defaults without
importing numpy or awkward).
"""

#: Default mean number of pileup interactions (Run-3-like profile, CMS notes section 1).
PILEUP_MU = 35.0
