"""CUPED from sums equals the ANCOVA regression y ~ arm + x that statsmodels fits on the raw rows."""

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from personalization.engine.statistics import PreExposureSums, VariantSums, cuped_adjust, difference


def arm(key, x, y):
    return VariantSums(
        key,
        len(y),
        float(y.sum()),
        float((y**2).sum()),
        PreExposureSums(float(x.sum()), float((x**2).sum()), float((x * y).sum())),
    )


def world(rng, n, effect):
    x = rng.gamma(2.0, 2.0, size=n)  # pre-period value per visitor
    y = 1.0 + 0.8 * x + effect + rng.normal(0, 2.0, size=n)
    return x, y


def test_adjusted_difference_and_theta_equal_the_ancova_fit():
    rng = np.random.default_rng(5)
    xa, ya = world(rng, 1500, 0.0)
    xb, yb = world(rng, 1400, 0.3)
    adjustment = cuped_adjust([arm("a", xa, ya), arm("b", xb, yb)], "mean")
    effect = difference(*adjustment.moments)

    treated = np.r_[np.zeros(len(ya)), np.ones(len(yb))]
    design = add_constant(np.column_stack([treated, np.r_[xa, xb]]))
    fit = OLS(np.r_[ya, yb], design).fit(cov_type="HC0")
    assert adjustment.theta == pytest.approx(fit.params[2], rel=1e-9)
    assert effect.estimate == pytest.approx(fit.params[1], rel=1e-9)
    # Unequal-variance standard errors from sums vs the robust regression's: same up to (n - 1) / n terms.
    assert effect.standard_error == pytest.approx(fit.bse[1], rel=0.01)


def test_variance_reduction_is_the_squared_correlation():
    rng = np.random.default_rng(6)
    xa, ya = world(rng, 20000, 0.0)
    xb, yb = world(rng, 20000, 0.0)
    adjustment = cuped_adjust([arm("a", xa, ya), arm("b", xb, yb)], "mean")
    rho = np.corrcoef(np.r_[xa, xb], np.r_[ya, yb])[0, 1]
    assert adjustment.variance_reduction(0, 1) == pytest.approx(rho**2, abs=0.01)


def test_a_useless_covariate_changes_almost_nothing():
    rng = np.random.default_rng(8)
    ya, yb = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000)
    xa, xb = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000)
    adjustment = cuped_adjust([arm("a", xa, ya), arm("b", xb, yb)], "mean")
    assert abs(adjustment.theta) < 0.05
    assert abs(adjustment.variance_reduction(0, 1)) < 0.01


def test_cuped_needs_covariate_sums_on_every_arm():
    rng = np.random.default_rng(9)
    xa, ya = world(rng, 50, 0.0)
    with pytest.raises(ValueError, match="pre"):
        cuped_adjust([arm("a", xa, ya), VariantSums("b", 50, 10.0, 30.0)], "mean")
