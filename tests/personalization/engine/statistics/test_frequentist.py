"""Fixed-horizon tests from sums agree with statsmodels run on the raw visitor rows, and with gbstats' published cases."""

import numpy as np
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from personalization.engine.statistics import (
    VariantSums,
    mean_interval,
    moments,
    proportions_test,
    rate_interval,
    relative_difference,
    welch_df,
    welch_test,
)


def sums_of(key, values):
    values = np.asarray(values, dtype=float)
    return VariantSums(key, len(values), float(values.sum()), float((values**2).sum()))


@pytest.mark.parametrize(
    ("na", "ca", "nb", "cb"),
    [(1000, 50, 1000, 65), (20000, 1000, 19500, 1100), (57, 3, 80, 12), (300, 150, 310, 120)],
)
def test_proportions_test_matches_statsmodels(na, ca, nb, cb):
    effect = proportions_test(VariantSums("a", na, ca), VariantSums("b", nb, cb))

    _, p_value = proportions_ztest([cb, ca], [nb, na])  # pooled variance under the null
    lo, hi = confint_proportions_2indep(cb, nb, ca, na, method="wald", compare="diff")
    assert effect.estimate == pytest.approx(cb / nb - ca / na, abs=1e-15)
    assert effect.p_value == pytest.approx(p_value, rel=1e-9)
    assert effect.ci95 == pytest.approx((lo, hi), rel=1e-9)
    assert effect.df is None
    assert effect.n == na + nb


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_test_matches_statsmodels_on_raw_rows(seed):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(1.0, 1.0, size=800)
    b = rng.lognormal(1.1, 1.4, size=650)  # unequal variances and sizes: where Welch differs from Student

    effect = welch_test(sums_of("a", a), sums_of("b", b))

    t_stat, p_value, df = ttest_ind(b, a, usevar="unequal")
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(usevar="unequal")
    assert effect.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert effect.estimate / effect.standard_error == pytest.approx(t_stat, rel=1e-8)
    assert effect.df == pytest.approx(df, rel=1e-8)
    assert effect.p_value == pytest.approx(p_value, rel=1e-7)
    assert effect.ci95 == pytest.approx((lo, hi), rel=1e-8)


@pytest.mark.parametrize(("n", "c"), [(100, 0), (100, 3), (1000, 480), (50, 50), (7, 2)])
def test_rate_interval_is_wilson(n, c):
    assert rate_interval(VariantSums("a", n, c)) == pytest.approx(
        proportion_confint(c, n, alpha=0.05, method="wilson"), abs=1e-12
    )


def test_mean_interval_is_students_t():
    values = np.random.default_rng(4).normal(3.0, 2.0, size=40)
    assert mean_interval(sums_of("a", values)) == pytest.approx(DescrStatsW(values).tconfint_mean(), rel=1e-9)


# Published cases of GrowthBook's gbstats (packages/stats/tests/frequentist/test_tests.py, TestTwoSidedTTest):
# relative lift by the delta method with a Welch t quantile, and the absolute difference.
GB_A = VariantSums("a", 3407, 1396.87, 52377.9767)
GB_B = VariantSums("b", 3461, 2422.7, 134698.29)


def test_gbstats_two_sided_ttest_relative():
    a, b = moments(GB_A, "mean"), moments(GB_B, "mean")
    lift = relative_difference(a, b, df=welch_df(a, b))
    assert lift is not None
    assert round(lift.estimate, 5) == 0.70732
    assert round(lift.standard_error, 5) == 0.37879
    assert tuple(round(x, 5) for x in lift.ci95) == (-0.03526, 1.44989)
    assert round(lift.p_value, 5) == 0.06191


def test_gbstats_two_sided_ttest_absolute():
    effect = welch_test(GB_A, GB_B)
    assert round(effect.estimate, 5) == 0.29
    assert round(effect.standard_error, 5) == 0.12478
    assert tuple(round(x, 5) for x in effect.ci95) == (0.04538, 0.53462)
    assert round(effect.p_value, 5) == 0.02016


def test_gbstats_binomial_relative_lift_and_stddev():
    # TestTwoSidedTTest.test_two_sided_ttest_binom: uplift mean 0.06667, stddev 0.2717 for 14/28 vs 16/30.
    lift = relative_difference(moments(VariantSums("a", 28, 14), "rate"), moments(VariantSums("b", 30, 16), "rate"))
    assert lift is not None
    assert round(lift.estimate, 5) == 0.06667
    assert round(lift.standard_error, 4) == 0.2717


def test_relative_lift_interval_covers_the_truth_95_percent_of_the_time():
    """The delta-method interval for p_B / p_A - 1 is calibrated at the sample sizes experiments reach."""
    rng = np.random.default_rng(7)
    n, p_a, p_b, runs = 5000, 0.05, 0.06, 4000
    ca = rng.binomial(n, p_a, size=runs)
    cb = rng.binomial(n, p_b, size=runs)
    covered = 0
    for x, y in zip(ca, cb, strict=True):
        lift = relative_difference(
            moments(VariantSums("a", n, int(x)), "rate"), moments(VariantSums("b", n, int(y)), "rate")
        )
        assert lift is not None
        covered += lift.ci95[0] <= p_b / p_a - 1 <= lift.ci95[1]
    assert 0.935 <= covered / runs <= 0.965


def test_relative_lift_is_undefined_without_control_conversions():
    assert (
        relative_difference(moments(VariantSums("a", 100, 0), "rate"), moments(VariantSums("b", 100, 4), "rate"))
        is None
    )


def test_identical_outcomes_everywhere_give_no_difference():
    effect = proportions_test(VariantSums("a", 100, 0), VariantSums("b", 100, 0))
    assert effect.estimate == 0
    assert effect.p_value == 1.0
