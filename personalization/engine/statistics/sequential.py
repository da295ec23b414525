"""Always-valid inference: intervals an editor may read after every visitor without inflating errors.

Tailor implements the asymptotic confidence sequences of Waudby-Smith, Wu, Ramdas,
Karampatziakis and Lindon, "Time-uniform central limit theory and asymptotic confidence
sequences" (Annals of Statistics, 2024; arXiv:2103.06476), the method GrowthBook's
sequential testing also uses. For an estimate whose standard error is ``se`` after ``n``
visitors, let s² = n·se² (the per-visitor variance of the effect); the two-sided (1 - α)
confidence sequence is

    estimate ± s · sqrt( 2(nρ² + 1) / (n²ρ²) · log( sqrt(nρ² + 1) / α ) )        (their eq. 9)

and, with probability at least 1 - α asymptotically, it covers the true effect at EVERY n
at once, so stopping the first time it excludes 0 keeps the false-positive rate at α. The
price is width: at any single n it is wider than the fixed-horizon interval.

The tuning parameter ρ sets the sample size at which the sequence is tightest; it is given
here as that sample, ``tuning`` = n* (total visitors over all compared arms), and
ρ = sqrt((-2 log α + log(-2 log α + 1)) / n*) (their eq. 161). The default n* = 5,000 is
GrowthBook's; pass the experiment's planned sample when it is known. Any n* keeps the
guarantee; a good guess only makes the interval narrower near that sample.
"""

from __future__ import annotations

import math

from .frequentist import ALPHA, Effect

SEQUENTIAL_TUNING_DEFAULT = 5000


def sequential_rho(tuning: float = SEQUENTIAL_TUNING_DEFAULT, alpha: float = ALPHA) -> float:
    if tuning <= 0:
        raise ValueError(f"tuning: the planned sample must be > 0, got {tuning!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    log_term = -2 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1)) / tuning)


def sequential_halfwidth(
    standard_error: float, n: int, *, tuning: float = SEQUENTIAL_TUNING_DEFAULT, alpha: float = ALPHA
) -> float:
    """Half-width of the confidence sequence at ``n`` visitors for an estimate with ``standard_error``."""
    if n <= 0:
        raise ValueError(f"n: the confidence sequence needs at least 1 visitor, got {n}")
    if standard_error < 0 or not math.isfinite(standard_error):
        raise ValueError(f"standard_error: must be a finite number >= 0, got {standard_error!r}")
    rho2 = sequential_rho(tuning, alpha) ** 2
    s = standard_error * math.sqrt(n)
    growth = n * rho2 + 1
    return s * math.sqrt(2 * growth / (n * n * rho2) * math.log(math.sqrt(growth) / alpha))


def confidence_sequence(
    effect: Effect, *, tuning: float = SEQUENTIAL_TUNING_DEFAULT, alpha: float = ALPHA
) -> tuple[float, float]:
    """The always-valid (1 - α) interval for ``effect`` at its current sample."""
    half = sequential_halfwidth(effect.standard_error, effect.n, tuning=tuning, alpha=alpha)
    return (effect.estimate - half, effect.estimate + half)


def always_valid_p_value(effect: Effect, *, tuning: float = SEQUENTIAL_TUNING_DEFAULT, alpha: float = ALPHA) -> float:
    """1 / e-value of the mixture martingale (their eq. 155): below α exactly when the sequence excludes 0.

    ρ is fixed by ``tuning`` and ``alpha``, so the p-value and the interval agree at that α.
    """
    if effect.standard_error == 0:
        return 1.0 if effect.estimate == 0 else 0.0
    rho2 = sequential_rho(tuning, alpha) ** 2
    n = effect.n
    growth = n * rho2 + 1
    z2 = (effect.estimate / effect.standard_error) ** 2  # n·estimate² / s², with s² = n·se²
    log_e = rho2 * n * z2 / (2 * growth) - 0.5 * math.log(growth)
    return min(1.0, math.exp(-log_e))
