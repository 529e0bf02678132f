"""Layer 7, the build (above the notebooks' facade, layer 6 = src/helpers.py): the records, the dependency graph, the command line, the benchmark."""
