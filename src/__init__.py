"""The compendium's code, in layers from the ground up: base, data, analysis, synthetic, book, the notebooks' facade (helpers.py), build (docs/architecture.md)."""
