"""Layer 4, the synthetic export: generated from the report's numbers, calibrated against them with the analysis layer, and scored (fidelity)."""
