"""The seed analyses of the CMS FlashSim talk (VBF H->mumu, ZH->llbb) as coffea processors.

Modules, each importing only those above it: :mod:`~analyses.selection` (objects, event
variables, DNN features, weights), :mod:`~analyses.histograms` (specs, booking, cutflow),
:mod:`~analyses.dnn` (the DNN and its model card), :mod:`~analyses.analysis` (the
:class:`~analyses.analysis.Analysis` processor), :mod:`~analyses.running` (filesets, executors,
running), :mod:`~analyses.training` (training the DNN from a fileset), :mod:`~analyses.outputs`
(comparison, plots, yields), :mod:`~analyses.cli` (the command line); the analyses themselves
are :mod:`~analyses.vbf_hmumu` and :mod:`~analyses.zh_llbb`. :mod:`~analyses.statistics` (paired
chi2, pulls, effective statistics) and :mod:`~analyses.report` (the flash-vs-FullSim report with the
oversampling test, ``python analyses/report.py``) come on top.
"""
