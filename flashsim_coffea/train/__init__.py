"""Training from any FullSim NanoAOD: extraction, matching, mirror images and the one training loop."""
