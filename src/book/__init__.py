"""Layer 5, presentation: tables, words for prose, figures, group comparisons, captions, the scorecard and sensitivity appendices, rendering the book."""
