"""Layer 3, analysis: the report's tests, the evaluation of measures.yml, weighting, the multivariable models, group sizes for suppression, group comparisons."""
