"""How Tailor states a lift, in the admin and in the terminal alike.

A lift is a relative change against a named baseline, always written as a signed percent
("+85 %", "-3.2 %": whole percents from 10 up, one decimal below, as the results verdicts have
always said it), never as a ratio ("1.85x"): an editor reading the Models screen, the results
dashboard, a verdict and ``simulate_traffic`` sees the same figure in the same words. The
formatting itself lives in the pure engine (``percent_words``) so that verdicts, written there,
share it. Callers that
hold a ratio (candidate value / baseline value) use ``lift_words``; callers that already hold the
relative change use ``change_words``.
"""

from __future__ import annotations

from personalization.engine.statistics.results import percent_words

NOT_ESTIMATED = "not estimated"


def change_words(change: float | None) -> str:
    """A relative change (0.85 for +85 %) as a signed percent; an em dash when there is none."""
    if change is None:
        return "—"
    return percent_words(change)


def lift_words(ratio: float | None, baseline: str = "") -> str:
    """A ratio to a baseline (1.85) as the lift over it ("+85 %", or "+85 % over uniform random").

    ``None`` (nothing to compare, or a baseline at or below zero, where a ratio means nothing) reads
    "not estimated".
    """
    if ratio is None:
        return NOT_ESTIMATED
    words = change_words(ratio - 1.0)
    return f"{words} over {baseline}" if baseline else words


def lift_ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is not above zero."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline
