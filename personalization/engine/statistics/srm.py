"""Sample-ratio mismatch: did visitors split between variants as the experiment said they would?

A chi-squared goodness-of-fit test of the exposed visitors per variant against the configured
shares. A mismatch means something other than the coin decided who was counted where (a
variant that fails to render or to send its impression, bots, a redirect that loses
visitors), so every comparison is suspect whatever it says. Flagged at p < 0.001, the
threshold GrowthBook and most platforms use: with many experiments watched continuously a
looser one would cry wolf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SampleRatio:
    p_value: float
    mismatch: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]


def sample_ratio_check(
    visitors: Sequence[int], shares: Sequence[float] | None = None, *, threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """Chi-squared test of ``visitors`` per arm against ``shares`` (any positive weights; None = equal)."""
    if len(visitors) < 2:
        raise ValueError("visitors: a split needs at least two arms")
    for count in visitors:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"visitors: counts must be integers >= 0, got {count!r}")
    total = sum(visitors)
    if total == 0:
        raise ValueError("visitors: no visitors yet, nothing to check")
    weights = [1.0] * len(visitors) if shares is None else [float(share) for share in shares]
    if len(weights) != len(visitors):
        raise ValueError(f"shares: {len(weights)} shares for {len(visitors)} arms")
    if any(not (math.isfinite(w) and w > 0) for w in weights):
        raise ValueError(f"shares: every share must be a finite number > 0, got {list(weights)!r}")
    scale = total / sum(weights)
    expected = tuple(w * scale for w in weights)
    statistic = sum((o - e) ** 2 / e for o, e in zip(visitors, expected, strict=True))
    p_value = float(stats.chi2.sf(statistic, len(visitors) - 1))
    return SampleRatio(p_value, p_value < threshold, tuple(visitors), expected)
