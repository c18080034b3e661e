"""The simulation path: the engine, the models-folder format, the networks, the ODE and the random keys.

Imports only :mod:`flashsim_coffea.nanoaod` and :mod:`flashsim_coffea.specs` of the project.
"""
