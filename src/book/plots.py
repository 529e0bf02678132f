"""The house style for figures: horizontal bars for shares, diverging stacked bars for scales.

Figures are deterministic (fixed font, no timestamps or software stamps in
the files), saved as PNG (the book shows them; no SVG: nothing links to one),
and their plotted numbers go to ``figur_NN.csv`` beside the tables.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BAR = "#1f4e79"
# 5-point scale, negative to positive: two reds, a grey, two blues
DIVERGING = ["#b2182b", "#ef8a62", "#bdbdbd", "#67a9cf", "#2166ac"]


def _wrap(label: str, width: int = 48) -> str:
    return "\n".join(textwrap.wrap(str(label), width)) or str(label)


def share_bars(shares: pd.Series, xlabel: str = "Prosent", sort: bool = True, width: float = 7.0):
    """Horizontal bars of percentages (index = labels), value printed at each bar."""
    s = shares.sort_values() if sort else shares.iloc[::-1]
    labels = [_wrap(i) for i in s.index]
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    per_bar = 0.38 if lines <= 2 else 0.19 * lines  # labels wrapped on three lines or more need taller rows
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, per_bar * len(s) + 0.9))
        ax.barh(labels, s.to_numpy(float), color=BAR)
        for y, v in enumerate(s.to_numpy(float)):
            ax.text(v + 1, y, f"{v:.0f}", va="center", fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel(xlabel)
        fig.tight_layout()
    return fig


def diverging_bars(dist: pd.DataFrame, neutral: str | None = None, width: float = 8.0, xlabel: str = "Prosent"):
    """Stacked bars of a 5-point scale per item (rows = items, columns = options in scale order, percents).

    Negative options go left of zero, positive right; the neutral option is
    split across zero. Percentages of 4 or more are printed in the bars.
    """
    cols = list(dist.columns)
    mid = len(cols) // 2
    neutral = neutral or (cols[mid] if len(cols) % 2 else None)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, 0.6 * len(dist) + 1.5))
        labels = [_wrap(i, 44) for i in dist.index][::-1]
        values = dist.iloc[::-1].to_numpy(float)
        ys = np.arange(len(dist))
        left = -(values[:, :mid].sum(axis=1) + (values[:, mid] / 2 if neutral else 0))
        for k, col in enumerate(cols):
            v = values[:, k]
            ax.barh(ys, v, left=left, color=DIVERGING[k % len(DIVERGING)], label=col, height=0.7)
            for y, (l0, w) in enumerate(zip(left, v)):
                if w >= 4:
                    ax.text(
                        l0 + w / 2,
                        y,
                        f"{w:.0f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        zorder=4,
                        color="white" if k in (0, len(cols) - 1) else "black",
                    )
            left = left + v
        # the zero line behind the bars (it showed through the value labels), visible between them
        ax.axvline(0, color="black", linewidth=0.6, zorder=0)
        ax.set_yticks(ys, labels)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{abs(x):.0f}"))
        # legend at 9 pt: the PNG is shrunk to the A4 text column, where 7 pt became about 5 pt
        ax.legend(
            ncol=min(len(cols), 3),
            loc="lower center",
            bbox_to_anchor=(0.4, 1.02),
            frameon=False,
            fontsize=9,
            handlelength=1.0,
            columnspacing=1.0,
        )
        fig.tight_layout()
    return fig


def save(fig, name: str, folder: Path) -> dict[str, Path]:
    """Write ``name``.png without timestamps or software stamp; returns its path under "png"."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"png": folder / f"{name}.png"}
    with plt.rc_context(STYLE):
        fig.savefig(out["png"], dpi=150, metadata={"Software": None})
    return out


