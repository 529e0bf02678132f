"""The compendium's code, in layers from the ground up: base, data, analysis, synthetic, book, the notebooks' facade (helpers.py), build (README «What is where»)."""
