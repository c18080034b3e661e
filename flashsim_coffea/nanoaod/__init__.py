"""NanoAOD as a format: the v12 schema table, statusFlags bits, derived fields, gen input and array helpers.

Imports nothing else of the project: the engine (:mod:`flashsim_coffea.sim`) and the reference
detector (:mod:`flashsim_coffea.reference`) both build on it.
"""
