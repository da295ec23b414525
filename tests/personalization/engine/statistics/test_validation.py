"""Bad aggregates fail at once with a ValueError that names the field, whatever the numbers."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personalization.engine.statistics import (
    PreExposureSums,
    VariantSums,
    experiment_compare,
    proportions_test,
    welch_test,
)

counts = st.integers(min_value=0, max_value=10**7)


@given(st.integers(max_value=-1))
def test_negative_visitors_are_refused(visitors):
    with pytest.raises(ValueError, match="^visitors"):
        VariantSums("a", visitors, 0)


@given(counts, st.integers(min_value=1, max_value=10**6))
def test_conversions_above_visitors_are_refused(visitors, excess):
    sums = VariantSums("a", visitors, visitors + excess)
    with pytest.raises(ValueError, match=r"^total: conversions .* exceed visitors"):
        experiment_compare(VariantSums("b", 10, 1), [sums], kind="rate")


@given(counts, st.integers(max_value=-1))
def test_negative_conversions_are_refused(visitors, conversions):
    with pytest.raises(ValueError, match="^total"):
        proportions_test(VariantSums("a", visitors, conversions), VariantSums("b", 10, 1))


@given(
    st.integers(min_value=2, max_value=10**6),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
    st.floats(min_value=1e-6, max_value=0.999),
)
def test_sums_implying_a_negative_variance_are_refused(n, total, fraction):
    # Σv² below (Σv)²/n is impossible for real values: the variance would be negative.
    squares = fraction * total * total / n
    with pytest.raises(ValueError, match="^total_squares: .*variance negative"):
        VariantSums("a", n, total, squares)


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_sums_are_refused(value):
    with pytest.raises(ValueError, match="^total"):
        VariantSums("a", 10, value, 1.0)
    with pytest.raises(ValueError, match="^pre.cross"):
        PreExposureSums(1.0, 1.0, value)


def test_a_rate_needs_a_visitor_and_a_mean_two():
    with pytest.raises(ValueError, match="^visitors"):
        proportions_test(VariantSums("a", 0, 0), VariantSums("b", 10, 1))
    with pytest.raises(ValueError, match="^visitors"):
        welch_test(VariantSums("a", 1, 3.0, 9.0), VariantSums("b", 10, 30.0, 100.0))


def test_a_mean_needs_its_sum_of_squares():
    with pytest.raises(ValueError, match="^total_squares"):
        welch_test(VariantSums("a", 10, 3.0), VariantSums("b", 10, 3.0, 9.0))


def test_covariate_squares_must_fit_the_covariate_total():
    with pytest.raises(ValueError, match="^pre.total_squares"):
        VariantSums("a", 10, 3.0, 9.0, PreExposureSums(total=100.0, total_squares=10.0, cross=5.0))


def test_non_integer_visitors_and_empty_keys_are_refused():
    with pytest.raises(ValueError, match="^visitors"):
        VariantSums("a", 10.5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^key"):
        VariantSums("", 10, 1)
