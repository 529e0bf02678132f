"""Layer 1, the ground: paths, the codebook, the reference files, numbers as the report prints them, disclosure rules, parameters and checksums. Imports nothing else from src."""
