"""experiment_compare: the results contract, the adjustments it applies, and the verdict's words."""

import math

import numpy as np
import pytest

from personalization.engine.statistics import (
    PreExposureSums,
    VariantSums,
    beta_bernoulli,
    experiment_compare,
    holm,
    proportions_test,
)

CONTRACT_COMPARISON = {
    "variant",
    "control",
    "lift",
    "lift_ci95",
    "p_value",
    "sequential_ci95",
    "chance_to_beat",
    "expected_loss",
}


def test_contract_keys_and_figures_for_a_rate():
    a, b = VariantSums("A", 10000, 500), VariantSums("B", 10000, 600)
    body = experiment_compare(a, [b], kind="rate").as_contract()

    assert set(body) == {"control", "srm_p_value", "variants", "comparisons", "verdict"}
    assert body["control"] == "A"
    assert [set(v) for v in body["variants"]] == [{"key", "visitors", "conversions", "rate", "ci95"}] * 2
    (comparison,) = body["comparisons"]
    assert set(comparison) == CONTRACT_COMPARISON
    assert comparison["lift"] == pytest.approx(0.2)
    assert comparison["p_value"] == pytest.approx(proportions_test(a, b).p_value)
    assert comparison["chance_to_beat"] == pytest.approx(beta_bernoulli(a, b).chance_to_beat)
    lo, hi = comparison["sequential_ci95"]
    # Being peeking-proof costs width.
    assert lo < comparison["lift_ci95"][0]
    assert hi > comparison["lift_ci95"][1]
    assert body["srm_p_value"] == pytest.approx(1.0)


def test_p_values_are_holm_adjusted_across_variants():
    a = VariantSums("A", 5000, 250)
    others = [VariantSums("B", 5000, 300), VariantSums("C", 5000, 260), VariantSums("D", 5000, 240)]
    results = experiment_compare(a, others, kind="rate")
    raw = [c.p_value_raw for c in results.comparisons]
    assert [c.p_value for c in results.comparisons] == pytest.approx(list(holm(raw)))
    bh = experiment_compare(a, others, kind="rate", correction="bh")
    assert bh.comparisons[0].p_value <= results.comparisons[0].p_value


def test_ahead_verdict_in_plain_words():
    results = experiment_compare(
        VariantSums("a", 40000, 2000),
        [VariantSums("b", 40000, 2300)],
        kind="rate",
        names={"a": "Banner A", "b": "Banner B"},
        tuning=80000,
    )
    assert results.verdict.startswith("Banner B is ahead: +15 % (±")
    assert "chance to beat Banner A" in results.verdict


def test_behind_and_undecided_verdicts():
    behind = experiment_compare(VariantSums("a", 40000, 2300), [VariantSums("b", 40000, 2000)], kind="rate")
    assert behind.verdict.startswith("b is behind: -13 % (±")
    close = experiment_compare(VariantSums("a", 2000, 100), [VariantSums("b", 2000, 104)], kind="rate")
    assert close.verdict.startswith("No clear difference yet between b and a: +4.0 % (±")


def test_minimum_sample_is_counted_down_in_days():
    results = experiment_compare(
        VariantSums("a", 2000, 100),
        [VariantSums("b", 2000, 104)],
        kind="rate",
        minimum_sample=5000,
        visitors_per_day=700,
    )
    assert results.verdict.endswith("the minimum sample is reached in about 5 days.")


def test_sample_ratio_mismatch_is_said_first_and_loudly():
    results = experiment_compare(VariantSums("a", 10400, 520), [VariantSums("b", 9600, 480)], kind="rate")
    assert results.srm is not None
    assert results.srm.mismatch
    assert results.verdict.startswith("Do not trust these results: visitors split 10,400 / 9,600")
    # The configured split is what counts: 52/48 on purpose is no mismatch.
    planned = experiment_compare(
        VariantSums("a", 10400, 520), [VariantSums("b", 9600, 480)], kind="rate", expected_split={"a": 52, "b": 48}
    )
    assert planned.srm is not None
    assert not planned.srm.mismatch
    assert not planned.verdict.startswith("Do not trust")


def test_no_visitors_yet_gives_nulls_and_says_so():
    body = experiment_compare(VariantSums("a", 0, 0), [VariantSums("b", 0, 0)], kind="rate").as_contract()
    assert body["srm_p_value"] is None
    assert body["comparisons"][0]["lift"] is None
    assert body["comparisons"][0]["p_value"] is None
    assert body["verdict"].startswith("Not enough data yet")


def test_control_without_conversions_has_no_lift_but_a_chance():
    results = experiment_compare(VariantSums("a", 300, 0), [VariantSums("b", 300, 6)], kind="rate")
    comparison = results.comparisons[0]
    assert comparison.lift is None
    assert comparison.sequential_ci95 is None
    assert comparison.chance_to_beat is not None
    assert comparison.chance_to_beat > 0.95
    assert "no conversions" in results.verdict


def test_mean_metric_with_cuped_narrows_the_interval():
    rng = np.random.default_rng(12)

    def arm(key, effect):
        x = rng.gamma(2.0, 5.0, size=4000)
        y = 0.9 * x + effect + rng.normal(0, 3.0, size=4000)
        pre = PreExposureSums(float(x.sum()), float((x**2).sum()), float((x * y).sum()))
        return VariantSums(key, 4000, float(y.sum()), float((y**2).sum()), pre)

    a, b = arm("a", 0.0), arm("b", 0.5)
    with_cuped = experiment_compare(a, [b], kind="mean")
    without = experiment_compare(a, [b], kind="mean", cuped=False)
    assert with_cuped.cuped
    assert not without.cuped
    width = lambda r: r.comparisons[0].lift_ci95[1] - r.comparisons[0].lift_ci95[0]  # noqa: E731
    assert width(with_cuped) < 0.5 * width(without)
    assert with_cuped.comparisons[0].cuped_variance_reduction > 0.7
    assert math.isfinite(with_cuped.comparisons[0].expected_loss)


def test_argument_errors_name_the_argument():
    a = VariantSums("a", 10, 1)
    with pytest.raises(ValueError, match="^variants"):
        experiment_compare(a, [], kind="rate")
    with pytest.raises(ValueError, match="^variants: keys"):
        experiment_compare(a, [VariantSums("a", 10, 2)], kind="rate")
    with pytest.raises(ValueError, match="^expected_split"):
        experiment_compare(a, [VariantSums("b", 10, 2)], kind="rate", expected_split={"a": 1})
    with pytest.raises(ValueError, match="^cuped"):
        experiment_compare(a, [VariantSums("b", 10, 2)], kind="rate", cuped=True)
    with pytest.raises(ValueError, match="^kind"):
        experiment_compare(a, [VariantSums("b", 10, 2)], kind="median")  # type: ignore[arg-type]
