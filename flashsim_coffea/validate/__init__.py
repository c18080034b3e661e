"""Validation of trained models against FullSim: metrics, reports, plots and the throughput bench."""
