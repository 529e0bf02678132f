"""Numbers as the report prints them (its rounding, decimal comma, thin-space thousands, p-values), and a reproduced number against the printed one."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from src.base.disclosure import Hidden


def round_half_up(x: float, ndigits: int = 0) -> float:
    """Round as the report (SPSS/Excel) does: halves away from zero."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return x
    if not np.isfinite(float(x)):  # a numpy NaN or infinity that is not a Python float
        return float(x)
    if abs(float(x)) >= 1e15:  # beyond a double's decimals (and Decimal's 28-digit quantize: InvalidOperation,
        return float(x)  # #28: a test statistic that explodes in a tiny sample): already whole
    q = Decimal(1).scaleb(-ndigits)
    return float(Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP))


def round_as_report(x: float, ndigits: int = 0) -> float:
    """The report's rounding of percentages: to one more decimal first, then half up.

    Every percentage in the report's count tables is the count/base rounded to
    one decimal and then to a whole number (e.g. 78/2233 = 3.49 % -> 3.5 -> 4),
    which is why Tabell 8's column sums to 102. The book prints whole numbers
    the same way; the CSV files keep the unrounded values.
    """
    return round_half_up(round_half_up(x, ndigits + 1), ndigits)


def fmt_number(x, decimals: int = 0, lang: str = "nb") -> str:
    """A number as the report prints it (decimal comma in Norwegian, thin space thousands).

    Whole numbers are rounded as the report rounds them (``round_as_report``).
    """
    if isinstance(x, Hidden):  # a number resting on fewer than min_cell respondents: not published
        return str(x)
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return ("ja" if x else "nei") if lang == "nb" else ("yes" if x else "no")
    if isinstance(x, str):
        return x
    r = round_as_report(float(x), 0) if decimals == 0 else round_half_up(float(x), decimals)
    text = f"{r:,.{decimals}f}"
    if lang == "nb":
        text = text.replace(",", "\u202f").replace(".", ",")
    if text.startswith("-"):  # a minus sign, not a hyphen (and no «−0» for a negative that rounds to zero)
        text = "\u2212" + text[1:] if text.strip("-0,.\u202f") else text[1:]
    return text


def fmt_p(p: float, lang: str = "nb") -> str:
    """A p-value as the report (and SPSS) prints it: «,012», and «< ,001» for what SPSS shows as ,000."""
    if p < 0.001:
        return "< ,001" if lang == "nb" else "< .001"
    text = f"{round_half_up(float(p), 3):.3f}"
    text = text[1:] if text.startswith("0") else text
    return text.replace(".", ",") if lang == "nb" else text


def status_of(entry: dict, reproduced) -> str:
    """'ok', 'avvik' (outside tolerance), 'inconsistent' (outside it where the report contradicts itself) or 'mangler'."""
    if reproduced is None or (isinstance(reproduced, float) and np.isnan(reproduced)):
        return "mangler"
    if entry.get("unit") == "verdict":
        ok = bool(reproduced) == bool(entry["value"])
    elif entry.get("bound") in ("lower", "upper"):  # 'over 70 prosent', 'i underkant av 10 prosent'
        value, printed = float(reproduced), float(entry["value"])
        ok = value >= printed if entry["bound"] == "lower" else value <= printed
    else:
        value, printed = float(reproduced), float(entry["value"])
        ok = abs(value - printed) <= float(entry["tolerance"]) + 1e-9
        if not ok and entry.get("unit") == "percent" and float(entry["tolerance"]) == 0.5:
            ok = round_as_report(value) == printed  # the report's own rounding (see round_as_report)
    if ok:
        return "ok"
    return "inconsistent" if entry.get("flag") == "inconsistent" else "avvik"
