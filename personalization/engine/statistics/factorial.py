"""Multivariate (factorial) experiments: every combination of a few factors, and what each factor does.

An experiment may vary several of a variant's parameters at once (headline × call-to-action
label × image). ``combinations_from_factors`` turns the factors into the variants served, one
per combination, each with a stable slug key. ``factorial_analysis`` then reads one
``VariantSums`` per combination (visitors, Σy, Σy²) and fits the linear model of a visitor's
outcome on the factors, main effects and every interaction (the saturated two-way, three-way …
ANOVA model), by ordinary least squares on visitor-level outcomes.

No visitor is needed: the regressors are constant within a cell (a combination), so
X'X = Σ n_c x_c x_c' and X'y = Σ x_c Σy_c, and the residual sum of squares is the within-cell
sum of squares, Σ (Σy² − (Σy)²/n) over cells, plus the lack of fit between cells,
Σ n_c (ȳ_c − x_c'β)², which is 0 for the saturated model. So every estimate, standard error and
p-value below equals statsmodels' OLS on the visitor rows (checked to 1e-8 in the tests). For
a rate the outcome is 0/1 and the model is the linear probability model. Standard errors are
the classical pooled ones (``ols``) or, with ``covariance="hc2"``, heteroskedasticity-robust
HC2 ones, which in this saturated model give each combination its own variance, as Welch's
test does: also a function of each cell's n, Σy and Σy².

Coding. Each factor's first level is its baseline, and a term reads "level vs baseline", as
treatment coding does ("Free shipping vs Save 10 %: +1.2 points"). Pure treatment coding in a
model with interactions would make that main effect the effect *when every other factor sits
at its baseline* only; we use simple coding instead (dummy minus 1/k, for a factor with k
levels), whose main effect is the same contrast averaged, with equal weights, over the levels
of the other factors, and whose intercept is the mean of the cell means. An interaction term
A[a]:B[b] is (μ_ab − μ_a0 − μ_0b + μ_00) averaged over the remaining factors: how much more a
beats its baseline when B is b than when B is at its baseline. The coefficients are linear
combinations of the cell means, L·ȳ, with L = ⊗_f M_f (M_f: the average, then each level minus
the baseline), so a term is estimable exactly when it puts no weight on an empty cell.

Is the factorial model needed at all? The F-test for interactions compares the main-effects
model with the full one (a partial F-test): a small p-value says the best combination is not
simply the best level of each factor. Term p-values are fixed-horizon; each term also carries
an always-valid confidence sequence (``sequential``, Waudby-Smith et al.) and its p-value,
Holm-adjusted across the terms, on which the plain words decide, as the results verdict does.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import special

from .aggregates import METRIC_KINDS, MetricKind, VariantSums
from .frequentist import ALPHA, Effect
from .multiple import Correction, p_values_adjust
from .sequential import SEQUENTIAL_TUNING_DEFAULT, always_valid_p_value, confidence_sequence

ParamValue = str | int | float | bool
Covariance = Literal["classical", "hc2"]
COVARIANCES: tuple[Covariance, ...] = ("classical", "hc2")
MAX_COMBINATIONS = 64
KEY_PREFIX = "mvt"
KEY_MAX_LENGTH = 64  # Variant.key and VariantDay.variant_key are SlugField(max_length=64)
_DIGEST_LENGTH = 10  # hex digits: 40 bits, so two of 64 combinations collide with odds ~ 2e-9 (and we check)
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


class Combination(NamedTuple):
    """One combination of factor levels, served as a variant."""

    key: str  # "mvt-" + a digest of the levels: the same levels always give the same key
    levels: dict[str, ParamValue]  # factor -> level, in the factors' order
    params: dict[str, Any]  # the base parameters with each factor's level set


def _canonical(value: ParamValue) -> str:
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def _checked_factors(factors: Mapping[str, Sequence[ParamValue]]) -> dict[str, list[ParamValue]]:
    """Factors as lists, with the error naming the factor when one is not a usable list of levels."""
    if not isinstance(factors, Mapping) or not factors:
        raise ValueError("factors: at least one factor (a parameter name mapped to its levels)")
    checked: dict[str, list[ParamValue]] = {}
    for name, levels in factors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"factors: a factor's name must be a non-empty string, got {name!r}")
        if isinstance(levels, str | bytes) or not isinstance(levels, Sequence):
            raise ValueError(f"factors[{name!r}]: must be a list of levels, got {levels!r}")
        values = list(levels)
        for value in values:
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"factors[{name!r}]: a level must be finite, got {value!r}")
            if not isinstance(value, str | int | float | bool):
                raise ValueError(f"factors[{name!r}]: a level must be text or a number, got {value!r}")
        if len(values) < 2:
            raise ValueError(f"factors[{name!r}]: needs at least 2 levels, got {len(values)}")
        canonical = [_canonical(value) for value in values]
        if len(set(canonical)) != len(canonical):
            duplicated = next(values[i] for i, c in enumerate(canonical) if canonical.count(c) > 1)
            raise ValueError(f"factors[{name!r}]: the level {duplicated!r} is listed twice")
        checked[name] = values
    return checked


def _combination_count(factors: Mapping[str, Sequence[ParamValue]], limit: int) -> int:
    count = 1
    for name, levels in factors.items():
        count *= len(levels)
        if count > limit:
            sizes = " × ".join(str(len(levels)) for levels in factors.values())
            raise ValueError(
                f"factors[{name!r}]: {sizes} levels make more than {limit} combinations"
                f" (the limit is reached at {name!r}); drop a level or a factor"
            )
    return count


def combination_key(levels: Mapping[str, ParamValue], *, prefix: str = KEY_PREFIX) -> str:
    """The variant key of a combination: ``prefix`` and a digest of its (factor, level) pairs.

    The digest ignores the order of factors and of levels, so adding a level or a factor
    later leaves the keys (and the results) of the existing combinations unchanged.
    """
    if not _SLUG.match(prefix) or len(prefix) > KEY_MAX_LENGTH - _DIGEST_LENGTH - 1:
        raise ValueError(
            f"prefix: must be letters, digits, '-' or '_', at most {KEY_MAX_LENGTH - _DIGEST_LENGTH - 1}"
            f" characters, got {prefix!r}"
        )
    pairs = sorted((name, _canonical(value)) for name, value in levels.items())
    digest = hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()[:_DIGEST_LENGTH]
    return f"{prefix}-{digest}"


def combinations_from_factors(
    factors: Mapping[str, Sequence[ParamValue]],
    base_params: Mapping[str, Any] | None = None,
    *,
    prefix: str = KEY_PREFIX,
    max_combinations: int = MAX_COMBINATIONS,
) -> list[Combination]:
    """Every combination of the factors' levels, the first being every factor at its first level.

    ``factors`` maps a parameter name to its levels (e.g. ``{"headline": ["Save 10%", "Free
    shipping"], "cta_label": ["Buy", "Shop now"]}``); each combination's params are
    ``base_params`` with those parameters set. More than ``max_combinations`` raises a
    ValueError naming the factor at which the product passes the limit: each combination
    needs its share of traffic, and 64 cells already need a large site.
    """
    checked = _checked_factors(factors)
    _combination_count(checked, max_combinations)
    base = dict(base_params or {})
    combinations = []
    names = list(checked)
    for values in itertools.product(*checked.values()):
        levels = dict(zip(names, values, strict=True))
        combinations.append(Combination(combination_key(levels, prefix=prefix), levels, {**base, **levels}))
    keys = [c.key for c in combinations]
    if len(set(keys)) != len(keys):  # 40-bit digests: not expected in this universe, but never silent
        raise ValueError("factors: two combinations share a key; rename a level")
    return combinations


@dataclass(frozen=True, slots=True)
class FactorialCell:
    """One combination's aggregates: its levels (factor -> level) and its sums for one metric."""

    levels: Mapping[str, ParamValue]
    sums: VariantSums


@dataclass(frozen=True, slots=True)
class TermLevel:
    factor: str
    level: ParamValue
    baseline: ParamValue


@dataclass(frozen=True, slots=True)
class FactorialTerm:
    """A main effect (one factor's level vs its baseline) or an interaction of several.

    Figures are None when the term is not estimable (``reason`` says why) or its standard
    error is not (too few visitors to estimate the noise).
    """

    name: str  # "headline[Free shipping]" or "headline[Free shipping]:cta_label[Shop now]"
    levels: tuple[TermLevel, ...]
    estimable: bool
    reason: str | None = None
    estimate: float | None = None
    standard_error: float | None = None
    ci95: tuple[float, float] | None = None
    p_value: float | None = None  # fixed-horizon, two-sided t-test (statsmodels' OLS p-value)
    p_value_adjusted: float | None = None  # Holm (or the chosen correction) across the terms
    sequential_ci95: tuple[float, float] | None = None
    sequential_p_value: float | None = None  # always-valid, adjusted across the terms like p_value_adjusted

    @property
    def order(self) -> int:
        """1 for a main effect, 2 for a two-way interaction, …"""
        return len(self.levels)

    def as_contract(self) -> dict[str, Any]:
        return _json_safe(
            {
                "name": self.name,
                "kind": "main" if self.order == 1 else "interaction",
                "levels": [{"factor": t.factor, "level": t.level, "baseline": t.baseline} for t in self.levels],
                "estimable": self.estimable,
                "reason": self.reason,
                "estimate": self.estimate,
                "standard_error": self.standard_error,
                "ci95": _pair(self.ci95),
                "p_value": self.p_value,
                "p_value_adjusted": self.p_value_adjusted,
                "sequential_ci95": _pair(self.sequential_ci95),
                "sequential_p_value": self.sequential_p_value,
            }
        )


@dataclass(frozen=True, slots=True)
class InteractionTest:
    """All interactions at once: are they needed beyond the main effects?

    Classical: the partial F-test of the main-effects model against the full factorial one.
    HC2: the Wald F-test that every interaction coefficient is 0, on the robust covariance.
    """

    f_statistic: float | None
    df_numerator: int
    df_denominator: int
    p_value: float | None
    reason: str | None = None  # why there is no test (one factor, empty cells, too few visitors)

    def as_contract(self) -> dict[str, Any]:
        return _json_safe(
            {
                "f_statistic": self.f_statistic,
                "df_numerator": self.df_numerator,
                "df_denominator": self.df_denominator,
                "p_value": self.p_value,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True, slots=True)
class CellSummary:
    levels: dict[str, ParamValue]
    key: str | None
    visitors: int
    mean: float | None


@dataclass(frozen=True, slots=True)
class FactorialAnalysis:
    kind: MetricKind
    factors: dict[str, list[ParamValue]]
    cells: tuple[CellSummary, ...]
    intercept: float | None  # the mean of the cell means (None with an empty cell)
    terms: tuple[FactorialTerm, ...]
    interactions: InteractionTest
    visitors: int
    df_residual: int
    residual_variance: float | None
    correction: Correction
    alpha: float
    covariance: Covariance = "classical"

    def main_effects(self) -> tuple[FactorialTerm, ...]:
        return tuple(term for term in self.terms if term.order == 1)

    def as_contract(self) -> dict[str, Any]:
        return _json_safe(
            {
                "kind": self.kind,
                "coding": "simple: each level vs the factor's first level, averaged over the other factors' levels",
                "factors": [{"name": name, "levels": levels} for name, levels in self.factors.items()],
                "cells": [
                    {"key": c.key, "levels": c.levels, "visitors": c.visitors, "mean": c.mean} for c in self.cells
                ],
                "visitors": self.visitors,
                "intercept": self.intercept,
                "df_residual": self.df_residual,
                "residual_variance": self.residual_variance,
                "covariance": self.covariance,
                "correction": self.correction,
                "terms": [term.as_contract() for term in self.terms],
                "interaction_test": self.interactions.as_contract(),
            }
        )


def _pair(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [pair[0], pair[1]]


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = _finite(value)
    return safe


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a figure the data cannot support is None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _contrast_matrix(levels: int) -> np.ndarray:
    """M_f: row 0 the average over the levels, row j the level j minus the baseline."""
    matrix = np.zeros((levels, levels))
    matrix[0, :] = 1.0 / levels
    for j in range(1, levels):
        matrix[j, 0] = -1.0
        matrix[j, j] = 1.0
    return matrix


@functools.lru_cache(maxsize=32)
def simple_coding(sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(L, X) over the cells in ``itertools.product`` order: coefficients = L · cell means, X = L⁻¹.

    X is the design: row c the regressors of every visitor in cell c (column 0 the intercept,
    then each term in the same product order over (0 = average, j = level j) per factor).
    """
    contrast: np.ndarray = np.ones((1, 1))
    design: np.ndarray = np.ones((1, 1))
    for k in sizes:
        m = _contrast_matrix(k)
        contrast = np.kron(contrast, m)
        design = np.kron(design, np.linalg.inv(m))
    contrast.flags.writeable = design.flags.writeable = False  # cached: shared between calls
    return contrast, design


def _cell_arrays(
    cells: Sequence[FactorialCell], factors: dict[str, list[ParamValue]], kind: MetricKind
) -> tuple[list[VariantSums | None], np.ndarray, np.ndarray, np.ndarray]:
    """The cells in product order (None where no cell was given), with n, Σy and Σy² as arrays."""
    names = list(factors)
    index_of = [{_canonical(v): i for i, v in enumerate(levels)} for levels in factors.values()]
    sizes = [len(levels) for levels in factors.values()]
    ordered: list[VariantSums | None] = [None] * math.prod(sizes)
    for cell in cells:
        if set(cell.levels) != set(names):
            raise ValueError(f"cells: levels must name exactly the factors {names!r}, got {sorted(cell.levels)!r}")
        position = []
        for name, lookup in zip(names, index_of, strict=True):
            level = cell.levels[name]
            if _canonical(level) not in lookup:
                raise ValueError(f"cells: {level!r} is not a level of the factor {name!r}")
            position.append(lookup[_canonical(level)])
        flat = int(np.ravel_multi_index(position, sizes))
        if ordered[flat] is not None:
            raise ValueError(f"cells: the combination {dict(cell.levels)!r} is given twice")
        ordered[flat] = cell.sums.checked(kind)
    n = np.array([s.visitors if s else 0 for s in ordered], dtype=float)
    total = np.array([s.total if s else 0.0 for s in ordered])
    squares = np.array([s.squares(kind) if s else 0.0 for s in ordered])
    return ordered, n, total, squares


def factorial_analysis(
    cells: Sequence[FactorialCell],
    factors: Mapping[str, Sequence[ParamValue]],
    *,
    kind: MetricKind = "rate",
    alpha: float = ALPHA,
    tuning: float = SEQUENTIAL_TUNING_DEFAULT,
    correction: Correction = "holm",
    covariance: Covariance = "classical",
) -> FactorialAnalysis:
    """Main effects and interactions of ``factors`` from one ``FactorialCell`` per combination.

    A combination missing from ``cells`` counts as empty. ``tuning`` is the total sample at
    which the confidence sequences are tightest (the experiment's planned sample). Nothing here
    raises on thin data: a term the cells cannot support is returned with ``estimable`` False
    or its figures None, and the F-test with its reason.

    ``covariance`` "classical" pools the noise over every visitor (statsmodels' ``ols``
    default); "hc2" lets each combination keep its own spread (White's estimator with HC2
    leverage, which in this saturated model is exactly Var(ȳ_c) = s_c²/n_c, the variance
    Welch's test uses) and tests the interactions with the matching Wald F-test: the safer
    choice for a mean such as revenue, whose spread differs between combinations.
    """
    if kind not in METRIC_KINDS:
        raise ValueError(f"kind: must be one of {METRIC_KINDS}, got {kind!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance: must be one of {COVARIANCES}, got {covariance!r}")
    checked = _checked_factors(factors)
    sizes = [len(levels) for levels in checked.values()]
    ordered, n, total, squares = _cell_arrays(cells, checked, kind)
    observed = n > 0
    means = np.divide(total, n, out=np.zeros_like(total), where=observed)
    # Σ(y − ȳ_c)² per cell; rounding can leave a hair below 0 (VariantSums already rejected worse).
    within_cells = np.clip(squares - np.divide(total * total, n, out=np.zeros_like(total), where=observed), 0, None)
    within = float(within_cells.sum())
    visitors = int(n.sum())
    rank_full = int(observed.sum())
    df_residual = visitors - rank_full
    variance = within / df_residual if df_residual > 0 else None
    # Var(ȳ_c) per cell, NaN where the data cannot tell (no visitors, or one visitor under HC2).
    unknown = np.full_like(n, np.nan)
    if covariance == "hc2":
        mean_variances = np.divide(within_cells, n * (n - 1), out=unknown, where=n >= 2)
    elif variance is not None:
        mean_variances = np.divide(variance, n, out=unknown, where=observed)
    else:
        mean_variances = unknown

    contrast, design = simple_coding(tuple(sizes))
    raw_terms: list[tuple[tuple[int, ...], str, tuple[TermLevel, ...], np.ndarray]] = []
    factor_levels = list(checked.items())
    intercept: float | None = None
    for row, position in enumerate(itertools.product(*(range(k) for k in sizes))):
        weights = contrast[row]
        if row == 0:
            intercept = float(weights @ means) if observed.all() else None
            continue
        levels = tuple(
            TermLevel(name, values[j], values[0])
            for (name, values), j in zip(factor_levels, position, strict=True)
            if j > 0
        )
        name = ":".join(f"{t.factor}[{t.level}]" for t in levels)
        involved = tuple(f for f, j in enumerate(position) if j > 0)
        raw_terms.append(((len(involved), *involved, *position), name, levels, weights))
    # Main effects first, in the factors' order, then two-way interactions, …: the order an editor reads them in.
    raw_terms.sort(key=lambda term: term[0])

    terms = [
        _term(name, levels, weights, n, means, mean_variances, df_residual, visitors, tuning)
        for _, name, levels, weights in raw_terms
    ]
    terms = _adjusted(terms, correction)
    if covariance == "classical":
        interactions = _interaction_test(design, sizes, n, means, within, df_residual, rank_full)
    else:
        interactions = _interaction_wald(contrast, sizes, means, mean_variances, df_residual)
    summaries = tuple(
        CellSummary(
            dict(zip(checked, values, strict=True)),
            sums.key if sums is not None else None,
            int(count),
            float(mean) if count > 0 else None,
        )
        for values, sums, count, mean in zip(itertools.product(*checked.values()), ordered, n, means, strict=True)
    )
    return FactorialAnalysis(
        kind=kind,
        factors=checked,
        cells=summaries,
        intercept=intercept,
        terms=tuple(terms),
        interactions=interactions,
        visitors=visitors,
        df_residual=df_residual,
        residual_variance=variance,
        correction=correction,
        alpha=alpha,
        covariance=covariance,
    )


def _term(
    name: str,
    levels: tuple[TermLevel, ...],
    weights: np.ndarray,
    n: np.ndarray,
    means: np.ndarray,
    mean_variances: np.ndarray,
    df_residual: int,
    visitors: int,
    tuning: float,
) -> FactorialTerm:
    touched = weights != 0  # exact: the weights are products of 0, ±1 and 1/k
    empty = touched & (n == 0)
    if empty.any():
        count = int(empty.sum())
        return FactorialTerm(
            name,
            levels,
            estimable=False,
            reason=f"{count} of the combinations it compares {'has' if count == 1 else 'have'} no visitors yet",
        )
    estimate = float(weights[touched] @ means[touched])
    if df_residual <= 0 or np.isnan(mean_variances[touched]).any():
        return FactorialTerm(
            name, levels, estimable=True, reason="too few visitors to estimate the noise", estimate=estimate
        )
    se = math.sqrt(float((weights[touched] ** 2 * mean_variances[touched]).sum()))
    if se > 0:
        p_value = float(2 * special.stdtr(df_residual, -abs(estimate) / se))  # stats.t.sf, without its overhead
    else:
        # Every visitor in every cell had the same outcome as their cell: no noise at all.
        p_value = 1.0 if estimate == 0 else 0.0
    half = float(special.stdtrit(df_residual, 1 - ALPHA / 2)) * se
    effect = Effect(estimate, se, (estimate - half, estimate + half), p_value, float(df_residual), visitors)
    return FactorialTerm(
        name,
        levels,
        estimable=True,
        estimate=estimate,
        standard_error=se,
        ci95=effect.ci95,
        p_value=p_value,
        sequential_ci95=confidence_sequence(effect, tuning=tuning),
        sequential_p_value=always_valid_p_value(effect, tuning=tuning),
    )


def _adjusted(terms: list[FactorialTerm], correction: Correction) -> list[FactorialTerm]:
    """The fixed and always-valid p-values adjusted across the terms that have them."""
    tested = [i for i, term in enumerate(terms) if term.p_value is not None]
    fixed = p_values_adjust([terms[i].p_value or 0.0 for i in tested], correction)
    sequential = p_values_adjust([terms[i].sequential_p_value or 0.0 for i in tested], correction)
    adjusted = list(terms)
    for i, p, q in zip(tested, fixed, sequential, strict=True):
        adjusted[i] = dataclasses.replace(terms[i], p_value_adjusted=p, sequential_p_value=q)
    return adjusted


def _interaction_test(
    design: np.ndarray,
    sizes: Sequence[int],
    n: np.ndarray,
    means: np.ndarray,
    within: float,
    df_residual: int,
    rank_full: int,
) -> InteractionTest:
    """F = ((RSS_main − RSS_full) / Δdf) / (RSS_full / df_full), with RSS_full the within-cell SS."""
    if len(sizes) < 2:
        return InteractionTest(None, 0, max(df_residual, 0), None, "a single factor has no interactions")
    # The main-effects model's columns: the intercept and every term that involves one factor.
    positions = list(itertools.product(*(range(k) for k in sizes)))
    columns = [i for i, position in enumerate(positions) if sum(j > 0 for j in position) <= 1]
    observed = n > 0
    root = np.sqrt(n[observed])
    a = design[np.ix_(np.flatnonzero(observed), np.array(columns))] * root[:, None]
    b = means[observed] * root
    coefficients, _, rank_main, _ = np.linalg.lstsq(a, b, rcond=None)
    lack_of_fit = float(np.sum((a @ coefficients - b) ** 2))
    df_numerator = rank_full - int(rank_main)
    if df_numerator <= 0:
        return InteractionTest(None, 0, max(df_residual, 0), None, "some combinations have no visitors yet")
    if df_residual <= 0:
        return InteractionTest(None, df_numerator, 0, None, "too few visitors to estimate the noise")
    # The lack of fit is a sum of squares of residuals: below rounding relative to the spread of the means, it is 0.
    spread = float(np.sum(n[observed] * (means[observed] - np.average(means[observed], weights=n[observed])) ** 2))
    if lack_of_fit <= 1e-12 * spread:
        lack_of_fit = 0.0
    if within == 0:
        p = 1.0 if lack_of_fit == 0 else 0.0
        return InteractionTest(None, df_numerator, df_residual, p, "no variation within combinations")
    f_statistic = (lack_of_fit / df_numerator) / (within / df_residual)
    return InteractionTest(
        f_statistic, df_numerator, df_residual, float(special.fdtrc(df_numerator, df_residual, f_statistic))
    )


def _interaction_wald(
    contrast: np.ndarray, sizes: Sequence[int], means: np.ndarray, mean_variances: np.ndarray, df_residual: int
) -> InteractionTest:
    """The Wald F-test that every interaction is 0, on the per-combination (HC2) variances: b'V⁻¹b / q."""
    if len(sizes) < 2:
        return InteractionTest(None, 0, max(df_residual, 0), None, "a single factor has no interactions")
    positions = itertools.product(*(range(k) for k in sizes))
    rows = [i for i, position in enumerate(positions) if sum(j > 0 for j in position) >= 2]
    if np.isnan(mean_variances).any() or df_residual <= 0:
        return InteractionTest(
            None, len(rows), max(df_residual, 0), None, "every combination needs at least 2 visitors"
        )
    r = contrast[rows]
    b = r @ means
    v = (r * mean_variances) @ r.T
    q = len(rows)
    if np.linalg.matrix_rank(v) < q:
        return InteractionTest(None, q, df_residual, None, "no variation within some combinations")
    f_statistic = float(b @ np.linalg.solve(v, b)) / q
    return InteractionTest(f_statistic, q, df_residual, float(special.fdtrc(q, df_residual, f_statistic)))


def _points(value: float, kind: MetricKind, *, signed: bool = True) -> str:
    """+1.2 points for a rate (percentage points); +0.35 per visitor for a mean (the ± part without the unit)."""
    if kind == "rate":
        text = f"{value * 100:+.1f}" if signed else f"{abs(value) * 100:.1f}"
        return f"{text} points"
    digits = 2 if abs(value) < 10 else 1
    return f"{value:+.{digits}f} per visitor" if signed else f"{abs(value):.{digits}f}"


def factorial_words(analysis: FactorialAnalysis, *, labels: Mapping[str, str] | None = None) -> list[str]:
    """One sentence per factor level vs its baseline, and one on the interactions.

    E.g. "Headline: 'Free shipping' beats 'Save 10%' by +1.2 points (±0.8)". A level "beats"
    or "trails" only when its always-valid p-value, adjusted across the terms, is below α (so
    the editor may read this at any time); the ± is the half-width of the confidence sequence.
    """

    def label(factor: str) -> str:
        given = (labels or {}).get(factor)
        if given:
            return given
        words = factor.replace("_", " ")
        return words[:1].upper() + words[1:]

    kind = analysis.kind
    sentences = []
    for term in analysis.main_effects():
        (level,) = term.levels
        head = f"{label(level.factor)}: '{level.level}'"
        if term.estimate is None or term.sequential_ci95 is None:
            why = term.reason or "not enough data yet"
            sentences.append(f"{head} cannot be compared with '{level.baseline}' yet ({why}).")
            continue
        lo, hi = term.sequential_ci95
        spread = f"{_points(term.estimate, kind)} (±{_points((hi - lo) / 2, kind, signed=False)})"
        decided = term.sequential_p_value is not None and term.sequential_p_value < analysis.alpha
        if decided and term.estimate > 0:
            sentences.append(f"{head} beats '{level.baseline}' by {spread}.")
        elif decided and term.estimate < 0:
            sentences.append(f"{head} trails '{level.baseline}' by {spread}.")
        else:
            sentences.append(
                f"{label(level.factor)}: no clear difference between '{level.level}' and '{level.baseline}' yet,"
                f" {spread}."
            )
    test = analysis.interactions
    if test.p_value is None:
        if len(analysis.factors) > 1:
            sentences.append(f"Whether the factors interact cannot be tested yet: {test.reason}.")
    elif test.p_value < analysis.alpha:
        sentences.append(
            f"The factors interact (p = {test.p_value:.2g}): a level's effect depends on the other factors,"
            " so compare whole combinations rather than each factor alone."
        )
        served = [cell for cell in analysis.cells if cell.mean is not None]
        best = max(served, key=lambda cell: cell.mean or 0.0)
        levels = ", ".join(f"{label(factor)} '{level}'" for factor, level in best.levels.items())
        figure = f"{best.mean * 100:.1f} %" if kind == "rate" else f"{best.mean:.2f} per visitor"  # type: ignore[operator]
        sentences.append(f"The best combination so far: {levels} ({figure}).")
    else:
        sentences.append(
            f"No sign that the factors interact (p = {test.p_value:.2g}): each factor's effect can be read on its own."
        )
    return sentences
