"""SRM's chi-squared against scipy; Holm and Benjamini-Hochberg against statsmodels' multipletests."""

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from personalization.engine.statistics import benjamini_hochberg, holm, p_values_adjust, sample_ratio_check


@pytest.mark.parametrize(
    ("visitors", "shares"),
    [
        ([5000, 5000], None),
        ([5200, 4800], None),
        ([900, 100], [9, 1]),
        ([3000, 3100, 2950], [1, 1, 1]),
        ([10, 0], None),
    ],
)
def test_srm_matches_scipy_chisquare(visitors, shares):
    result = sample_ratio_check(visitors, shares)
    total = sum(visitors)
    weights = shares or [1] * len(visitors)
    expected = [total * w / sum(weights) for w in weights]
    assert result.p_value == pytest.approx(stats.chisquare(visitors, expected).pvalue, rel=1e-9)


def test_srm_flags_a_52_48_split_of_20000_and_not_a_fair_one():
    assert sample_ratio_check([10400, 9600]).mismatch
    assert not sample_ratio_check([10050, 9950]).mismatch
    assert not sample_ratio_check([9000, 1000], [0.9, 0.1]).mismatch  # the configured split is honoured


def test_srm_rejects_bad_input_by_field():
    with pytest.raises(ValueError, match="visitors"):
        sample_ratio_check([0, 0])
    with pytest.raises(ValueError, match="visitors"):
        sample_ratio_check([10, -1])
    with pytest.raises(ValueError, match="shares"):
        sample_ratio_check([10, 10], [1.0])
    with pytest.raises(ValueError, match="shares"):
        sample_ratio_check([10, 10], [1.0, 0.0])


p_lists = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=12)


@given(p_lists)
def test_holm_matches_statsmodels(p_values):
    # statsmodels' Holm branch calls gc.collect(), 300 ms a call in a process holding Django: skipped, it computes nothing.
    with mock.patch("gc.collect"):
        reference = tuple(multipletests(p_values, method="holm")[1])
    assert holm(p_values) == pytest.approx(reference, abs=1e-12)


@given(p_lists)
def test_benjamini_hochberg_matches_statsmodels(p_values):
    assert benjamini_hochberg(p_values) == pytest.approx(tuple(multipletests(p_values, method="fdr_bh")[1]), abs=1e-12)


def test_adjustment_rejects_values_outside_zero_one_and_unknown_methods():
    with pytest.raises(ValueError, match="p_values"):
        holm([0.2, 1.5])
    with pytest.raises(ValueError, match="method"):
        p_values_adjust([0.2], "bonferroni")  # type: ignore[arg-type]
