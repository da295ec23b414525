"""Per-variant sums: what the rollup tables hold and what every test here reads.

A variant's outcome is summarised by its visitors ``n``, the sum of their outcomes and the
sum of their squares (for a rate the outcome is 0 or 1, so both sums are the conversions).
CUPED adds the same sums for a pre-exposure covariate and the sum of products. Nothing here
sees a visitor: means, variances and covariances all follow from these sums, and a bad sum
(conversions above visitors, a variance below zero) fails here with the field's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["rate", "mean"]
METRIC_KINDS: tuple[MetricKind, ...] = ("rate", "mean")

# Sums of squares are accumulated in floating point by the rollup; a variance this far below
# zero (relative to the larger of Σv² and (Σv)²/n) is rounding, anything further is a wrong aggregate.
_ROUNDING = 1e-9


def _finite(field: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")


def _centered(field: str, n: int, total: float, squares: float) -> float:
    """Σ(v - mean)² from Σv and Σv², rejecting sums that imply a negative variance."""
    mean_square = total * total / n
    centered = squares - mean_square
    if centered < -_ROUNDING * max(abs(squares), mean_square):
        raise ValueError(
            f"{field}: {squares!r} is below sum²/n = {mean_square!r}, which would make the variance negative"
        )
    return max(centered, 0.0)


@dataclass(frozen=True, slots=True)
class PreExposureSums:
    """A pre-exposure covariate x over the same visitors: Σx, Σx² and Σxy (y the outcome)."""

    total: float
    total_squares: float
    cross: float

    def __post_init__(self) -> None:
        _finite("pre.total", self.total)
        _finite("pre.total_squares", self.total_squares)
        _finite("pre.cross", self.cross)
        if self.total_squares < 0:
            raise ValueError(f"pre.total_squares: must be >= 0, got {self.total_squares!r}")


@dataclass(frozen=True, slots=True)
class VariantSums:
    """One variant's aggregates for one metric.

    ``total`` is the conversions (rate) or the sum of values (mean); ``total_squares`` the
    sum of squared values, which a rate does not need (0² = 0 and 1² = 1). ``pre`` carries
    the CUPED covariate sums when the rollup has them.
    """

    key: str
    visitors: int
    total: float
    total_squares: float | None = None
    pre: PreExposureSums | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("key: must be a non-empty variant key")
        if isinstance(self.visitors, bool) or not isinstance(self.visitors, int):
            raise ValueError(f"visitors: must be an integer, got {self.visitors!r}")
        if self.visitors < 0:
            raise ValueError(f"visitors: must be >= 0, got {self.visitors}")
        _finite("total", self.total)
        if self.total_squares is not None:
            _finite("total_squares", self.total_squares)
            if self.total_squares < 0:
                raise ValueError(f"total_squares: must be >= 0, got {self.total_squares!r}")
            if self.visitors == 0 and (self.total != 0 or self.total_squares != 0):
                raise ValueError("total: must be 0 when visitors is 0")
            if self.visitors > 0:
                _centered("total_squares", self.visitors, self.total, self.total_squares)
        if self.pre is not None and self.visitors > 0:
            _centered("pre.total_squares", self.visitors, self.pre.total, self.pre.total_squares)

    @property
    def mean(self) -> float:
        """The rate or mean per visitor (0 with no visitors, where nothing has been observed)."""
        return self.total / self.visitors if self.visitors else 0.0

    def checked(self, kind: MetricKind) -> VariantSums:
        """Self, once the sums are valid for ``kind`` (a rate's conversions lie in 0..visitors)."""
        if kind not in METRIC_KINDS:
            raise ValueError(f"kind: must be one of {METRIC_KINDS}, got {kind!r}")
        if kind == "rate":
            if self.total < 0:
                raise ValueError(f"total: conversions must be >= 0, got {self.total!r}")
            if self.total > self.visitors:
                raise ValueError(f"total: conversions ({self.total!r}) exceed visitors ({self.visitors})")
        elif self.total_squares is None:
            raise ValueError("total_squares: a mean metric needs the sum of squared values")
        return self

    def variance(self, kind: MetricKind) -> float:
        """Per-visitor variance: p(1 - p) for a rate, the sample variance (n - 1) for a mean."""
        self.checked(kind)
        n = self.visitors
        if kind == "rate":
            if n == 0:
                raise ValueError("visitors: a rate needs at least 1 visitor")
            p = self.total / n
            return p * (1.0 - p)
        if n < 2:
            raise ValueError(f"visitors: a mean's variance needs at least 2 visitors, got {n}")
        return _centered("total_squares", n, self.total, self.squares(kind)) / (n - 1)

    def squares(self, kind: MetricKind) -> float:
        """Σy², which a rate does not store (y² = y for 0/1 outcomes)."""
        if kind == "rate":
            return self.total
        if self.total_squares is None:
            raise ValueError("total_squares: a mean metric needs the sum of squared values")
        return self.total_squares
