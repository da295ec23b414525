"""How a behaviour cluster is described to editors: each distinctive feature by its label, never its code name.

The engine describes a cluster with code names (it knows no labels); the stored form keeps the numbers
(``feature``, ``value``, ``overall``, ``z``), so every screen and message words them here, one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tracking.features import feature_label


def _number(value: float) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00" for a rounding error below zero


def distinction_words(item: Mapping[str, Any]) -> str:
    """ "Share of clicks on deals (0–1) high (0.81 vs 0.27 overall)" for one stored distinction."""
    try:
        value, overall, z = float(item["value"]), float(item["overall"]), float(item["z"])
    except (KeyError, TypeError, ValueError):
        return str(item.get("text", ""))  # a distinction stored without its numbers: what it said then
    direction = "high" if z > 0 else "low"
    return f"{feature_label(str(item.get('feature', '')))} {direction} ({_number(value)} vs {_number(overall)} overall)"


def distinctions_words(items: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(distinction_words(item) for item in items)
