"""The house style's figures as pixels: what a reader sees in the PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.book import plots


def test_the_zero_line_of_a_diverging_chart_crosses_no_bar_and_no_label():
    """#27 (Figur 4, 5): the zero line ran through the grey neutral segment, beside its value label («12»). The
    neutral segment is centred on zero and the line is drawn behind the bars: in every bar, the pixel column at
    zero shows only the bar's colour and its label, never the line (it shows between the bars)."""
    scale = ["Helt uenig", "Delvis uenig", "Verken enig eller uenig", "Delvis enig", "Helt enig"]
    dist = pd.DataFrame(
        [[2, 4, 12, 28, 54], [5, 6, 22, 33, 34], [4, 4, 16, 35, 41]], columns=scale, index=["a", "b", "c"]
    )
    fig = plots.diverging_bars(dist)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    ax = fig.axes[0]
    height = pixels.shape[0]
    grey = np.array([int(plots.DIVERGING[2][i : i + 2], 16) for i in (1, 3, 5)])
    for y in range(len(dist)):
        x0, top = ax.transData.transform((0, y + 0.33))
        _, bottom = ax.transData.transform((0, y - 0.33))
        rows = range(int(height - top) + 1, int(height - bottom))
        column = pixels[list(rows), int(round(x0))]
        # the label (centred on zero) takes the middle of the bar; above and below it the bar's grey only
        edge = len(column) // 5
        for part in (column[:edge], column[-edge:]):
            assert (np.abs(part - grey).sum(axis=1) < 30).all(), f"bar {y}: the zero line shows through the bar"
    gap = ax.transData.transform((0, 0.5))  # between two bars the line is drawn
    assert pixels[int(height - gap[1]), int(round(gap[0]))].sum() < 3 * 120