def comparison_bars(
    table: pd.DataFrame,
    item: str,
    study: str,
    categories: list[str],
    colors: list[str] | None = None,
    width: float = 8.0,
):
    """Stacked bars of shares, one panel per item, one bar per study inside it (e.g. 2007 beside 2024).

    ``table`` has a row per item and study (columns ``item`` and ``study`` name
    them) and a column per stacked category (percent). Each segment of 4 or
    more is printed in the bar and the sum at its end; the item labels are the
    panel titles, the studies the y labels, in the table's order.
    """
    colors = colors or [DIVERGING[4], DIVERGING[3]]
    items = list(dict.fromkeys(table[item]))
    studies = list(dict.fromkeys(table[study]))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(items), 1, sharex=True, squeeze=False, figsize=(width, (0.45 * len(studies) + 0.75) * len(items) + 0.6)
        )
        for ax, name in zip(axes[:, 0], items):
            part = table[table[item] == name].set_index(study).reindex(studies)
            ys = np.arange(len(studies))[::-1]
            left = np.zeros(len(studies))
            for k, cat in enumerate(categories):
                v = part[cat].to_numpy(float)
                ax.barh(
                    ys, v, left=left, color=colors[k % len(colors)], height=0.7, label=cat if ax is axes[0, 0] else None
                )
                for y, l0, w in zip(ys, left, v):
                    if w >= 4:
                        ax.text(
                            l0 + w / 2,
                            y,
                            f"{w:.0f}",
                            ha="center",
                            va="center",
                            fontsize=8,
                            color="white" if k == 0 else "black",
                        )
                left = left + v
            for y, total in zip(ys, left):
                ax.text(total + 1, y, f"{total:.0f}", va="center", fontsize=8, fontweight="bold")
            ax.set_yticks(ys, studies)
            ax.set_title(_wrap(name, 90), fontsize=9, loc="left")
            ax.set_xlim(0, 100)
        axes[-1, 0].set_xlabel("Prosent")
        fig.legend(loc="upper center", ncol=len(categories), frameon=False, fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def coefficient_plot(table: pd.DataFrame, alpha: float = 0.05, width: float = 10.0):
    """Regression estimates with confidence intervals, one panel per model (a coefficient plot).

    ``table`` has a row per model and term with columns ``Ledd`` (the term's
    label, the y axis), ``Variabel`` (terms of one variable are kept together,
    separated by a faint line), ``Modell`` (the panel title), ``Skala``
    ('skalapoeng': a line at 0, or 'oddsforhold': a log axis with a line at 1),
    ``Estimat``, ``KI nedre``, ``KI øvre`` and ``p``. Filled points are
    significant at ``alpha``, open points not. Panels share the y axis, in the
    table's order of terms and models; panels in scale points share the x axis.
    """
    terms = list(dict.fromkeys(table["Ledd"]))
    variables = [table.loc[table["Ledd"] == t, "Variabel"].iloc[0] for t in terms]
    models = list(dict.fromkeys(table["Modell"]))
    ys = np.arange(len(terms))[::-1]
    pos = dict(zip(terms, ys))
    points = table[table["Skala"] != "oddsforhold"]
    span = (float(points["KI nedre"].min()), float(points["KI øvre"].max())) if len(points) else (0.0, 0.0)
    pad = 0.05 * (span[1] - span[0] or 1.0)
    comma = matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}".replace(".", ",").replace("-", "\u2212"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(models), sharey=True, squeeze=False, figsize=(width, 0.28 * len(terms) + 1.5))
        for ax, name in zip(axes[0], models):
            part = table[table["Modell"] == name]
            odds = bool((part["Skala"] == "oddsforhold").all())
            y = np.array([pos[t] for t in part["Ledd"]])
            est = part["Estimat"].to_numpy(float)
            lo, hi = part["KI nedre"].to_numpy(float), part["KI øvre"].to_numpy(float)
            sig = part["p"].to_numpy(float) < alpha
            ax.axvline(1.0 if odds else 0.0, color="black", linewidth=0.6)
            ax.hlines(y, lo, hi, color=BAR, linewidth=1.2)
            ax.scatter(est[sig], y[sig], color=BAR, s=18, zorder=3)
            ax.scatter(est[~sig], y[~sig], facecolor="white", edgecolor=BAR, s=18, zorder=3)
            for k in range(1, len(terms)):
                if variables[k] != variables[k - 1]:
                    ax.axhline(ys[k] + 0.5, color="#d9d9d9", linewidth=0.5)
            if odds:
                ax.set_xscale("log")
                low, high = min(lo.min(), 1.0), max(hi.max(), 1.0)
                ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if low / 1.5 <= t <= high * 1.5]
                ax.set_xticks(ticks)
                ax.set_xlim(low / 1.15, high * 1.15)
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.set_xlabel("Oddsforhold (logaritmisk akse)")
            else:
                ax.set_xlim(span[0] - pad, span[1] + pad)
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
                ax.set_xlabel("Forskjell i skalapoeng (1–5)")
            ax.xaxis.set_major_formatter(comma)
            ax.set_title(_wrap(name, 30), fontsize=9, loc="left")
        axes[0, 0].set_yticks(ys, [_wrap(t, 46) for t in terms])
        axes[0, 0].set_ylim(-0.6, len(terms) - 0.4)
        fig.tight_layout()
    return fig
