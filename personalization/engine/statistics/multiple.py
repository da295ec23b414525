"""Multiple comparisons: p-values adjusted for looking at several variants × metrics at once.

Holm's step-down method controls the family-wise error rate (the chance of even one false
"winner") and is uniformly more powerful than Bonferroni; Benjamini and Hochberg's step-up
method controls the false discovery rate (the expected share of false winners among those
declared), the gentler choice for many metrics. Both return adjusted p-values in the input's
order, comparable to the same α as a single test (``statsmodels`` ``multipletests`` "holm"
and "fdr_bh").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

Correction = Literal["holm", "bh", "none"]


def _checked(p_values: Sequence[float]) -> list[float]:
    values = [float(p) for p in p_values]
    for p in values:
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ValueError(f"p_values: each must lie in [0, 1], got {p!r}")
    return values


def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm-Bonferroni adjusted p-values."""
    values = _checked(p_values)
    m = len(values)
    order = sorted(range(m), key=values.__getitem__)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return tuple(adjusted)


def benjamini_hochberg(p_values: Sequence[float]) -> tuple[float, ...]:
    """Benjamini-Hochberg adjusted p-values (q-values)."""
    values = _checked(p_values)
    m = len(values)
    order = sorted(range(m), key=values.__getitem__, reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for position, index in enumerate(order):
        rank = m - position
        running = min(running, m * values[index] / rank)
        adjusted[index] = running
    return tuple(adjusted)


def p_values_adjust(p_values: Sequence[float], method: Correction = "holm") -> tuple[float, ...]:
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return tuple(_checked(p_values))
    raise ValueError(f"method: must be 'holm', 'bh' or 'none', got {method!r}")
